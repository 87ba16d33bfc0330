//! One script as the host keeps it: fixed identity, control state, event queue,
//! counters, log ring buffer and chat listeners. The live wasm instance sits
//! behind its own lock (`live`), taken only by the runner that executes it, so
//! status queries never wait for a running event.

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dispatcher_dispatch::{ScriptEvent, ScriptEventKind, Services};
use parking_lot::{Mutex, RwLock};
use uuid::Uuid;

use crate::bindings::exports::opensim::dispatcher::handlers::{ChatEvent, MessageEvent, TouchEvent, UpdatedEvent};
use crate::bindings::opensim::dispatcher::log::Level;
use crate::cpu_clock::TurnClock;
use crate::fault::Fault;
use crate::grants::Grants;
use crate::messages::{LogLineRecord, ScriptStatus};

/// Who and where the script is, and the component it runs. Identity and
/// place never change; an update (`UpdateScriptRequest`) replaces the
/// component's fields (`asset_id`, `hash`, `grants`, `start_parameter`) as a
/// whole, so a reader always sees one consistent version.
#[derive(Clone, Debug)]
pub struct ScriptInfo {
    pub id: Uuid,
    pub region: String,
    pub object_id: Uuid,
    pub name: String,
    pub asset_id: Uuid,
    pub hash: String,
    pub uploader_id: Uuid,
    pub owner_id: Uuid,
    pub start_parameter: String,
    pub grants: Grants,
    /// The internal, never-expiring capability its requests carry.
    pub capability: Uuid,
}

/// What an extension instance knows about itself (the `extension`
/// interface): fixed at install or update.
#[derive(Clone, Debug)]
pub struct ExtFacts {
    pub id: Uuid,
    pub domain: String,
    /// A region's name, or `None` for the whole host.
    pub scope: Option<String>,
    pub config: String,
    pub installer_id: Uuid,
    /// `StorageQuotaBytes` of `[Extensions]`.
    pub storage_quota_bytes: u64,
    /// Whether the extension holds the `storage` grant: its storage is its
    /// own, so this (not a caller's rights) decides the storage imports.
    pub storage_granted: bool,
    /// The read cache of its storage, shared by its instances (and kept,
    /// emptied, across an update).
    pub storage_cache: Arc<crate::storage_cache::StorageCache>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunState {
    Running,
    Stopped,
    Faulted,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Stopped => "stopped",
            RunState::Faulted => "faulted",
        }
    }

    pub fn parse(text: &str) -> RunState {
        match text {
            "stopped" => RunState::Stopped,
            "faulted" => RunState::Faulted,
            _ => RunState::Running,
        }
    }
}

/// State changed by control messages and faults.
#[derive(Debug)]
pub struct Control {
    pub state: RunState,
    pub fault: Option<Fault>,
    /// Restarts since the last explicit start or reset.
    pub restarts: u32,
    pub removed: bool,
}

/// An event for the guest, or an instruction for the runner.
#[derive(Debug)]
pub enum Event {
    /// Instantiate when needed, then `on-start`.
    Start,
    /// Drop the instance (stop, remove).
    Unload,
    /// Replace the component (hot swap): the update waiting in the
    /// lifecycle's pending swaps is instantiated and started; queued at the
    /// front, so the running event finishes first and the events queued
    /// behind it go to the new instance.
    Swap,
    Touch(TouchEvent),
    Chat(ChatEvent),
    Timer,
    Message(MessageEvent),
    Updated(UpdatedEvent),
}

impl Event {
    /// Control events are never dropped for a full queue.
    pub fn is_control(&self) -> bool {
        matches!(self, Event::Start | Event::Unload | Event::Swap)
    }
}

/// One log line.
#[derive(Clone, Debug, PartialEq)]
pub struct LogLine {
    pub seq: u64,
    /// Unix milliseconds.
    pub time_ms: u64,
    pub level: &'static str,
    pub text: String,
}

/// The ring buffer behind `GetScriptLogRequest`.
#[derive(Debug, Default)]
pub struct LogRing {
    lines: VecDeque<LogLine>,
    next_seq: u64,
    /// Lines refused by the host-call rate.
    pub dropped: u64,
}

pub fn level_name(level: Level) -> &'static str {
    match level {
        Level::Trace => "trace",
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Cut `text` to at most `max` bytes at a character boundary.
pub fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

impl LogRing {
    /// Append a line; the line as kept (its number, time, cut text).
    pub fn push(&mut self, level: &'static str, text: &str, capacity_lines: usize, max_line_bytes: usize) -> &LogLine {
        self.next_seq += 1;
        self.lines.push_back(LogLine {
            seq: self.next_seq,
            time_ms: now_ms(),
            level,
            text: truncate(text, max_line_bytes).to_owned(),
        });
        while self.lines.len() > capacity_lines.max(1) {
            self.lines.pop_front();
        }
        let last = self.lines.len() - 1;
        &self.lines[last]
    }

    /// Lines with a sequence number above `since`.
    pub fn since(&self, since: u64) -> Vec<LogLine> {
        self.lines.iter().filter(|l| l.seq > since).cloned().collect()
    }
}

/// Counters of the status record.
#[derive(Debug, Default)]
pub struct Counters {
    pub events_handled: AtomicU64,
    pub events_dropped: AtomicU64,
    /// Drops since the last event handled: the overflow fault's trigger.
    pub dropped_since_handled: AtomicU64,
    pub cpu_micros: AtomicU64,
    pub fuel_consumed: AtomicU64,
    pub memory_bytes: AtomicU64,
    /// Calls refused with `not-permitted`.
    pub denied_calls: AtomicU64,
    /// Calls refused with `rate-limited`.
    pub rate_limited_calls: AtomicU64,
}

/// The repeating timer.
#[derive(Debug, Default)]
pub struct TimerState {
    pub interval_ms: u32,
    /// Bumped on every change so that stale scheduler entries are ignored.
    pub generation: u64,
}

/// A live instance of the script's component, as the runner drives it. The
/// instance module implements it; its store points back at this script, so
/// the script holds it by this interface rather than by type.
pub trait Instance: Send {
    /// Run one guest event within its budget; updates the counters.
    fn run(&mut self, event: Event, turn: TurnClock) -> Result<(), Fault>;
    /// Time the last event spent in blocking waits (charged to the turn).
    fn blocked(&self) -> Duration;
}

/// Token bucket of one script's storage writes (full at first use, refilled
/// at `StorageWritesPerSecond`, holding at most one second's worth).
#[derive(Debug, Default)]
pub(crate) struct StorageWriteBudget {
    tokens: f64,
    last: Option<Instant>,
}

impl StorageWriteBudget {
    pub(crate) fn take(&mut self, per_second: u32) -> bool {
        let rate = f64::from(per_second.max(1));
        let now = Instant::now();
        self.tokens = match self.last {
            None => rate,
            Some(t) => (self.tokens + now.duration_since(t).as_secs_f64() * rate).min(rate),
        };
        self.last = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A script in the host.
pub struct Script {
    /// Replaced whole by a hot swap; read through [`Script::info`].
    pub(crate) info: RwLock<Arc<ScriptInfo>>,
    pub control: Mutex<Control>,
    pub queue: Mutex<VecDeque<Event>>,
    /// True while the script is in the run queue or on a runner.
    pub scheduled: AtomicBool,
    /// Set when the queue overflowed too often; the runner faults the script.
    pub overflowed: AtomicBool,
    pub live: Mutex<Option<Box<dyn Instance>>>,
    pub counters: Counters,
    pub log: Mutex<LogRing>,
    pub listening: Mutex<BTreeSet<i32>>,
    /// Lines this script said and has not yet seen come back (never hears itself).
    pub own_lines: Mutex<VecDeque<(i32, String)>>,
    pub timer: Mutex<TimerState>,
    /// A timer event is queued; further ticks merge into it.
    pub timer_pending: AtomicBool,
    /// Last known position of the script's object (chat range), refreshed by
    /// `Updated` events; `None` until first needed.
    pub position: Mutex<Option<[f32; 3]>>,
    /// Bumped by stop, remove, reset and shutdown: an event that began under
    /// an older value is interrupted at its next epoch check or blocking wait.
    pub kill: AtomicU64,
    /// Its last event (or instantiation) was long or faulted: it waits for
    /// the pool's runners, not the express runner.
    pub heavy: AtomicBool,
    /// `StorageWritesPerSecond`: kept with the script, so restarts do not
    /// refill it.
    pub(crate) storage_writes: Mutex<StorageWriteBudget>,
    /// Where its status changes and log lines are published (the event
    /// bus's script events, docs/live.md); `None` for an extension's.
    feed: Option<Arc<Services>>,
}

impl Script {
    pub fn new(info: ScriptInfo, state: RunState, fault: Option<Fault>) -> Script {
        Script {
            info: RwLock::new(Arc::new(info)),
            control: Mutex::new(Control {
                state,
                fault,
                restarts: 0,
                removed: false,
            }),
            queue: Mutex::new(VecDeque::new()),
            scheduled: AtomicBool::new(false),
            overflowed: AtomicBool::new(false),
            live: Mutex::new(None),
            counters: Counters::default(),
            log: Mutex::new(LogRing::default()),
            listening: Mutex::new(BTreeSet::new()),
            own_lines: Mutex::new(VecDeque::new()),
            timer: Mutex::new(TimerState::default()),
            timer_pending: AtomicBool::new(false),
            position: Mutex::new(None),
            kill: AtomicU64::new(0),
            heavy: AtomicBool::new(false),
            storage_writes: Mutex::new(StorageWriteBudget::default()),
            feed: None,
        }
    }

    /// Publish this script's status changes and log lines on `services`'
    /// event bus.
    pub fn with_feed(mut self, services: Arc<Services>) -> Script {
        self.feed = Some(services);
        self
    }

    /// Append a line to the log ring (and publish it on the feed).
    pub fn push_log(&self, level: &'static str, text: &str, capacity_lines: usize, max_line_bytes: usize) {
        let record = {
            let mut ring = self.log.lock();
            let line = ring.push(level, text, capacity_lines, max_line_bytes);
            self.feed.as_ref().map(|_| LogLineRecord {
                seq: line.seq,
                time: line.time_ms,
                level: line.level.into(),
                text: line.text.clone(),
            })
        };
        if let (Some(services), Some(record)) = (&self.feed, record) {
            services.events.publish_script(|| self.event(ScriptEventKind::Log(record)));
        }
    }

    /// Publish a status change (`change` names it, docs/live.md).
    pub fn publish_status(&self, change: &'static str) {
        if let Some(services) = &self.feed {
            services.events.publish_script(|| {
                self.event(ScriptEventKind::Status {
                    change,
                    status: Box::new(self.status()),
                })
            });
        }
    }

    fn event(&self, kind: ScriptEventKind) -> ScriptEvent {
        let info = self.info();
        ScriptEvent {
            region: info.region.clone(),
            script_id: info.id,
            object_id: info.object_id,
            owner_id: info.owner_id,
            uploader_id: info.uploader_id,
            kind,
        }
    }

    /// The status record of ListScripts and GetScriptStatus.
    pub fn status(&self) -> ScriptStatus {
        let info = self.info();
        let c = self.control.lock();
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let k = &self.counters;
        ScriptStatus {
            script_id: info.id.into(),
            object_id: info.object_id.into(),
            name: info.name.clone(),
            hash: info.hash.clone(),
            state: c.state.as_str().into(),
            grants: info.grants.to_vec(),
            fault_reason: c.fault.map(|f| f.as_str().to_owned()).unwrap_or_default(),
            events_handled: n(&k.events_handled),
            events_dropped: n(&k.events_dropped),
            cpu_micros: n(&k.cpu_micros),
            fuel_consumed: n(&k.fuel_consumed),
            memory_bytes: n(&k.memory_bytes),
            restarts: c.restarts,
            denied_calls: n(&k.denied_calls),
            rate_limited_calls: n(&k.rate_limited_calls),
        }
    }

    /// The script's identity and current component.
    pub fn info(&self) -> Arc<ScriptInfo> {
        self.info.read().clone()
    }

    /// The script's id (never changes).
    pub fn id(&self) -> Uuid {
        self.info.read().id
    }

    /// Replace the component's fields (hot swap, or its rollback).
    pub(crate) fn set_info(&self, info: Arc<ScriptInfo>) {
        *self.info.write() = info;
    }

    /// The current interrupt generation (read when an event begins).
    pub fn kill_generation(&self) -> u64 {
        self.kill.load(Ordering::Acquire)
    }

    /// Interrupt the event running now, if any (within one epoch check).
    pub fn interrupt(&self) {
        self.kill.fetch_add(1, Ordering::AcqRel);
    }

    pub fn state(&self) -> RunState {
        self.control.lock().state
    }

    pub fn count(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// The listeners and the timer interval (kept across a hot swap that
    /// rolls back).
    pub fn activity(&self) -> (BTreeSet<i32>, u32) {
        (self.listening.lock().clone(), self.timer.lock().interval_ms)
    }

    /// Forget listeners and the timer but keep queued events (a hot swap:
    /// they go to the new instance).
    pub fn clear_listeners_and_timer(&self) {
        self.listening.lock().clear();
        self.own_lines.lock().clear();
        let mut timer = self.timer.lock();
        timer.interval_ms = 0;
        timer.generation += 1;
    }

    /// Forget listeners, the timer and queued guest events (stop, fault, reset).
    pub fn clear_activity(&self) {
        self.listening.lock().clear();
        self.own_lines.lock().clear();
        let mut timer = self.timer.lock();
        timer.interval_ms = 0;
        timer.generation += 1;
        self.queue.lock().retain(Event::is_control);
        self.timer_pending.store(false, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_write_budget_holds_one_second_and_refills() {
        let mut b = StorageWriteBudget::default();
        assert!((0..10).all(|_| b.take(10)));
        assert!(!b.take(10));
        std::thread::sleep(Duration::from_millis(250));
        assert!(b.take(10), "refilled at 10 per second");
    }
}
