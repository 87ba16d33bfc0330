//! Scheduler and clocks: the timer heap that fires script timers and restarts
//! after a fault, and the epoch ticker (the clock of every event's CPU-budget
//! deadline and of `timers.now-ms`).
//!
//! The scheduler thread reaches scripts only through the script table and the
//! run queue: a due job becomes an event delivered to its script. Extensions'
//! timers (`timers.set-timer` from a `domain-extension` instance) are kept in
//! the same heap and handed, when due, to the [`ExtensionTimers`] the
//! extension runtime registers.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use uuid::Uuid;

use crate::limits::EPOCH_TICK;
use crate::run_queue::RunQueue;
use crate::script::{Event, RunState, Script};
use crate::stop::StopFlag;
use crate::table::ScriptTable;

/// How often the idle scheduler looks at the stop flag.
const IDLE_POLL: Duration = Duration::from_millis(200);

enum Job {
    Timer {
        script: Uuid,
        generation: u64,
        interval_ms: u32,
    },
    Restart {
        script: Uuid,
    },
    ExtensionTimer {
        extension: Uuid,
        generation: u64,
        interval_ms: u32,
    },
}

/// Where due extension timers go (the extension runtime).
pub trait ExtensionTimers: Send + Sync {
    /// The timer of `extension` set with `generation` is due: deliver
    /// `on-timer` (merged with one still pending). False when that timer is
    /// gone (cancelled, replaced, the extension stopped or removed): it is
    /// not scheduled again.
    fn fire(&self, extension: Uuid, generation: u64) -> bool;
}

struct Entry {
    at: Instant,
    seq: u64,
    job: Job,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// Jobs due at a time: timer ticks and restarts.
#[derive(Default)]
pub struct Scheduler {
    heap: Mutex<BinaryHeap<Reverse<Entry>>>,
    changed: Condvar,
    seq: AtomicU64,
    /// The extension runtime, once started (weak: it holds the scheduler).
    extensions: OnceLock<Weak<dyn ExtensionTimers>>,
}

impl Scheduler {
    fn add(&self, at: Instant, job: Job) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        self.heap.lock().push(Reverse(Entry { at, seq, job }));
        self.changed.notify_one();
    }

    /// The script's repeating timer, first due one interval from now; a tick
    /// whose `generation` is no longer the timer's is dropped.
    pub fn timer(&self, script: &Script, interval_ms: u32, generation: u64) {
        let at = Instant::now() + Duration::from_millis(u64::from(interval_ms));
        self.add(
            at,
            Job::Timer {
                script: script.info().id,
                generation,
                interval_ms,
            },
        );
    }

    /// An extension's repeating timer, first due one interval from now; the
    /// extension runtime drops ticks of a replaced `generation`.
    pub fn extension_timer(&self, extension: Uuid, interval_ms: u32, generation: u64) {
        let at = Instant::now() + Duration::from_millis(u64::from(interval_ms));
        self.add(
            at,
            Job::ExtensionTimer {
                extension,
                generation,
                interval_ms,
            },
        );
    }

    /// Where due extension timers go; the first registration stays.
    pub fn set_extension_timers(&self, target: Weak<dyn ExtensionTimers>) {
        if self.extensions.set(target).is_err() {
            tracing::warn!("a second extension runtime on one scheduler; its timers go to the first");
        }
    }

    /// Start the script again after `delay_ms`, if it is still running then.
    pub fn restart(&self, script: Uuid, delay_ms: u64) {
        self.add(Instant::now() + Duration::from_millis(delay_ms), Job::Restart { script });
    }

    /// Wake the scheduler thread (shutdown).
    pub fn wake(&self) {
        self.changed.notify_all();
    }

    /// The scheduler thread: fire due timers and restarts until `stop`.
    pub fn run(&self, scripts: &ScriptTable, run_queue: &RunQueue, stop: &StopFlag) {
        loop {
            let job = {
                let mut heap = self.heap.lock();
                loop {
                    if stop.is_set() {
                        return;
                    }
                    let now = Instant::now();
                    match heap.peek() {
                        Some(Reverse(e)) if e.at <= now => break heap.pop().map(|Reverse(e)| e),
                        Some(Reverse(e)) => {
                            let wait = (e.at - now).min(IDLE_POLL);
                            self.changed.wait_for(&mut heap, wait);
                        }
                        None => {
                            self.changed.wait_for(&mut heap, IDLE_POLL);
                        }
                    }
                }
            };
            if let Some(entry) = job {
                self.fire(scripts, run_queue, entry);
            }
        }
    }

    fn fire(&self, scripts: &ScriptTable, run_queue: &RunQueue, entry: Entry) {
        match entry.job {
            Job::ExtensionTimer {
                extension,
                generation,
                interval_ms,
            } => {
                let Some(target) = self.extensions.get().and_then(Weak::upgrade) else { return };
                if !target.fire(extension, generation) {
                    return;
                }
                let period = Duration::from_millis(u64::from(interval_ms));
                let next = (entry.at + period).max(Instant::now());
                self.add(
                    next,
                    Job::ExtensionTimer {
                        extension,
                        generation,
                        interval_ms,
                    },
                );
            }
            Job::Restart { script } => {
                if let Some(s) = scripts.get(script) {
                    if s.state() == RunState::Running {
                        run_queue.deliver(&s, Event::Start);
                    }
                }
            }
            Job::Timer {
                script,
                generation,
                interval_ms,
            } => {
                let Some(s) = scripts.get(script) else { return };
                if s.timer.lock().generation != generation || s.state() != RunState::Running {
                    return;
                }
                // Ticks that find a tick still queued merge into it.
                if !s.timer_pending.swap(true, Ordering::AcqRel) && !run_queue.deliver(&s, Event::Timer) {
                    s.timer_pending.store(false, Ordering::Release);
                }
                let period = Duration::from_millis(u64::from(interval_ms));
                let next = (entry.at + period).max(Instant::now());
                self.add(
                    next,
                    Job::Timer {
                        script,
                        generation,
                        interval_ms,
                    },
                );
            }
        }
    }
}

/// Ticks while no guest code has run for [`IDLE_AFTER`]: ten times slower
/// than [`EPOCH_TICK`], so an idle host does not wake a thousand times a
/// second.
pub const IDLE_TICK: Duration = Duration::from_millis(10);
/// How long after the last sign of guest code (an event beginning, a
/// budget check) the ticker slows down. A running guest passes a budget
/// check at least every [`crate::limits::INTERRUPT_CHECK_TICKS`] ticks, far
/// sooner, so the ticker never slows under running wasm.
pub const IDLE_AFTER: Duration = Duration::from_millis(100);

/// The clock the guests see and the pace of the epoch ticker.
///
/// `timers.now-ms` reads [`EpochClock::now_ms`] (an atomic load). Guest
/// code announces itself through [`EpochClock::touch`] (every event's
/// start and every epoch-deadline check): the ticker runs at [`EPOCH_TICK`]
/// while guests run and slows to [`IDLE_TICK`] [`IDLE_AFTER`] after the last
/// one. A touch while slow refreshes the clock and wakes the ticker at once,
/// so an event never starts on a stale clock or a slow epoch. The one case
/// the slow pace reaches is a guest returning from a host call that took
/// longer than [`IDLE_AFTER`]: its next budget check comes after at most
/// [`crate::limits::INTERRUPT_CHECK_TICKS`] slow ticks, and the fast pace
/// resumes there.
pub struct EpochClock {
    ms: AtomicU64,
    origin: Instant,
    /// Nanoseconds from `origin` of the last touch.
    active_at: AtomicU64,
    slow: std::sync::atomic::AtomicBool,
    ticker: OnceLock<std::thread::Thread>,
}

impl Default for EpochClock {
    fn default() -> Self {
        EpochClock {
            ms: AtomicU64::new(crate::script::now_ms()),
            origin: Instant::now(),
            active_at: AtomicU64::new(0),
            slow: std::sync::atomic::AtomicBool::new(false),
            ticker: OnceLock::new(),
        }
    }
}

impl EpochClock {
    /// Unix milliseconds, at most one tick old while guests run.
    pub fn now_ms(&self) -> u64 {
        self.ms.load(Ordering::Relaxed)
    }

    /// Guest code runs (or is about to) at `now`.
    pub fn touch(&self, now: Instant) {
        let at = now.saturating_duration_since(self.origin).as_nanos() as u64;
        self.active_at.store(at, Ordering::SeqCst);
        if self.slow.load(Ordering::SeqCst) && self.slow.swap(false, Ordering::SeqCst) {
            self.ms.store(crate::script::now_ms(), Ordering::Relaxed);
            if let Some(ticker) = self.ticker.get() {
                ticker.unpark();
            }
        }
    }

    /// Whether the ticker runs at the slow pace (for tests and metrics).
    pub fn is_slow(&self) -> bool {
        self.slow.load(Ordering::Relaxed)
    }

    fn quiet_for(&self, now: Instant) -> Duration {
        let at = Duration::from_nanos(self.active_at.load(Ordering::SeqCst));
        now.saturating_duration_since(self.origin).saturating_sub(at)
    }
}

/// Epoch ticker: advances the engine's epoch, the clock of every event's
/// CPU-budget deadline, and refreshes the guests' clock, every
/// [`EPOCH_TICK`] while guests run and every [`IDLE_TICK`] otherwise (see
/// [`EpochClock`]). Ticks are scheduled on absolute times, so sleep
/// overshoot does not accumulate into a slow epoch.
pub fn run_epoch_ticker(engine: &wasmtime::Engine, clock: &Arc<EpochClock>, stop: &StopFlag) {
    let _ = clock.ticker.set(std::thread::current());
    let mut next = Instant::now() + EPOCH_TICK;
    while !stop.is_set() {
        let now = Instant::now();
        if next > now {
            // Parked rather than slept: a touch wakes a slow ticker at once.
            std::thread::park_timeout(next - now);
            if clock.is_slow() && Instant::now() < next {
                continue;
            }
        }
        engine.increment_epoch();
        clock.ms.store(crate::script::now_ms(), Ordering::Relaxed);
        let now = Instant::now();
        if !clock.is_slow() && clock.quiet_for(now) >= IDLE_AFTER {
            clock.slow.store(true, Ordering::SeqCst);
            // A touch between the look and the store saw the pace still
            // fast and woke nobody: look again after the store.
            if clock.quiet_for(Instant::now()) < IDLE_AFTER {
                clock.slow.store(false, Ordering::SeqCst);
            }
        }
        let tick = if clock.is_slow() { IDLE_TICK } else { EPOCH_TICK };
        // After a long stall, carry on from now rather than tick in a burst.
        next = (next + tick).max(now);
        if !clock.is_slow() {
            next = next.min(now + EPOCH_TICK);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_for(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if check() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        false
    }

    /// An idle ticker slows down; a touch (an event beginning) brings the
    /// fast pace back at once, with a fresh clock, and a guest that keeps
    /// touching keeps it fast.
    #[test]
    fn the_ticker_slows_when_no_guest_runs_and_a_touch_wakes_it() {
        let engine = wasmtime::Engine::new(wasmtime::Config::new().epoch_interruption(true)).expect("engine");
        let clock = Arc::new(EpochClock::default());
        let stop = StopFlag::default();
        let (e, c, s) = (engine.clone(), clock.clone(), stop.clone());
        let ticker = std::thread::spawn(move || run_epoch_ticker(&e, &c, &s));
        assert!(wait_for(Duration::from_secs(5), || clock.is_slow()), "the ticker never slowed down");
        // Slow: far fewer than one tick a millisecond.
        let before = clock.now_ms();
        std::thread::sleep(Duration::from_millis(60));
        assert!(clock.is_slow());
        assert!(clock.now_ms() >= before);
        // A touch: fast again at once and the clock read fresh.
        clock.ms.store(0, Ordering::Relaxed);
        clock.touch(Instant::now());
        assert!(!clock.is_slow());
        assert!(clock.now_ms() > 0, "a touch refreshes the clock before the guest reads it");
        // Touching every few ms (what budget checks do) keeps it fast well past IDLE_AFTER.
        let until = Instant::now() + IDLE_AFTER * 3;
        while Instant::now() < until {
            clock.touch(Instant::now());
            assert!(!clock.is_slow(), "slowed under a running guest");
            std::thread::sleep(Duration::from_millis(5));
        }
        stop.set();
        ticker.thread().unpark();
        ticker.join().expect("ticker");
    }
}
