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

/// Epoch ticker: advances the engine's epoch every [`EPOCH_TICK`], the clock
/// of every event's CPU-budget deadline, and refreshes `clock_ms` (Unix
/// milliseconds, what `timers.now-ms` reads). Ticks are scheduled on absolute
/// times, so sleep overshoot does not accumulate into a slow epoch.
pub fn run_epoch_ticker(engine: &wasmtime::Engine, clock_ms: &Arc<AtomicU64>, stop: &StopFlag) {
    let mut next = Instant::now() + EPOCH_TICK;
    while !stop.is_set() {
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        engine.increment_epoch();
        clock_ms.store(crate::script::now_ms(), Ordering::Relaxed);
        // After a long stall, carry on from now rather than tick in a burst.
        next = (next + EPOCH_TICK).max(Instant::now());
    }
}
