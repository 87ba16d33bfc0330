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
//! | `sleep-loop` | sleeps 40 ms (a blocking WASI wait) in a loop, for ever | `timeout` (waits are charged to the budget) |
//! | `sleep <ms>` | one sleep of `ms`, then logs `slept <ms> ms` | `timeout` when longer than the budget |
//! | `flood-now` | calls `timers.now-ms` (no rate, no grant) in a loop, for ever | `timeout` |
//! | `ping <object>` | messages `<object>` with `ping <own object>`; a chaos script there answers alike: two scripts messaging each other for ever | the sender's caused-event rate: `rate-limited`, logged as `ping: stopped after <n>` |
//! | `touch-self` | touches its own object through `messages.send`, and again on every touch | as `ping` (`touch-self: stopped after <n>`) |
//! | `flood-assets` | `assets.get-from-object` on its own object in a tight loop, for ever | the asset rate, then `host-call-limit` |
//! | `flood-storage <n>` | `n` tiny `storage.set` calls in one event, then logs `flood-storage: <n> writes` | the storage write rate and the budget (`timeout` or `host-call-limit`) |
//! | `time-calls <n>` | times `n` calls of `timers.now-ms` (a bare typed crossing) and `n` of `objects.get-position` on its own object, logs ns per call | — (the benchmark reads the log) |
//!
//! Grants: `objects:read` and `chat` make the floods reach the host's
//! handlers (`objects:write` for `ping` and `touch-self`, `assets:write` for
//! `flood-assets`, `storage` for `flood-storage`); without them they are floods of `not-permitted` answers, which
//! must be throttled just the same.

wit_bindgen::generate!({
    world: "region-script",
    path: "../../wit",
});

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use exports::opensim::dispatcher::handlers::{ChatEvent, Guest, MessageEvent, TouchEvent, UpdatedEvent};
use opensim::dispatcher::log::{log, Level};
use opensim::dispatcher::self_ as script;
use opensim::dispatcher::{assets, chat, messages, objects, storage, timers};

static TICKS: AtomicU64 = AtomicU64::new(0);
/// Events of the `ping` and `touch-self` loops handled by this instance.
static LOOPS: AtomicU64 = AtomicU64::new(0);

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
            log(Level::Info, &format!("flood-chat-polite: {n} lines, then {e:?}"));
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

fn sleep_loop() -> ! {
    loop {
        std::thread::sleep(std::time::Duration::from_millis(40));
    }
}

fn flood_now() -> ! {
    loop {
        black_box(timers::now_ms());
    }
}

/// One step of a loop between scripts; on an error (the host's throttle) the
/// loop ends and says after how many steps.
fn loop_step(name: &str, step: Result<(), opensim::dispatcher::types::Error>) {
    let n = LOOPS.fetch_add(1, Ordering::Relaxed) + 1;
    if let Err(e) = step {
        log(Level::Info, &format!("{name}: stopped after {n}: {e:?}"));
    }
}

fn ping(target: &str) {
    let me = script::object_id();
    loop_step("ping", objects::message(target, &format!("ping {me}")));
}

fn touch_self() {
    let request = format!(
        r#"{{"$type":"RemoteControl.Messages.TouchObjectRequest","ObjectID":"{}","AvatarID":"{}","LinkNum":0}}"#,
        script::object_id(),
        script::owner_id()
    );
    loop_step("touch-self", messages::send(&request).map(drop));
}

fn flood_assets() -> ! {
    let me = script::object_id();
    loop {
        let _ = black_box(assets::get_from_object(&me));
    }
}

fn flood_storage(n: u64) {
    let mut done = 0u64;
    for i in 0..n {
        if storage::set(&format!("k{}", i % 64), &[1]).is_ok() {
            done += 1;
        }
    }
    log(Level::Info, &format!("flood-storage: {done} writes of {n}"));
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
    log(Level::Info, &format!("chaos: {}", if command.is_empty() { "ok" } else { command }));
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
                Ok(ms) => log(Level::Info, &format!("timer asked {wanted} ms, got {ms} ms")),
                Err(e) => log(Level::Error, &format!("set-timer: {e:?}")),
            }
        }
        "sleep-loop" => sleep_loop(),
        "flood-now" => flood_now(),
        "touch-self" => touch_self(),
        "flood-assets" => flood_assets(),
        other => {
            let (verb, arg) = other.split_once(' ').unwrap_or((other, ""));
            let arg = arg.trim();
            match (verb, arg.parse::<u64>()) {
                ("time-calls", Ok(n)) => time_calls(n),
                ("flood-storage", Ok(n)) => flood_storage(n),
                ("sleep", Ok(ms)) => {
                    std::thread::sleep(std::time::Duration::from_millis(ms));
                    log(Level::Info, &format!("slept {ms} ms"));
                }
                ("ping", _) if !arg.is_empty() => ping(arg),
                _ => log(Level::Warn, &format!("chaos: unknown command {other:?}")),
            }
        }
    }
}

struct Chaos;

impl Guest for Chaos {
    fn on_start(start_parameter: String) {
        run(&start_parameter);
    }

    fn on_message(event: MessageEvent) {
        // The ping loop logs nothing per step (it would flood the log).
        match event.text.strip_prefix("ping ") {
            Some(target) => ping(target.trim()),
            None => run(&event.text),
        }
    }

    fn on_timer() {
        let n = TICKS.fetch_add(1, Ordering::Relaxed) + 1;
        log(Level::Info, &format!("tick {n}"));
    }

    /// Only the `touch-self` loop touches: answer it with the next touch.
    fn on_touch(_event: TouchEvent) {
        if script::start_parameter().trim() == "touch-self" {
            touch_self();
        }
    }
    fn on_chat(_event: ChatEvent) {}
    fn on_updated(_event: UpdatedEvent) {}
}

export!(Chaos);
