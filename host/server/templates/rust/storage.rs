//! {{name}}: counts touches and messages in the script's persistent storage,
//! so the count survives restarts, host restarts and updates.
//! Grants: storage.

wit_bindgen::generate!({ world: "region-script", path: "wit" });

use exports::opensim::dispatcher::handlers::{ChatEvent, Guest, MessageEvent, TouchEvent, UpdatedEvent};
use opensim::dispatcher::log::{log, Level};
use opensim::dispatcher::storage;
use opensim::dispatcher::types::Error;

const KEY: &str = "count";

fn read() -> Result<u64, Error> {
    let bytes = storage::get(KEY)?.unwrap_or_default();
    Ok(String::from_utf8_lossy(&bytes).trim().parse().unwrap_or(0))
}

fn bump(cause: &str) {
    let result = read().and_then(|n| storage::set(KEY, (n + 1).to_string().as_bytes()).map(|()| n + 1));
    match result {
        Ok(n) => log(Level::Info, &format!("count = {n} ({cause})")),
        Err(e) => log(Level::Error, &format!("cannot count: {e:?}")),
    }
}

struct Script;

impl Guest for Script {
    fn on_start(_start_parameter: String) {
        match read() {
            Ok(n) => log(Level::Info, &format!("{{name}} started, count = {n}")),
            Err(e) => log(Level::Error, &format!("cannot read the count: {e:?}")),
        }
    }

    fn on_touch(event: TouchEvent) {
        bump(&format!("touch by {}", event.avatar_id));
    }

    fn on_message(event: MessageEvent) {
        bump(&format!("message from {}", event.sender_id));
    }

    fn on_chat(_event: ChatEvent) {}
    fn on_timer() {}
    fn on_updated(_event: UpdatedEvent) {}
}

export!(Script);
