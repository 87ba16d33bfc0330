//! `counter`: every touch and every message adds one to a counter kept in the
//! script's persistent storage, logs it and says it on chat channel 0. Because
//! the count lives in `storage`, not in wasm memory, it survives restarts,
//! resets and host restarts: the example the persistence tests use.
//!
//! A message whose text is `reset` sets the counter back to 0.
//!
//! Grants: `storage`, `chat`.

wit_bindgen::generate!({
    world: "region-script",
    path: "../../wit",
});

use exports::opensim::dispatcher::handlers::{ChatEvent, Guest, MessageEvent, TouchEvent, UpdatedEvent};
use opensim::dispatcher::chat;
use opensim::dispatcher::log::{log, Level};
use opensim::dispatcher::storage;
use opensim::dispatcher::types::Error;

const KEY: &str = "count";
const CHANNEL: i32 = 0;

fn read() -> Result<u64, Error> {
    Ok(guest_util::parse_count(storage::get(KEY)?.as_deref()))
}

fn write(count: u64) -> Result<(), Error> {
    storage::set(KEY, count.to_string().as_bytes())
}

/// Read, add, write back. One event runs at a time per script, so there is no
/// lost update between the read and the write.
fn bump(cause: &str) {
    let result = read().and_then(|n| {
        let n = n + 1;
        write(n).map(|()| n)
    });
    match result {
        Ok(n) => {
            log(Level::Info, &format!("count = {n} ({cause})"));
            if let Err(e) = chat::say(CHANNEL, &format!("count: {n}")) {
                log(Level::Warn, &format!("cannot say the count: {e:?}"));
            }
        }
        // Storage errors (quota, missing grant) are logged, and the in-memory
        // state is untouched, so the next event simply tries again.
        Err(e) => log(Level::Error, &format!("cannot count {cause}: {e:?}")),
    }
}

struct Counter;

impl Guest for Counter {
    fn on_start(_start_parameter: String) {
        // Logging the stored value at start is how a test (or an owner) sees
        // that the count outlived the restart.
        match read() {
            Ok(n) => log(Level::Info, &format!("counter started, count = {n}")),
            Err(e) => log(Level::Error, &format!("cannot read the count: {e:?}")),
        }
    }

    fn on_touch(event: TouchEvent) {
        bump(&format!("touch by {}", event.avatar_id));
    }

    fn on_message(event: MessageEvent) {
        if event.text.trim() == "reset" {
            match write(0) {
                Ok(()) => log(Level::Info, "count = 0 (reset)"),
                Err(e) => log(Level::Error, &format!("cannot reset: {e:?}")),
            }
            return;
        }
        bump(&format!("message from {}", event.sender_id));
    }

    fn on_chat(_event: ChatEvent) {}
    fn on_timer() {}
    fn on_updated(_event: UpdatedEvent) {}
}

export!(Counter);
