//! `chaos`: misbehaves on command, so the host's limit tests have a culprit.
//! Every command that does not return is meant to be stopped by the host with
//! a named fault while the host, other scripts and clients carry on
//! (scripting spec §1.3).
//!
//! The command is the start parameter (empty = `ok`) or the text of a message
//! (`objects.message` / `MessageObjectRequest`):
//!
//! | command | does | the host should answer with |
//! | --- | --- | --- |
//! | `ok` | nothing | — |
//! | `spin` | loops for ever without host calls | `timeout` (`out-of-fuel` with a fuel limit) |
//! | `alloc` | allocates 1 MiB blocks without end | `out-of-memory` |
//! | `recurse` | unbounded recursion on the wasm stack | `stack-overflow` |
//! | `trap` | executes `unreachable` | `trap` |
//! | `panic` | a Rust panic (prints, then traps) | `trap` |
//! | `flood-calls` | calls `objects.get-position` in a tight loop, for ever | `host-call-limit` |
//! | `flood-chat` | says on channel 0 in a tight loop, ignoring errors, for ever | `rate-limited` replies, then `host-call-limit` |
//! | `flood-chat-polite` | says until the first error, then logs the count and returns | `rate-limited` |
//! | `flood-log` | logs in a tight loop, for ever | dropped lines, then `host-call-limit` |
//! | `timer-1ms` | `set-timer(1)`, logs every tick | the interval raised to the minimum |
//! | `timer-off` | `set-timer(0)` | — |
//! | `time-calls <n>` | times `n` calls of `timers.now-ms` (a bare typed crossing) and `n` of `objects.get-position` on its own object, logs ns per call | — (the benchmark reads the log) |
//!
//! Grants: `objects:read` and `chat` make the floods reach the host's
//! handlers; without them they are floods of `not-permitted` answers, which
//! must be throttled just the same.

wit_bindgen::generate!({
    world: "region-script",
    path: "../../wit",
});

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use exports::opensim::dispatcher::handlers::{
    ChatEvent, Guest, MessageEvent, TouchEvent, UpdatedEvent,
};
use opensim::dispatcher::log::{log, Level};
use opensim::dispatcher::self_ as script;
use opensim::dispatcher::{chat, objects, timers};

static TICKS: AtomicU64 = AtomicU64::new(0);

/// `black_box` hides the counter from the optimiser, which could otherwise
/// prove the loop has no effect; we want the CPU really burnt.
fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

/// Keeps every block reachable and written, so neither the optimiser nor a
/// lazy allocator can skip the memory growth.
fn alloc() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![0xA5; 1 << 20]);
        black_box(&mut hoard);
    }
}

/// Recursion whose frames live on the wasm (engine) stack: only scalars, no
/// address-taken locals, so it exhausts the engine's stack limit rather than
/// Rust's shadow stack in linear memory (which would end as a memory fault).
/// The result is combined with a non-associative operation after the call so
/// the compiler can neither turn it into a loop nor drop the frames. The
/// unreachable-in-practice base case keeps the function formally returning.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    if depth == u64::MAX {
        return depth;
    }
    let below = recurse(depth + 1);
    below.rotate_left(7) ^ depth.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn trap() -> ! {
    core::arch::wasm32::unreachable()
}

fn flood_calls() -> ! {
    let me = script::object_id();
    loop {
        // Errors are ignored on purpose: the point is the call rate.
        let _ = black_box(objects::get_position(&me));
    }
}

fn flood_chat() -> ! {
    let mut n: u64 = 0;
    loop {
        let _ = chat::say(0, &format!("chaos flood {n}"));
        n += 1;
    }
}

fn flood_chat_polite() {
    let mut n: u64 = 0;
    loop {
        if let Err(e) = chat::say(0, &format!("chaos flood {n}")) {
            log(
                Level::Info,
                &format!("flood-chat-polite: {n} lines, then {e:?}"),
            );
            return;
        }
        n += 1;
    }
}

fn flood_log() -> ! {
    let mut n: u64 = 0;
    loop {
        log(Level::Debug, &format!("chaos log flood {n}"));
        n += 1;
    }
}

/// Guest-side timing of host calls, for the scripting benchmark: the cost a
/// guest actually sees per call, loop included.
fn time_calls(n: u64) {
    let me = script::object_id();
    let started = std::time::Instant::now();
    for _ in 0..n {
        black_box(timers::now_ms());
    }
    let crossing = started.elapsed();
    let started = std::time::Instant::now();
    let mut ok = 0u64;
    for _ in 0..n {
        if black_box(objects::get_position(&me)).is_ok() {
            ok += 1;
        }
    }
    let full = started.elapsed();
    let per = |d: std::time::Duration| d.as_nanos() as f64 / n.max(1) as f64;
    log(
        Level::Info,
        &format!(
            "time-calls: now-ms {:.1} ns/call; get-position {:.1} ns/call ({ok} of {n} ok)",
            per(crossing),
            per(full)
        ),
    );
}

fn run(command: &str) {
    let command = command.trim();
    log(
        Level::Info,
        &format!("chaos: {}", if command.is_empty() { "ok" } else { command }),
    );
    match command {
        "" | "ok" => {}
        "spin" => spin(),
        "alloc" => alloc(),
        "recurse" => {
            let r = recurse(black_box(0));
            log(Level::Error, &format!("recursion ended?! {r}"));
        }
        "trap" => trap(),
        "panic" => panic!("chaos: panic on command"),
        "flood-calls" => flood_calls(),
        "flood-chat" => flood_chat(),
        "flood-chat-polite" => flood_chat_polite(),
        "flood-log" => flood_log(),
        "timer-1ms" | "timer-off" => {
            let wanted = if command == "timer-off" { 0 } else { 1 };
            match timers::set_timer(wanted) {
                Ok(ms) => log(
                    Level::Info,
                    &format!("timer asked {wanted} ms, got {ms} ms"),
                ),
                Err(e) => log(Level::Error, &format!("set-timer: {e:?}")),
            }
        }
        other => match other.strip_prefix("time-calls").map(|n| n.trim().parse::<u64>()) {
            Some(Ok(n)) => time_calls(n),
            _ => log(Level::Warn, &format!("chaos: unknown command {other:?}")),
        },
    }
}

struct Chaos;

impl Guest for Chaos {
    fn on_start(start_parameter: String) {
        run(&start_parameter);
    }

    fn on_message(event: MessageEvent) {
        run(&event.text);
    }

    fn on_timer() {
        let n = TICKS.fetch_add(1, Ordering::Relaxed) + 1;
        log(Level::Info, &format!("tick {n}"));
    }

    fn on_touch(_event: TouchEvent) {}
    fn on_chat(_event: ChatEvent) {}
    fn on_updated(_event: UpdatedEvent) {}
}

export!(Chaos);
