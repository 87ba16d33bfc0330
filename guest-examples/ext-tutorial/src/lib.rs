//! `ext-tutorial`: the extension docs/extensions.md builds step by step. It
//! adds the message domain `Greeter` with one request:
//!
//! `Greeter.Messages.GreetRequest { "Name": "Ada" }` answers
//! `Greeter.Messages.GreetResponse { "Greeting": "Hello, Ada!", "Count": 3 }`,
//! where `Count` is how many greetings this region has had so far, kept in the
//! extension's storage (one key per region) so it survives restarts.
//!
//! Grants: `storage`.

// The export glue wit-bindgen generates for `handle`'s string results hands
// their buffers to the host with `mem::forget` (the host frees them through
// `cabi_post_handle`), which the workspace's `mem_forget` lint flags.
#![allow(clippy::mem_forget, reason = "wit-bindgen's export glue for string results")]

wit_bindgen::generate!({
    world: "domain-extension",
    path: "../../wit",
});

use exports::opensim::dispatcher::domain::{DomainDescription, Guest, MessageType, Reply, Request};
use opensim::dispatcher::log::{log, Level};
use opensim::dispatcher::storage;
use serde_json::{json, Value};

const GREET: &str = "Greeter.Messages.GreetRequest";
const GREETED: &str = "Greeter.Messages.GreetResponse";
const MAX_NAME_CHARS: usize = 64;

struct Greeter;

impl Guest for Greeter {
    fn describe() -> DomainDescription {
        DomainDescription {
            name: "Greeter".into(),
            version: "1.0.0".into(),
            message_types: vec![MessageType {
                request_type: GREET.into(),
                reply_type: GREETED.into(),
                request_default: json!({ "Name": "" }).to_string(),
                reply_default: json!({ "Greeting": "", "Count": 0 }).to_string(),
            }],
        }
    }

    fn handle(request: Request) -> Result<Reply, String> {
        if request.message_type != GREET {
            return Err(format!("Greeter does not serve {}", request.message_type));
        }
        let body: Value = serde_json::from_str(&request.body).map_err(|e| format!("body is not JSON: {e}"))?;
        // An empty or missing Name greets the caller by their own name.
        let name = match body.get("Name").and_then(Value::as_str) {
            Some(name) if !name.trim().is_empty() => name.trim().to_owned(),
            _ => request.caller.first_name.clone(),
        };
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(format!("Name is longer than {MAX_NAME_CHARS} characters"));
        }
        let count = bump(&format!("greetings/{}", request.scene))?;
        let reply = json!({ "Greeting": format!("Hello, {name}!"), "Count": count });
        Ok(Reply {
            message_type: GREETED.into(),
            body: reply.to_string(),
        })
    }

    fn on_start(config: String) {
        log(Level::Info, &format!("Greeter ready (config: {config:?})"));
    }

    fn on_timer() {}
}

/// Adds one to the counter stored under `key` and returns the new count.
fn bump(key: &str) -> Result<u64, String> {
    let stored = storage::get(key).map_err(|e| format!("cannot read the count: {e:?}"))?;
    let count = stored
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.parse::<u64>().ok())
        .unwrap_or(0)
        + 1;
    storage::set(key, count.to_string().as_bytes()).map_err(|e| format!("cannot store the count: {e:?}"))?;
    Ok(count)
}

export!(Greeter);
