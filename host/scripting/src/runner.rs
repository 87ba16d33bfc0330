//! Runners: the bounded pool of threads that run scripts' events, plus the
//! express runner that takes only light scripts.
//!
//! Invariants: a script's instance runs on at most one runner at a time (its
//! `live` lock); a runner handles at most `events_per_turn` events of one
//! script before moving on, and every event is bounded by its CPU budget (an
//! epoch deadline), so one busy script delays others by at most one turn.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::cpu_clock::{thread_cpu_time, TurnClock};
use crate::fault::Fault;
use crate::instance::{self, CallContext};
use crate::lifecycle::{Lifecycle, PendingSwap, SwapOutcome};
use crate::run_queue::RunQueue;
use crate::script::{Event, Instance, RunState, Script};
use crate::stop::StopFlag;

/// A turn that used at least this much (the runner thread's CPU time plus
/// time in blocking waits, instantiation included; not time preempted, not
/// host calls) marks its script heavy; a lighter one marks it light again.
const LIGHT_EVENT: Duration = Duration::from_millis(5);

/// What a runner reaches: the run queue, the lifecycle (components to
/// instantiate, faults), and what its instances' host calls reach.
pub struct Runner {
    pub run_queue: Arc<RunQueue>,
    pub lifecycle: Arc<Lifecycle>,
    pub calls: Arc<CallContext>,
    pub stop: StopFlag,
    /// `EventsPerTurn`.
    pub events_per_turn: usize,
}

impl Runner {
    /// The runner thread: take a script, handle a turn of its events, put it
    /// back if needed. A script with more events goes to the back of the run
    /// queue when other scripts are waiting, and simply keeps its runner when
    /// none are (no hand-over between runners, no wake-up). The express runner
    /// takes only light scripts.
    pub fn run(&self, express: bool) {
        let mut batch = Vec::with_capacity(self.events_per_turn.max(1));
        while let Some(script) = self.run_queue.take(express) {
            loop {
                self.run_turn(&script, &mut batch);
                if has_work(&script) {
                    if self.run_queue.keep_or_requeue(&script, express) {
                        continue;
                    }
                    break;
                }
                script.scheduled.store(false, Ordering::Release);
                // An event delivered between the check and the store found the
                // script still scheduled and did not queue it: look once more.
                if has_work(&script) && !script.scheduled.swap(true, Ordering::AcqRel) {
                    continue;
                }
                break;
            }
        }
    }

    /// The host interrupted the script since `generation` was read.
    fn interrupted(&self, script: &Script, generation: u64) -> bool {
        script.kill_generation() != generation || self.stop.is_set()
    }

    /// One turn: up to `events_per_turn` events of one script, taken from its
    /// queue under one lock.
    fn run_turn(&self, script: &Arc<Script>, batch: &mut Vec<Event>) {
        let turn = TurnClock::now();
        let mut usage = TurnUsage::default();
        self.run_events(script, batch, turn, &mut usage);
        // One clock reading per turn (a system call), not per event.
        let used = thread_cpu_time().saturating_sub(turn.cpu()) + usage.blocked;
        script.heavy.store(usage.faulted || used >= LIGHT_EVENT, Ordering::Relaxed);
    }

    fn run_events(&self, script: &Arc<Script>, batch: &mut Vec<Event>, turn: TurnClock, usage: &mut TurnUsage) {
        let mut live = script.live.lock();
        {
            let mut queue = script.queue.lock();
            let n = queue.len().min(self.events_per_turn.max(1));
            batch.extend(queue.drain(..n));
        }
        let mut events = batch.drain(..);
        loop {
            if script.control.lock().removed {
                *live = None;
                script.queue.lock().clear();
                return;
            }
            if script.overflowed.swap(false, Ordering::Relaxed) {
                script.counters.dropped_since_handled.store(0, Ordering::Relaxed);
                *live = None;
                usage.faulted = true;
                self.lifecycle.on_fault(script, Fault::EventQueueOverflow);
                return;
            }
            let Some(event) = events.next() else {
                return;
            };
            let running = script.state() == RunState::Running;
            match event {
                Event::Unload => {
                    *live = None;
                    continue;
                }
                Event::Swap => {
                    if let Some(swap) = self.lifecycle.take_swap(script.id()) {
                        self.swap(script, &mut live, swap, turn, usage);
                    }
                    continue;
                }
                Event::Start if running => {
                    // Every start is a fresh instance: reset, restart after a fault
                    // and host restart all begin from the component's initial state.
                    *live = None;
                    let compiled = match self.lifecycle.compiled_for(script) {
                        Ok(c) => c,
                        Err(e) => {
                            self.lifecycle.log(script, "error", &format!("cannot load the component: {e}"));
                            self.lifecycle.on_fault(script, Fault::Trap);
                            return;
                        }
                    };
                    let generation = script.kill_generation();
                    let instantiated = instance::instantiate(&self.calls, script, &compiled.pre, turn);
                    usage.faulted |= instantiated.is_err();
                    match instantiated {
                        Ok(l) => *live = Some(Box::new(l)),
                        Err(_) if self.interrupted(script, generation) => continue,
                        Err(fault) => {
                            self.lifecycle.on_fault(script, fault);
                            return;
                        }
                    }
                }
                _ if !running => continue,
                _ => {}
            }
            let Some(instance) = live.as_mut() else {
                continue;
            };
            let generation = script.kill_generation();
            let outcome = instance.run(event, turn);
            usage.blocked += instance.blocked();
            usage.faulted |= outcome.is_err();
            match outcome {
                Ok(()) => {
                    script.counters.events_handled.fetch_add(1, Ordering::Relaxed);
                    script.counters.dropped_since_handled.store(0, Ordering::Relaxed);
                }
                Err(_) if self.interrupted(script, generation) => {
                    // Stopped, removed, reset or shut down mid-event: the
                    // instance is dropped, and it is not the script's fault.
                    *live = None;
                }
                Err(fault) => {
                    *live = None;
                    self.lifecycle.on_fault(script, fault);
                    return;
                }
            }
        }
    }
}

impl Runner {
    /// A hot swap, between two events: instantiate the new component and run
    /// its `on-start`; the events still queued then go to it. When `on-start`
    /// faults (or is interrupted), or the new component cannot be stored, the
    /// previous info, instance, listeners and timer come back. A script that
    /// is not running only takes the new component.
    fn swap(&self, script: &Arc<Script>, live: &mut Option<Box<dyn Instance>>, swap: PendingSwap, turn: TurnClock, usage: &mut TurnUsage) {
        let old = script.info();
        if script.state() != RunState::Running {
            script.set_info(swap.info.clone());
            *live = None;
            self.lifecycle.finish_swap(script, &old, swap);
            return;
        }
        let previous = live.take();
        let activity = script.activity();
        script.clear_listeners_and_timer();
        script.set_info(swap.info.clone());
        let generation = script.kill_generation();
        let started = instance::instantiate(&self.calls, script, &swap.compiled.pre, turn).and_then(|mut l| {
            let outcome = l.run(Event::Start, turn);
            usage.blocked += l.blocked();
            outcome.map(|()| l)
        });
        match started {
            Ok(l) => {
                *live = Some(Box::new(l));
                script.counters.events_handled.fetch_add(1, Ordering::Relaxed);
                if self.lifecycle.finish_swap(script, &old, swap) == SwapOutcome::Swapped {
                    return;
                }
            }
            Err(fault) => {
                usage.faulted = true;
                let reason = if self.interrupted(script, generation) {
                    "interrupted in on-start".to_owned()
                } else {
                    format!("on-start faulted ({})", fault.as_str())
                };
                self.lifecycle.roll_back_swap(script, old, swap, &reason);
            }
        }
        *live = previous;
        self.restore_activity(script, activity);
    }

    /// Put back listeners and the timer saved before a swap that failed.
    fn restore_activity(&self, script: &Script, (listening, interval_ms): (BTreeSet<i32>, u32)) {
        script.clear_listeners_and_timer();
        *script.listening.lock() = listening;
        if interval_ms > 0 {
            let generation = {
                let mut timer = script.timer.lock();
                timer.interval_ms = interval_ms;
                timer.generation
            };
            self.calls.schedule_timer(script, interval_ms, generation);
        }
    }
}

fn has_work(script: &Script) -> bool {
    !script.queue.lock().is_empty() || script.overflowed.load(Ordering::Relaxed)
}

/// What a turn used beyond the thread's CPU clock, for the light/heavy mark.
#[derive(Default)]
struct TurnUsage {
    blocked: Duration,
    faulted: bool,
}
