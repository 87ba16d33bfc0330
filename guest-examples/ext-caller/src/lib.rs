//! `ext-caller`: a script that calls an extension's domain, the last step of
//! the tutorial in docs/extensions.md. At start (with the start parameter) and
//! for every message sent to its object (`MessageObjectRequest`), it sends
//! `Greeter.Messages.GreetRequest` through `messages.send` and logs the reply.
//!
//! Grants: `ext:Greeter` (the grant that lets a script reach the `Greeter`
//! domain; without it `messages.send` answers `not-permitted`).

wit_bindgen::generate!({
    world: "region-script",
    path: "../../wit",
});

use exports::opensim::dispatcher::handlers::{ChatEvent, Guest, MessageEvent, TouchEvent, UpdatedEvent};
use opensim::dispatcher::log::{log, Level};
use opensim::dispatcher::messages;
use serde_json::{json, Value};

/// Greets `name` through the Greeter extension and logs what came back.
fn greet(name: &str) {
    let request = json!({ "$type": "Greeter.Messages.GreetRequest", "Name": name });
    match messages::send(&request.to_string()) {
        Ok(text) => match serde_json::from_str::<Value>(&text) {
            Ok(reply) if reply["_Success"] == 1 => {
                log(Level::Info, &format!("Greeter says {} (greeting number {})", reply["Greeting"], reply["Count"]))
            }
            Ok(reply) => log(Level::Warn, &format!("Greeter refused: {}", reply["_Message"])),
            Err(e) => log(Level::Error, &format!("reply is not JSON: {e}")),
        },
        // The request never reached the extension: a missing `ext:Greeter`
        // grant, a rate limit, or a request the host could not read.
        Err(e) => log(Level::Error, &format!("cannot call Greeter: {e:?}")),
    }
}

struct Caller;

impl Guest for Caller {
    fn on_start(start_parameter: String) {
        greet(&start_parameter);
    }

    fn on_message(event: MessageEvent) {
        greet(&event.text);
    }

    fn on_touch(_event: TouchEvent) {}
    fn on_chat(_event: ChatEvent) {}
    fn on_timer() {}
    fn on_updated(_event: UpdatedEvent) {}
}

export!(Caller);
