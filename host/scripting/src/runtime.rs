//! The script host: shared state, the bounded pool of runner threads, the
//! scheduler (timers and restarts), the scene-event router, and the script
//! lifecycle (load, start, stop, reset, remove, fault and restart).
//!
//! Invariants: a script's instance runs on at most one runner at a time (its
//! `live` lock); a runner handles at most `events_per_turn` events of one
//! script before moving on, and every event is bounded by its CPU budget (an
//! epoch deadline), so one busy script delays others by at most one turn.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dispatcher_dispatch::{Dispatcher, SceneEvent};
use dispatcher_store::Store;
use parking_lot::{Condvar, Mutex, RwLock};
use uuid::Uuid;

use crate::bindings::exports::opensim::dispatcher::handlers::{ChatEvent, MessageEvent, TouchEvent, UpdatedEvent};
use crate::bindings::opensim::dispatcher::types::{Quaternion, Vector3};
use crate::compile_pool::CompilePool;
use crate::cpu_clock::{thread_cpu_time, TurnClock};
use crate::engine::{Compiled, ScriptEngine};
use crate::error::{Fault, ScriptingError};
use crate::grants::Grants;
use crate::instance;
use crate::limits::{ScriptingLimits, EPOCH_TICK};
use crate::scene::SceneHooks;
use crate::script::{Event, RunState, Script, ScriptInfo};

/// How far from the spoken position a script hears a line (remote-control §4.5.1).
const LISTENER_RANGE_M: f32 = 20.0;
/// Queue length of the runtime's scene-event subscription.
const EVENT_SUBSCRIPTION_CAPACITY: usize = 16_384;
/// How often idle threads look at the stop flag.
const IDLE_POLL: Duration = Duration::from_millis(200);

/// Scripts waiting for a runner.
#[derive(Default)]
struct RunQueue {
    queue: Mutex<Queues>,
    ready: Condvar,
}

/// A turn that used at least this much (the runner thread's CPU time plus
/// time in blocking waits, instantiation included; not time preempted, not
/// host calls) marks its script heavy; a lighter one marks it light again.
const LIGHT_EVENT: Duration = Duration::from_millis(5);

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
        let owner = script.info.owner_id;
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

enum Job {
    Timer { script: Uuid, generation: u64, interval_ms: u32 },
    Restart { script: Uuid },
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

#[derive(Default)]
struct Scheduler {
    heap: Mutex<BinaryHeap<Reverse<Entry>>>,
    changed: Condvar,
    seq: AtomicU64,
}

impl Scheduler {
    fn add(&self, at: Instant, job: Job) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        self.heap.lock().push(Reverse(Entry { at, seq, job }));
        self.changed.notify_one();
    }
}

/// State shared by every thread of the runtime and every host call.
pub struct Shared {
    pub limits: ScriptingLimits,
    pub engine: ScriptEngine,
    pub dispatcher: Dispatcher,
    pub store: Arc<Store>,
    pub scene: Arc<dyn SceneHooks>,
    pub scripts: RwLock<HashMap<Uuid, Arc<Script>>>,
    /// Where uploads compile (bounded threads and queue, off the request path).
    pub compiles: CompilePool,
    /// Held while a script joins or leaves `scripts` together with its
    /// component's references (store rows, compiled code, cache file), so a
    /// component is never freed while a new script is taking it up.
    pub components: Mutex<()>,
    run_queue: RunQueue,
    scheduler: Scheduler,
    stopping: AtomicBool,
    /// Wall clock in Unix milliseconds, refreshed by the epoch ticker: what
    /// `timers.now-ms` reads (an atomic load instead of a clock call).
    pub clock_ms: AtomicU64,
}

impl Shared {
    /// The host is shutting down: every running event is interrupted.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    pub fn get(&self, id: Uuid) -> Option<Arc<Script>> {
        self.scripts.read().get(&id).cloned()
    }

    /// Scripts of one region (all regions when `region` is None), upload order
    /// is not kept in the map, so callers sort when order matters.
    pub fn select(&self, filter: impl Fn(&ScriptInfo) -> bool) -> Vec<Arc<Script>> {
        self.scripts.read().values().filter(|s| filter(&s.info)).cloned().collect()
    }

    /// Queue an event; guest events need a running script and room in the queue.
    pub fn deliver(&self, script: &Arc<Script>, event: Event) -> bool {
        let control = event.is_control();
        if !control && script.state() != RunState::Running {
            return false;
        }
        {
            let mut queue = script.queue.lock();
            if !control && queue.len() >= self.limits.event_queue_length {
                drop(queue);
                let counters = &script.counters;
                counters.events_dropped.fetch_add(1, Ordering::Relaxed);
                let since = counters.dropped_since_handled.fetch_add(1, Ordering::Relaxed) + 1;
                if since >= self.limits.event_queue_length as u64 {
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

    fn schedule(&self, script: &Arc<Script>) {
        if !script.scheduled.swap(true, Ordering::AcqRel) {
            self.run_queue.queue.lock().push_back(script.clone());
            // All: the express runner ignores heavy scripts, so one wake-up
            // could land where it is not taken.
            self.run_queue.ready.notify_all();
        }
    }

    pub fn schedule_timer(&self, script: &Script, interval_ms: u32, generation: u64) {
        let at = Instant::now() + Duration::from_millis(u64::from(interval_ms));
        self.scheduler.add(
            at,
            Job::Timer {
                script: script.info.id,
                generation,
                interval_ms,
            },
        );
    }

    pub fn log(&self, script: &Script, level: &'static str, text: &str) {
        script.log.lock().push(level, text, self.limits.log_ring_lines, self.limits.max_log_line_bytes);
    }

    /// The compiled component of a script (memory cache, disk cache, or the
    /// stored asset).
    fn compiled_for(&self, script: &Script) -> Result<Compiled, String> {
        if let Some(c) = self.engine.cached(&script.info.hash) {
            return Ok(c);
        }
        let asset = self
            .store
            .get_asset(script.info.asset_id)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("component asset {} is missing", script.info.asset_id))?;
        self.engine.load(&asset.data)
    }

    /// Record a state change durably.
    fn persist_state(&self, script: &Script, state: RunState, fault: Option<Fault>) {
        let reason = fault.map(Fault::as_str).unwrap_or("");
        if let Err(e) = self.store.set_script_state(script.info.id, state.as_str(), reason) {
            tracing::error!(script = %script.info.id, error = %e, "cannot record script state");
        }
    }

    /// Explicit start (upload with Start, StartScriptRequest, ResetScriptRequest).
    pub fn start(&self, script: &Arc<Script>) {
        // A reset interrupts the event running now.
        script.interrupt();
        {
            let mut c = script.control.lock();
            c.state = RunState::Running;
            c.fault = None;
            c.restarts = 0;
        }
        script.clear_activity();
        self.persist_state(script, RunState::Running, None);
        self.deliver(script, Event::Start);
    }

    pub fn stop(&self, script: &Arc<Script>) {
        script.control.lock().state = RunState::Stopped;
        script.interrupt();
        script.clear_activity();
        self.persist_state(script, RunState::Stopped, None);
        self.deliver(script, Event::Unload);
    }

    /// Remove a script everywhere: memory, database, capability, inventory;
    /// its component (stored bytes, compiled code, cache file) goes too when
    /// no other script uses it.
    pub fn remove(&self, script: &Arc<Script>) {
        {
            let mut c = script.control.lock();
            c.removed = true;
            c.state = RunState::Stopped;
        }
        script.interrupt();
        script.clear_activity();
        {
            let _components = self.components.lock();
            self.scripts.write().remove(&script.info.id);
            if let Err(e) = self.store.delete_script(script.info.id) {
                tracing::error!(script = %script.info.id, error = %e, "cannot delete script");
            }
            self.release_component_locked(&script.info.hash);
        }
        self.deliver(script, Event::Unload);
        self.dispatcher.services().capabilities.destroy(script.info.capability);
        self.scene
            .remove_script_item(&script.info.region, script.info.object_id, script.info.id, script.info.asset_id);
    }

    /// Free a component's compiled code and cache file when no script uses
    /// it. The caller holds `components`.
    pub(crate) fn release_component_locked(&self, hash: &str) {
        if !self.scripts.read().values().any(|s| s.info.hash == hash) {
            self.engine.forget(hash);
            crate::compile_pool::return_free_memory();
        }
    }

    /// A fault: drop activity, then restart with backoff or give up.
    fn on_fault(&self, script: &Arc<Script>, fault: Fault) {
        script.clear_activity();
        let (restarts, gave_up) = {
            let mut c = script.control.lock();
            c.fault = Some(fault);
            c.restarts += 1;
            let gave_up = c.restarts > self.limits.max_restarts;
            if gave_up {
                c.state = RunState::Faulted;
            }
            (c.restarts, gave_up)
        };
        if gave_up {
            self.log(script, "error", &format!("faulted ({}) after {} restarts", fault.as_str(), restarts - 1));
            self.persist_state(script, RunState::Faulted, Some(fault));
            return;
        }
        let delay_ms = self.restart_delay_ms(restarts);
        self.log(script, "warn", &format!("fault {}; restart {restarts} in {delay_ms} ms", fault.as_str()));
        // Durable, so that a host restart (or crash) starts it with backoff
        // instead of at once.
        self.persist_state(script, RunState::Running, Some(fault));
        self.scheduler.add(
            Instant::now() + Duration::from_millis(delay_ms),
            Job::Restart { script: script.info.id },
        );
    }

    /// Backoff before restart number `restarts` (1 = the first).
    fn restart_delay_ms(&self, restarts: u32) -> u64 {
        self.limits.restart_backoff_base_ms.saturating_mul(1 << restarts.saturating_sub(1).min(16))
    }
}

/// Runner: take a script, handle a turn of its events, put it back if needed.
/// A script with more events goes to the back of the run queue when other
/// scripts are waiting, and simply keeps its runner when none are (no hand-over
/// between runners, no wake-up).
fn runner(shared: Arc<Shared>, express: bool) {
    let mut batch = Vec::with_capacity(shared.limits.events_per_turn.max(1));
    loop {
        let script = {
            let mut queue = shared.run_queue.queue.lock();
            loop {
                if shared.stopping.load(Ordering::Relaxed) {
                    return;
                }
                if let Some(s) = queue.pop_front(express) {
                    break s;
                }
                shared.run_queue.ready.wait_for(&mut queue, IDLE_POLL);
            }
        };
        loop {
            run_turn(&shared, &script, &mut batch);
            if has_work(&script) {
                let mut queue = shared.run_queue.queue.lock();
                let keep = !(express && script.heavy.load(Ordering::Relaxed));
                if keep && queue.idle_for(express) && !shared.stopping.load(Ordering::Relaxed) {
                    continue;
                }
                // Still marked scheduled: it goes to the back, behind the others.
                queue.push_back(script);
                drop(queue);
                shared.run_queue.ready.notify_all();
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
fn interrupted(shared: &Shared, script: &Script, generation: u64) -> bool {
    script.kill_generation() != generation || shared.is_stopping()
}

fn has_work(script: &Script) -> bool {
    !script.queue.lock().is_empty() || script.overflowed.load(Ordering::Relaxed)
}

/// One turn: up to `events_per_turn` events of one script, taken from its
/// queue under one lock.
fn run_turn(shared: &Arc<Shared>, script: &Arc<Script>, batch: &mut Vec<Event>) {
    let turn = TurnClock::now();
    let mut usage = TurnUsage::default();
    run_events(shared, script, batch, turn, &mut usage);
    // One clock reading per turn (a system call), not per event.
    let used = thread_cpu_time().saturating_sub(turn.cpu()) + usage.blocked;
    script.heavy.store(usage.faulted || used >= LIGHT_EVENT, Ordering::Relaxed);
}

/// What a turn used beyond the thread's CPU clock, for the light/heavy mark.
#[derive(Default)]
struct TurnUsage {
    blocked: Duration,
    faulted: bool,
}

fn run_events(shared: &Arc<Shared>, script: &Arc<Script>, batch: &mut Vec<Event>, turn: TurnClock, usage: &mut TurnUsage) {
    let mut live = script.live.lock();
    {
        let mut queue = script.queue.lock();
        let n = queue.len().min(shared.limits.events_per_turn.max(1));
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
            shared.on_fault(script, Fault::EventQueueOverflow);
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
            Event::Start if running => {
                // Every start is a fresh instance: reset, restart after a fault
                // and host restart all begin from the component's initial state.
                *live = None;
                let compiled = match shared.compiled_for(script) {
                    Ok(c) => c,
                    Err(e) => {
                        shared.log(script, "error", &format!("cannot load the component: {e}"));
                        shared.on_fault(script, Fault::Trap);
                        return;
                    }
                };
                let generation = script.kill_generation();
                let instantiated = instance::instantiate(shared, script, &compiled, turn);
                usage.faulted |= instantiated.is_err();
                match instantiated {
                    Ok(l) => *live = Some(l),
                    Err(_) if interrupted(shared, script, generation) => continue,
                    Err(fault) => {
                        shared.on_fault(script, fault);
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
        let outcome = instance::run_event(shared, instance, event, turn);
        usage.blocked += instance.store.data().meter.blocked;
        usage.faulted |= outcome.is_err();
        match outcome {
            Ok(()) => {
                script.counters.events_handled.fetch_add(1, Ordering::Relaxed);
                script.counters.dropped_since_handled.store(0, Ordering::Relaxed);
            }
            Err(_) if interrupted(shared, script, generation) => {
                // Stopped, removed, reset or shut down mid-event: the
                // instance is dropped, and it is not the script's fault.
                *live = None;
            }
            Err(fault) => {
                *live = None;
                shared.on_fault(script, fault);
                return;
            }
        }
    }
}

/// Epoch ticker: advances the engine's epoch every [`EPOCH_TICK`], the clock
/// of every event's CPU-budget deadline. Ticks are scheduled on absolute
/// times, so sleep overshoot does not accumulate into a slow epoch.
fn epoch_ticker(shared: Arc<Shared>) {
    let mut next = Instant::now() + EPOCH_TICK;
    while !shared.stopping.load(Ordering::Relaxed) {
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        shared.engine.engine.increment_epoch();
        shared.clock_ms.store(crate::script::now_ms(), Ordering::Relaxed);
        // After a long stall, carry on from now rather than tick in a burst.
        next = (next + EPOCH_TICK).max(Instant::now());
    }
}

/// Scheduler: fire due timers and restarts.
fn scheduler(shared: Arc<Shared>) {
    loop {
        let job = {
            let mut heap = shared.scheduler.heap.lock();
            loop {
                if shared.stopping.load(Ordering::Relaxed) {
                    return;
                }
                let now = Instant::now();
                match heap.peek() {
                    Some(Reverse(e)) if e.at <= now => break heap.pop().map(|Reverse(e)| e),
                    Some(Reverse(e)) => {
                        let wait = (e.at - now).min(IDLE_POLL);
                        shared.scheduler.changed.wait_for(&mut heap, wait);
                    }
                    None => {
                        shared.scheduler.changed.wait_for(&mut heap, IDLE_POLL);
                    }
                }
            }
        };
        if let Some(entry) = job {
            fire(&shared, entry);
        }
    }
}

fn fire(shared: &Shared, entry: Entry) {
    match entry.job {
        Job::Restart { script } => {
            if let Some(s) = shared.get(script) {
                if s.state() == RunState::Running {
                    shared.deliver(&s, Event::Start);
                }
            }
        }
        Job::Timer {
            script,
            generation,
            interval_ms,
        } => {
            let Some(s) = shared.get(script) else { return };
            if s.timer.lock().generation != generation || s.state() != RunState::Running {
                return;
            }
            // Ticks that find a tick still queued merge into it.
            if !s.timer_pending.swap(true, Ordering::AcqRel) && !shared.deliver(&s, Event::Timer) {
                s.timer_pending.store(false, Ordering::Release);
            }
            let period = Duration::from_millis(u64::from(interval_ms));
            let next = (entry.at + period).max(Instant::now());
            shared.scheduler.add(
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

fn v3(p: [f32; 3]) -> Vector3 {
    Vector3 { x: p[0], y: p[1], z: p[2] }
}

/// Router: scene events to the scripts they concern. The subscription is
/// taken by [`ScriptHost::start`] before any script is loaded or any request
/// can arrive, so no event published after start is missed.
fn router(shared: Arc<Shared>, subscription: dispatcher_dispatch::Subscription) {
    loop {
        if shared.stopping.load(Ordering::Relaxed) {
            return;
        }
        match subscription.events.recv_timeout(IDLE_POLL) {
            Ok(event) => route(&shared, event),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

fn route(shared: &Shared, event: SceneEvent) {
    match event {
        SceneEvent::Touch {
            region,
            object_id,
            avatar_id,
            link_num,
            position,
        } => {
            for s in shared.select(|i| i.region == region && i.object_id == object_id) {
                let e = TouchEvent {
                    object_id: object_id.to_string(),
                    avatar_id: avatar_id.to_string(),
                    link_num,
                    offset_position: v3([0.0; 3]),
                    position: v3(position),
                };
                shared.deliver(&s, Event::Touch(e));
            }
        }
        SceneEvent::Chat {
            region,
            channel,
            speaker_id,
            name,
            text,
            position,
        } => {
            for s in shared.select(|i| i.region == region) {
                if !s.listening.lock().contains(&channel) || s.info.object_id == speaker_id || !in_range(shared, &s, position) {
                    continue;
                }
                if heard_itself(&s, channel, &text) {
                    continue;
                }
                let e = ChatEvent {
                    channel,
                    speaker_id: speaker_id.to_string(),
                    name: name.clone(),
                    text: text.clone(),
                    position: v3(position),
                };
                shared.deliver(&s, Event::Chat(e));
            }
        }
        SceneEvent::Message {
            region,
            object_id,
            sender_id,
            text,
        } => {
            for s in shared.select(|i| i.region == region && i.object_id == object_id) {
                let e = MessageEvent {
                    sender_id: sender_id.to_string(),
                    text: text.clone(),
                };
                shared.deliver(&s, Event::Message(e));
            }
        }
        SceneEvent::Updated {
            region,
            object_id,
            position,
            rotation,
            velocity,
        } => {
            for s in shared.select(|i| i.region == region && i.object_id == object_id) {
                *s.position.lock() = Some(position);
                let e = UpdatedEvent {
                    object_id: object_id.to_string(),
                    position: v3(position),
                    rotation: Quaternion {
                        x: rotation[0],
                        y: rotation[1],
                        z: rotation[2],
                        w: rotation[3],
                    },
                    velocity: v3(velocity),
                };
                shared.deliver(&s, Event::Updated(e));
            }
        }
        SceneEvent::ObjectRemoved { region, object_id } => {
            for s in shared.select(|i| i.region == region && i.object_id == object_id) {
                shared.remove(&s);
            }
        }
    }
}

/// Whether the script's object is within listening range of `spoken_at`.
fn in_range(shared: &Shared, script: &Script, spoken_at: [f32; 3]) -> bool {
    let known = *script.position.lock();
    let Some(p) = known.or_else(|| {
        let p = shared.scene.object(&script.info.region, script.info.object_id)?.position;
        *script.position.lock() = Some(p);
        Some(p)
    }) else {
        return false;
    };
    let d2: f32 = (0..3).map(|i| (p[i] - spoken_at[i]).powi(2)).sum();
    d2 <= LISTENER_RANGE_M * LISTENER_RANGE_M
}

/// A line the script said itself comes back once through the bus: swallow it.
fn heard_itself(script: &Script, channel: i32, text: &str) -> bool {
    let mut own = script.own_lines.lock();
    match own.iter().position(|(c, t)| *c == channel && t == text) {
        Some(i) => {
            own.remove(i);
            true
        }
        None => false,
    }
}

/// The running script host.
pub struct ScriptHost {
    pub shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl ScriptHost {
    /// Build the engine, start the threads, register the `Scripting` domain
    /// for every hosted region, and bring back every persisted script.
    pub fn start(
        dispatcher: Dispatcher,
        store: Arc<Store>,
        data_dir: &Path,
        limits: ScriptingLimits,
        scene: Option<Arc<dyn SceneHooks>>,
    ) -> Result<ScriptHost, ScriptingError> {
        let engine = ScriptEngine::new(&limits, data_dir)?;
        let (limits_threads, limits_queue) = (limits.max_concurrent_compiles, limits.compile_queue_length);
        let scene = scene.unwrap_or_else(|| Arc::new(crate::scene::MessagePathScene::new(dispatcher.clone())));
        let shared = Arc::new(Shared {
            limits,
            engine,
            dispatcher,
            store,
            scene,
            scripts: RwLock::new(HashMap::new()),
            compiles: CompilePool::new(limits_threads, limits_queue)?,
            components: Mutex::new(()),
            run_queue: RunQueue::default(),
            scheduler: Scheduler::default(),
            stopping: AtomicBool::new(false),
            clock_ms: AtomicU64::new(crate::script::now_ms()),
        });
        let mut threads = Vec::new();
        for n in 0..shared.limits.runner_threads.max(1) {
            let s = shared.clone();
            threads.push(spawn(&format!("script-runner-{n}"), move || runner(s, false))?);
        }
        let s = shared.clone();
        threads.push(spawn("script-runner-express", move || runner(s, true))?);
        let s = shared.clone();
        threads.push(spawn("script-scheduler", move || scheduler(s))?);
        let s = shared.clone();
        threads.push(spawn("script-epoch", move || epoch_ticker(s))?);
        let s = shared.clone();
        let subscription = shared.dispatcher.services().events.subscribe(EVENT_SUBSCRIPTION_CAPACITY);
        threads.push(spawn("script-events", move || router(s, subscription))?);
        crate::domain::register(&shared);
        load_persisted(&shared)?;
        Ok(ScriptHost {
            shared,
            threads: Mutex::new(threads),
        })
    }

    /// Time one instantiation of a loaded script's component (pre-linked
    /// component to live instance: store, WASI context, start functions) on the
    /// calling thread, then drop that instance. The script's own instance, queue
    /// and state are not touched. Exists so benchmarks can time warm
    /// instantiation, which the message path hides behind the runner.
    pub fn time_instantiation(&self, script: Uuid) -> Result<Duration, ScriptingError> {
        let script = self
            .shared
            .get(script)
            .ok_or_else(|| ScriptingError::Engine(format!("no script {script}")))?;
        let compiled = self
            .shared
            .compiled_for(&script)
            .map_err(|e| ScriptingError::Engine(format!("cannot load the component: {e}")))?;
        let turn = TurnClock::now();
        let started = Instant::now();
        let live = instance::instantiate(&self.shared, &script, &compiled, turn)
            .map_err(|fault| ScriptingError::Engine(format!("instantiation failed: {}", fault.as_str())))?;
        let took = started.elapsed();
        drop(live);
        Ok(took)
    }

    /// Stop every thread; instances are dropped with the host.
    pub fn shutdown(&self) {
        self.shutdown_within(Duration::from_secs(3600));
    }

    /// Stop every thread, interrupting every running event (its next epoch
    /// check or blocking-wait slice sees the stop flag), and wait at most
    /// `timeout` for the threads. Returns false when some thread was still
    /// busy at the deadline (it is left behind; the caller goes on shutting
    /// down).
    pub fn shutdown_within(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        self.shared.stopping.store(true, Ordering::Relaxed);
        self.shared.compiles.close();
        self.shared.run_queue.ready.notify_all();
        self.shared.scheduler.changed.notify_all();
        let mut all_done = true;
        for t in self.threads.lock().drain(..) {
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            if t.is_finished() {
                let _ = t.join();
            } else {
                tracing::warn!(thread = ?t.thread().name(), "script thread still busy at the shutdown deadline");
                all_done = false;
            }
        }
        for s in self.shared.scripts.read().values() {
            if let Some(mut live) = s.live.try_lock() {
                *live = None;
            }
        }
        all_done
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, ScriptingError> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .map_err(|e| ScriptingError::Engine(format!("cannot start thread {name}: {e}")))
}

/// Recreate every stored script with a fresh internal capability; running
/// ones get `on-start` again.
fn load_persisted(shared: &Arc<Shared>) -> Result<(), ScriptingError> {
    let services = shared.dispatcher.services().clone();
    for row in shared.store.list_scripts()? {
        let grants = Grants::from_text(&row.grants);
        let name = services
            .directory
            .account_by_id(row.uploader_id)
            .ok()
            .flatten()
            .map(|a| a.name())
            .unwrap_or_default();
        let cap = services
            .capabilities
            .create(row.uploader_id, name, row.region.clone(), grants.domains(), Duration::ZERO);
        let info = ScriptInfo {
            id: row.id,
            region: row.region,
            object_id: row.object_id,
            name: row.name,
            asset_id: row.asset_id,
            hash: row.hash,
            uploader_id: row.uploader_id,
            owner_id: row.owner_id,
            start_parameter: row.start_parameter,
            grants,
            capability: cap.id,
        };
        let state = RunState::parse(&row.state);
        let fault = Fault::parse(&row.fault_reason);
        let script = Arc::new(Script::new(info, state, fault));
        shared.scripts.write().insert(script.info.id, script.clone());
        if state != RunState::Running {
            continue;
        }
        match fault {
            // It faulted on its last run and was waiting for a restart: the
            // backoff goes on across host restarts (and crashes).
            Some(fault) => {
                script.control.lock().restarts = 1;
                let delay_ms = shared.restart_delay_ms(1);
                shared.log(&script, "warn", &format!("faulted ({}) before the host restarted; restart in {delay_ms} ms", fault.as_str()));
                shared.scheduler.add(Instant::now() + Duration::from_millis(delay_ms), Job::Restart { script: script.info.id });
            }
            None => {
                shared.deliver(&script, Event::Start);
            }
        }
    }
    // Cache files no stored script uses (removed before this change, or built
    // by another engine configuration) are deleted.
    let in_use: std::collections::HashSet<String> = shared.scripts.read().values().map(|s| s.info.hash.clone()).collect();
    let deleted = shared.engine.sweep_disk(&in_use);
    if deleted > 0 {
        tracing::info!(files = deleted, "deleted unused compiled components");
    }
    Ok(())
}
