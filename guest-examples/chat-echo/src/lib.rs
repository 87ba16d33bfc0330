//! `chat-echo`: listens on one channel (the start parameter, default 7) and
//! answers every line heard there with `"echo: <text>"` on the same channel.
//!
//! Grants: `chat`.

wit_bindgen::generate!({
    world: "region-script",
    path: "../../wit",
});

use std::sync::atomic::{AtomicI32, Ordering};

use exports::opensim::dispatcher::handlers::{ChatEvent, Guest, MessageEvent, TouchEvent, UpdatedEvent};
use opensim::dispatcher::chat;
use opensim::dispatcher::log::{log, Level};
use opensim::dispatcher::self_ as script;

const DEFAULT_CHANNEL: i32 = 7;
const PREFIX: &str = "echo: ";

/// The channel chosen at start. Kept so that lines from a channel we no longer
/// listen to (a host that delivers a late event after a restart with another
/// parameter) are not answered.
static CHANNEL: AtomicI32 = AtomicI32::new(DEFAULT_CHANNEL);

struct ChatEcho;

impl Guest for ChatEcho {
    fn on_start(start_parameter: String) {
        let channel = guest_util::word(&start_parameter, 0, DEFAULT_CHANNEL);
        CHANNEL.store(channel, Ordering::Relaxed);
        match chat::listen(channel) {
            Ok(()) => log(Level::Info, &format!("chat-echo listening on channel {channel}")),
            Err(e) => log(Level::Error, &format!("cannot listen on {channel}: {e:?}")),
        }
    }

    fn on_chat(event: ChatEvent) {
        if event.channel != CHANNEL.load(Ordering::Relaxed) {
            return;
        }
        // The host promises a script never hears itself, but two echo scripts
        // on one channel would hear each other for ever; refusing to echo an
        // echo (or our own object) breaks every such loop.
        if event.speaker_id == script::object_id() || event.text.starts_with(PREFIX) {
            return;
        }
        if let Err(e) = chat::say(event.channel, &format!("{PREFIX}{}", event.text)) {
            log(Level::Warn, &format!("cannot answer {}: {e:?}", event.name));
        }
    }

    fn on_touch(_event: TouchEvent) {}
    fn on_timer() {}
    fn on_message(_event: MessageEvent) {}
    fn on_updated(_event: UpdatedEvent) {}
}

export!(ChatEcho);
