//! {{name}}: listens on the channel given as start parameter (default 7) and
//! answers every line heard there. Grants: chat.

wit_bindgen::generate!({ world: "region-script", path: "wit" });

use std::sync::atomic::{AtomicI32, Ordering};

use exports::opensim::dispatcher::handlers::{ChatEvent, Guest, MessageEvent, TouchEvent, UpdatedEvent};
use opensim::dispatcher::chat;
use opensim::dispatcher::log::{log, Level};

static CHANNEL: AtomicI32 = AtomicI32::new(7);

struct Script;

impl Guest for Script {
    fn on_start(start_parameter: String) {
        let channel = start_parameter.trim().parse().unwrap_or(7);
        CHANNEL.store(channel, Ordering::Relaxed);
        match chat::listen(channel) {
            Ok(()) => log(Level::Info, &format!("{{name}} listening on channel {channel}")),
            Err(e) => log(Level::Error, &format!("cannot listen on {channel}: {e:?}")),
        }
    }

    fn on_chat(event: ChatEvent) {
        if event.channel != CHANNEL.load(Ordering::Relaxed) || event.text.starts_with("heard: ") {
            return;
        }
        log(Level::Info, &format!("{} said {:?}", event.name, event.text));
        if let Err(e) = chat::say(event.channel, &format!("heard: {}", event.text)) {
            log(Level::Warn, &format!("cannot answer: {e:?}"));
        }
    }

    fn on_touch(_event: TouchEvent) {}
    fn on_timer() {}
    fn on_message(_event: MessageEvent) {}
    fn on_updated(_event: UpdatedEvent) {}
}

export!(Script);
