//! The run queue: scripts with events waiting for a runner, fair by owner and
//! then by script, light scripts before heavy ones; and `deliver`, the one way
//! an event reaches a script (its bounded queue, then the run queue).
//!
//! Invariant: a script is in the run queue or on a runner at most once (its
//! `scheduled` flag), so its events run on one runner at a time, in order.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use uuid::Uuid;

use crate::script::{Event, RunState, Script};
use crate::stop::StopFlag;

/// How often a runner waiting for work looks at the stop flag.
const IDLE_POLL: Duration = Duration::from_millis(200);

/// Scripts waiting for a runner, and the events of each script's queue.
pub struct RunQueue {
    queue: Mutex<Queues>,
    ready: Condvar,
    /// `EventQueueLength`: guest events a script may have waiting.
    event_queue_length: usize,
    stop: StopFlag,
}

impl RunQueue {
    pub fn new(event_queue_length: usize, stop: StopFlag) -> RunQueue {
        RunQueue {
            queue: Mutex::new(Queues::default()),
            ready: Condvar::new(),
            event_queue_length,
            stop,
        }
    }

    /// Queue an event; guest events need a running script and room in the queue.
    pub fn deliver(&self, script: &Arc<Script>, event: Event) -> bool {
        let control = event.is_control();
        if !control && script.state() != RunState::Running {
            return false;
        }
        {
            let mut queue = script.queue.lock();
            if !control && queue.len() >= self.event_queue_length {
                drop(queue);
                let counters = &script.counters;
                counters.events_dropped.fetch_add(1, Ordering::Relaxed);
                let since = counters.dropped_since_handled.fetch_add(1, Ordering::Relaxed) + 1;
                if since >= self.event_queue_length as u64 {
                    script.overflowed.store(true, Ordering::Relaxed);
                    self.schedule(script);
                }
                return false;
            }
            queue.push_back(event);
        }
        self.schedule(script);
        true
    }

    /// Queue a control event ahead of every waiting event (a hot swap: it
    /// runs after the event running now, before those queued).
    pub fn deliver_first(&self, script: &Arc<Script>, event: Event) {
        script.queue.lock().push_front(event);
        self.schedule(script);
    }

    fn schedule(&self, script: &Arc<Script>) {
        if !script.scheduled.swap(true, Ordering::AcqRel) {
            self.queue.lock().push_back(script.clone());
            // All: the express runner ignores heavy scripts, so one wake-up
            // could land where it is not taken.
            self.ready.notify_all();
        }
    }

    /// The next script for a runner (the express runner takes only light
    /// ones), waiting for one; `None` once the host is stopping.
    pub fn take(&self, express: bool) -> Option<Arc<Script>> {
        let mut queue = self.queue.lock();
        loop {
            if self.stop.is_set() {
                return None;
            }
            if let Some(s) = queue.pop_front(express) {
                return Some(s);
            }
            self.ready.wait_for(&mut queue, IDLE_POLL);
        }
    }

    /// A script with more events after its turn: true when its runner keeps
    /// it (nothing else waits that this runner could take); otherwise it goes
    /// to the back, still marked scheduled, behind the others.
    pub fn keep_or_requeue(&self, script: &Arc<Script>, express: bool) -> bool {
        let mut queue = self.queue.lock();
        let keep = !(express && script.heavy.load(Ordering::Relaxed));
        if keep && queue.idle_for(express) && !self.stop.is_set() {
            return true;
        }
        queue.push_back(script.clone());
        drop(queue);
        self.ready.notify_all();
        false
    }

    /// Wake every waiting runner (shutdown).
    pub fn wake_all(&self) {
        self.ready.notify_all();
    }
}

/// Waiting scripts, light (their last event was short) and heavy (it was
/// long, or faulted). The pool's runners take light scripts first, then
/// heavy ones; the express runner takes only light ones, so a well-behaved
/// script finds a runner even while every pool runner is busy with a long
/// event. A script that turns heavy on the express runner costs it one event
/// and then waits with the heavy ones.
#[derive(Default)]
struct Queues {
    light: FairQueue,
    heavy: FairQueue,
}

impl Queues {
    fn push_back(&mut self, script: Arc<Script>) {
        if script.heavy.load(Ordering::Relaxed) {
            self.heavy.push_back(script);
        } else {
            self.light.push_back(script);
        }
    }

    fn pop_front(&mut self, express: bool) -> Option<Arc<Script>> {
        match self.light.pop_front() {
            Some(s) => Some(s),
            None if express => None,
            None => self.heavy.pop_front(),
        }
    }

    /// Nothing waits that this runner could take.
    fn idle_for(&self, express: bool) -> bool {
        self.light.is_empty() && (express || self.heavy.is_empty())
    }
}

/// The run queue, fair by owner and then by script: owners take turns
/// (round robin), and each owner's scripts take turns among themselves, so a
/// well-behaved script waits for at most one turn per other owner with work,
/// however many busy scripts those owners run.
#[derive(Default)]
struct FairQueue {
    owners: VecDeque<Uuid>,
    by_owner: HashMap<Uuid, VecDeque<Arc<Script>>>,
    len: usize,
}

impl FairQueue {
    fn push_back(&mut self, script: Arc<Script>) {
        let owner = script.info().owner_id;
        let queue = self.by_owner.entry(owner).or_default();
        if queue.is_empty() {
            self.owners.push_back(owner);
        }
        queue.push_back(script);
        self.len += 1;
    }

    fn pop_front(&mut self) -> Option<Arc<Script>> {
        let owner = self.owners.pop_front()?;
        let queue = self.by_owner.get_mut(&owner)?;
        let script = queue.pop_front();
        if queue.is_empty() {
            self.by_owner.remove(&owner);
        } else {
            self.owners.push_back(owner);
        }
        self.len -= usize::from(script.is_some());
        script
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }
}
