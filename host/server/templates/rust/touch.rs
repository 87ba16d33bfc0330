//! {{name}}: logs every touch and says who touched it on chat channel 0.
//! Grants: chat.

wit_bindgen::generate!({ world: "region-script", path: "wit" });

use exports::opensim::dispatcher::handlers::{ChatEvent, Guest, MessageEvent, TouchEvent, UpdatedEvent};
use opensim::dispatcher::chat;
use opensim::dispatcher::log::{log, Level};

struct Script;

impl Guest for Script {
    fn on_start(_start_parameter: String) {
        log(Level::Info, "{{name}} started: touch me");
    }

    fn on_touch(event: TouchEvent) {
        log(Level::Info, &format!("touched by {}", event.avatar_id));
        if let Err(e) = chat::say(0, "Hello, toucher!") {
            log(Level::Warn, &format!("cannot say hello: {e:?}"));
        }
    }

    fn on_chat(_event: ChatEvent) {}
    fn on_timer() {}
    fn on_message(_event: MessageEvent) {}
    fn on_updated(_event: UpdatedEvent) {}
}

export!(Script);
