//! {{name}}: ticks every second and logs the count; a touch stops or
//! restarts the timer. Grants: none.

wit_bindgen::generate!({ world: "region-script", path: "wit" });

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use exports::opensim::dispatcher::handlers::{ChatEvent, Guest, MessageEvent, TouchEvent, UpdatedEvent};
use opensim::dispatcher::log::{log, Level};
use opensim::dispatcher::timers;

const INTERVAL_MS: u32 = 1000;
static TICKS: AtomicU64 = AtomicU64::new(0);
static RUNNING: AtomicBool = AtomicBool::new(false);

fn set(interval_ms: u32) {
    match timers::set_timer(interval_ms) {
        Ok(ms) => RUNNING.store(ms > 0, Ordering::Relaxed),
        Err(e) => log(Level::Error, &format!("set-timer: {e:?}")),
    }
}

struct Script;

impl Guest for Script {
    fn on_start(_start_parameter: String) {
        log(Level::Info, "{{name}} started: ticking every second");
        set(INTERVAL_MS);
    }

    fn on_timer() {
        let n = TICKS.fetch_add(1, Ordering::Relaxed) + 1;
        log(Level::Info, &format!("tick {n}"));
    }

    fn on_touch(_event: TouchEvent) {
        let on = RUNNING.load(Ordering::Relaxed);
        set(if on { 0 } else { INTERVAL_MS });
        log(Level::Info, if on { "timer stopped" } else { "timer started" });
    }

    fn on_chat(_event: ChatEvent) {}
    fn on_message(_event: MessageEvent) {}
    fn on_updated(_event: UpdatedEvent) {}
}

export!(Script);
