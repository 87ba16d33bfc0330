//! A live script instance: its wasmtime store, the per-store state every host
//! call sees ([`HostState`]) with what host calls reach ([`CallContext`]), the
//! memory limiter, the host-call meter, and the one function that runs an
//! event and classifies how it ended.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Store, StoreContextMut, Trap, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::bindings::{HostError, RegionScript, RegionScriptPre};
use crate::cpu_clock::{thread_cpu_time, TurnClock};
use crate::fault::Fault;
use crate::limits::{EPOCH_TICK, INTERRUPT_CHECK_TICKS};
use dispatcher_dispatch::Dispatcher;
use dispatcher_store::Store as ScriptStore;

use crate::limits::ScriptingLimits;
use crate::scene::SceneHooks;
use crate::scheduler::Scheduler;
use crate::script::{Event, ExtFacts, Instance, Script, ScriptInfo};
use crate::stop::StopFlag;

/// What the host calls of every instance reach: the message path, the
/// store (script storage), the scene, the timer scheduler and the clocks.
/// Not the script table, the run queue or the compile pool.
pub struct CallContext {
    pub limits: ScriptingLimits,
    pub dispatcher: Dispatcher,
    pub store: Arc<ScriptStore>,
    pub scene: Arc<dyn SceneHooks>,
    /// Wall clock in Unix milliseconds, refreshed by the epoch ticker: what
    /// `timers.now-ms` reads (an atomic load instead of a clock call); guest
    /// code touches it to keep the ticker at its fast pace.
    pub clock: Arc<crate::scheduler::EpochClock>,
    pub scheduler: Arc<Scheduler>,
    pub stop: StopFlag,
}

impl CallContext {
    /// The host is shutting down: every running event is interrupted.
    pub fn is_stopping(&self) -> bool {
        self.stop.is_set()
    }

    /// (Re)arm a script's repeating timer.
    pub fn schedule_timer(&self, script: &Script, interval_ms: u32, generation: u64) {
        self.scheduler.timer(script, interval_ms, generation);
    }
}

/// Caps all memories and tables of one instance together.
pub struct MemoryLimiter {
    limit_bytes: usize,
    memory_bytes: usize,
    table_bytes: usize,
    /// A growth was refused: a trap that follows is an out-of-memory fault.
    pub refused: bool,
}

/// Bytes charged per table element (a function reference).
const TABLE_ELEMENT_BYTES: usize = 8;

impl MemoryLimiter {
    fn new(limit_bytes: usize) -> Self {
        MemoryLimiter {
            limit_bytes,
            memory_bytes: 0,
            table_bytes: 0,
            refused: false,
        }
    }

    pub fn used_bytes(&self) -> usize {
        self.memory_bytes + self.table_bytes
    }

    fn admit(&mut self, extra: usize) -> bool {
        let ok = self.used_bytes().saturating_add(extra) <= self.limit_bytes;
        self.refused |= !ok;
        ok
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let extra = desired.saturating_sub(current);
        let ok = self.admit(extra);
        if ok {
            self.memory_bytes += extra;
        }
        Ok(ok)
    }

    fn table_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let extra = desired.saturating_sub(current).saturating_mul(TABLE_ELEMENT_BYTES);
        let ok = self.admit(extra);
        if ok {
            self.table_bytes += extra;
        }
        Ok(ok)
    }
}

/// Token buckets for host calls and chat lines, plus the per-event count of
/// refused calls.
pub struct CallMeter {
    calls: Bucket,
    chat: Bucket,
    /// Events this script causes (messages, touches, chat lines).
    caused: Bucket,
    /// Asset reads and writes.
    assets: Bucket,
    pub rejected_this_event: u32,
    /// Time spent inside host calls during the current event (not CPU budget).
    pub host_time: Duration,
    /// A timed host operation is in progress (nested ones are not counted twice).
    pub timing: bool,
    /// When the current event (or instantiation) began.
    pub event_started: Instant,
    /// The wasm time one event may use.
    pub budget: Duration,
    /// An upper bound of the runner thread's CPU clock when the event began.
    pub cpu_baseline: Duration,
    /// Time the guest spent in blocking WASI waits (sleep, poll) during the
    /// current event: charged to the budget like wasm time, although the
    /// thread's CPU clock does not advance while it waits.
    pub blocked: Duration,
    /// The script's interrupt generation when the event began.
    pub kill_seen: u64,
}

impl CallMeter {
    /// Wasm time the current event has used so far: wall time minus host calls.
    pub fn wasm_time(&self) -> Duration {
        self.event_started.elapsed().saturating_sub(self.host_time)
    }
}

struct Bucket {
    per_second: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(per_second: u32) -> Bucket {
        let per_second = f64::from(per_second.max(1));
        Bucket {
            per_second,
            tokens: per_second,
            last: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        self.take_at(Instant::now())
    }

    /// [`Bucket::take`] with the time the caller already read.
    fn take_at(&mut self, now: Instant) -> bool {
        let refill = now.saturating_duration_since(self.last).as_secs_f64() * self.per_second;
        self.tokens = (self.tokens + refill).min(self.per_second);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The host interrupted the event (stop, remove, reset, shutdown): not a
/// fault of the script, so no restart and no fault reason follow.
#[derive(Debug, thiserror::Error)]
#[error("interrupted by the host")]
pub struct Interrupted;

/// What every host call of one instance can reach.
pub struct HostState {
    /// Built on the first WASI call: most events (and many guests) never make
    /// one, and building a context costs microseconds of every instantiation.
    wasi: Option<WasiCtx>,
    pub(crate) table: ResourceTable,
    pub limiter: MemoryLimiter,
    pub meter: CallMeter,
    pub script: Arc<Script>,
    /// Whose rights the host calls use: the script's own info for a script;
    /// for an extension, set per request (the caller's capability and, for a
    /// calling script, its scope and grants, intersected with the
    /// extension's grants) and to its installer outside requests.
    pub acting: Arc<ScriptInfo>,
    /// The extension this instance runs, when it runs one.
    pub ext: Option<Arc<ExtFacts>>,
    /// What host calls reach (named `shared` for the host files' sake).
    pub shared: Arc<CallContext>,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: self.wasi.get_or_insert_with(|| wasi_context(&self.script, &self.shared.limits)),
            table: &mut self.table,
        }
    }
}

impl HostState {
    /// Count one host call against the rate. Over the rate the call is refused
    /// (`rate-limited`); a script that keeps calling regardless is stopped.
    pub fn admit(&mut self) -> Result<(), HostError> {
        self.admit_at(Instant::now())
    }

    /// [`HostState::admit`] at a time the caller already read.
    pub fn admit_at(&mut self, now: Instant) -> Result<(), HostError> {
        if self.meter.calls.take_at(now) {
            return Ok(());
        }
        self.refuse_rate()
    }

    /// A chat line: both the call rate and the chat rate.
    pub fn admit_chat(&mut self) -> Result<(), HostError> {
        self.admit()?;
        if self.meter.chat.take() {
            return Ok(());
        }
        self.refuse_rate()
    }

    /// The rate of the request's kind, on top of the call rate: requests that
    /// cause events in scripts (a message to an object, a touch, a chat line)
    /// count against the sender's caused-event rate, so scripts that answer
    /// each other's events slow down and end in `rate-limited`; asset
    /// requests count against the asset rate.
    pub fn admit_kind(&mut self, type_name: &str) -> Result<(), HostError> {
        self.admit_kind_at(type_name, Instant::now())
    }

    /// [`HostState::admit_kind`] at a time the caller already read.
    pub fn admit_kind_at(&mut self, type_name: &str, now: Instant) -> Result<(), HostError> {
        let short = type_name.rsplit('.').next().unwrap_or(type_name);
        let bucket = match short {
            "MessageObjectRequest" | "TouchObjectRequest" | "ChatRequest" => &mut self.meter.caused,
            "GetAssetRequest"
            | "GetAssetFromObjectRequest"
            | "AddAssetRequest"
            | "TestAssetRequest"
            | "GetDependentAssetsRequest"
            | "AddAsset" => &mut self.meter.assets,
            _ => return Ok(()),
        };
        if bucket.take_at(now) {
            return Ok(());
        }
        self.refuse_rate()
    }

    pub(crate) fn refuse_rate(&mut self) -> Result<(), HostError> {
        self.script.counters.rate_limited_calls.fetch_add(1, Ordering::Relaxed);
        self.meter.rejected_this_event += 1;
        if self.meter.rejected_this_event > self.shared.limits.max_rejected_calls_per_event {
            return Err(HostError::Fault(Fault::HostCallLimit));
        }
        Err(HostError::Guest(crate::bindings::opensim::dispatcher::types::Error::RateLimited))
    }

    /// Run a host operation that does real work (the message path, the
    /// database) with its time given back to the event's CPU budget: the
    /// budget counts wasm execution, and a blocking host call never uses it.
    pub fn timed<R>(&mut self, f: impl FnOnce(&mut HostState) -> R) -> R {
        self.timed_from(Instant::now(), f)
    }

    /// [`HostState::timed`] from a time read at the start of the host call.
    pub fn timed_from<R>(&mut self, started: Instant, f: impl FnOnce(&mut HostState) -> R) -> R {
        if self.meter.timing {
            return f(self);
        }
        self.meter.timing = true;
        let result = f(self);
        self.meter.host_time += started.elapsed();
        self.meter.timing = false;
        result
    }

    /// Refuse a call whose grant is missing, counting it.
    pub fn require(&mut self, grant: &str) -> Result<(), HostError> {
        if self.acting.grants.has(grant) {
            return Ok(());
        }
        self.script.counters.denied_calls.fetch_add(1, Ordering::Relaxed);
        Err(HostError::not_permitted(format!("{grant} not granted")))
    }
}

/// An instantiated script.
pub struct Live {
    pub store: Store<HostState>,
    pub bindings: RegionScript,
}

/// The WASI context of a script: no files, network, environment or
/// arguments; stdout and stderr go to the script log.
fn wasi_context(script: &Arc<Script>, limits: &ScriptingLimits) -> WasiCtx {
    WasiCtxBuilder::new()
        .stdout(crate::stdio::LogOutput::new(script.clone(), "info", limits.clone()))
        .stderr(crate::stdio::LogOutput::new(script.clone(), "warn", limits.clone()))
        .build()
}

/// Build a store and instantiate. Instantiation runs start functions, so it
/// gets the event budget too.
pub fn instantiate(
    shared: &Arc<CallContext>,
    script: &Arc<Script>,
    pre: &RegionScriptPre<HostState>,
    turn: TurnClock,
) -> Result<Live, Fault> {
    let limits = &shared.limits;
    let store = new_store(
        shared,
        script,
        pre.engine(),
        StoreLimits {
            memory_bytes: limits.memory_limit_bytes,
            budget: Duration::from_millis(limits.event_cpu_budget_ms),
            host_calls_per_second: limits.host_calls_per_second,
        },
        None,
    );
    let mut store = store;
    begin_event(&mut store, limits.event_fuel(), turn)?;
    match pre.instantiate(&mut store) {
        Ok(bindings) => Ok(Live { store, bindings }),
        Err(e) => {
            let fault = classify(&e, store.data().limiter.refused);
            script_log(shared, script, "error", &format!("instantiation failed ({}): {e:#}", fault.as_str()));
            Err(fault)
        }
    }
}

/// The per-instance limits of a store.
pub struct StoreLimits {
    pub memory_bytes: usize,
    /// Wasm time one event (or request) may use.
    pub budget: Duration,
    pub host_calls_per_second: u32,
}

/// A store for one instance of `script` (an extension's, when `ext` is set):
/// memory limiter, call meter and the epoch budget check, nothing run yet.
pub fn new_store(
    shared: &Arc<CallContext>,
    script: &Arc<Script>,
    engine: &wasmtime::Engine,
    own: StoreLimits,
    ext: Option<Arc<ExtFacts>>,
) -> Store<HostState> {
    let limits = &shared.limits;
    let state = HostState {
        wasi: None,
        table: ResourceTable::new(),
        limiter: MemoryLimiter::new(own.memory_bytes),
        meter: CallMeter {
            calls: Bucket::new(own.host_calls_per_second),
            chat: Bucket::new(limits.chat_lines_per_second),
            caused: Bucket::new(limits.caused_events_per_second),
            assets: Bucket::new(limits.asset_calls_per_second),
            rejected_this_event: 0,
            host_time: Duration::ZERO,
            timing: false,
            event_started: Instant::now(),
            budget: own.budget,
            cpu_baseline: Duration::ZERO,
            blocked: Duration::ZERO,
            kill_seen: script.kill_generation(),
        },
        script: script.clone(),
        acting: script.info(),
        ext,
        shared: shared.clone(),
    };
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limiter);
    store.epoch_deadline_callback(budget_check);
    store
}

pub(crate) fn script_log(shared: &CallContext, script: &Script, level: &'static str, text: &str) {
    script.push_log(level, text, shared.limits.log_ring_lines, shared.limits.max_log_line_bytes);
}

/// Name the way a guest call ended in error.
pub fn classify(error: &wasmtime::Error, memory_refused: bool) -> Fault {
    if let Some(fault) = error.downcast_ref::<Fault>() {
        return *fault;
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => Fault::OutOfFuel,
        Some(Trap::StackOverflow) => Fault::StackOverflow,
        Some(Trap::Interrupt) => Fault::Timeout,
        _ if memory_refused => Fault::OutOfMemory,
        _ => Fault::Trap,
    }
}

/// Ticks of the epoch ticker to wait before looking at the budget again,
/// with `left` of it unused: 7/8 of it (at least one tick), so the check
/// lands just before the budget ends rather than a late tick after it; and
/// never more than [`INTERRUPT_CHECK_TICKS`], so that an interrupt (stop,
/// remove, reset, shutdown) is seen within a few milliseconds.
fn ticks(left: Duration) -> u64 {
    let tick = EPOCH_TICK.as_nanos().max(1);
    ((left.as_nanos() * 7 / 8 / tick) as u64).clamp(1, INTERRUPT_CHECK_TICKS)
}

/// Reset the per-event meter, fuel and deadline before guest code runs.
pub(crate) fn begin_event(store: &mut Store<HostState>, fuel: u64, turn: TurnClock) -> Result<(), Fault> {
    store.set_fuel(fuel).map_err(|_| Fault::Trap)?;
    let kill = store.data().script.kill_generation();
    let meter = &mut store.data_mut().meter;
    meter.kill_seen = kill;
    meter.rejected_this_event = 0;
    meter.host_time = Duration::ZERO;
    meter.blocked = Duration::ZERO;
    let now = Instant::now();
    meter.event_started = now;
    meter.cpu_baseline = turn.cpu_bound_at(now);
    let budget = meter.budget;
    store.data().shared.clock.touch(now);
    store.set_epoch_deadline(ticks(budget));
    Ok(())
}

/// Budget the current event has left, or the error that ends it: the host
/// interrupted it (stop, remove, reset, shutdown), or its time is used up.
/// Wall time decides while it is under the budget; once it is over, the
/// runner thread's CPU clock plus the time spent in blocking waits decides, so
/// time the thread spent preempted (a busy machine) is not charged, while a
/// guest that sleeps is. Host calls (the message path, the database) are
/// given back.
pub fn budget_left(state: &HostState) -> wasmtime::Result<Duration> {
    if state.script.kill_generation() != state.meter.kill_seen || state.shared.is_stopping() {
        return Err(Interrupted.into());
    }
    let meter = &state.meter;
    let wall_used = meter.wasm_time();
    let used = if wall_used < meter.budget {
        wall_used
    } else {
        (thread_cpu_time().saturating_sub(meter.cpu_baseline) + meter.blocked).saturating_sub(meter.host_time)
    };
    if used >= meter.budget {
        return Err(Fault::Timeout.into());
    }
    Ok(meter.budget - used)
}

/// The epoch deadline passed: stop the guest if it was interrupted or its
/// budget is used up (see [`budget_left`]), otherwise check again a little
/// before the rest would run out. A host call in progress is never
/// interrupted here (epochs are only checked in wasm code); blocking WASI
/// waits check the same budget themselves (`crate::wait`).
fn budget_check(store: StoreContextMut<'_, HostState>) -> wasmtime::Result<UpdateDeadline> {
    store.data().shared.clock.touch(Instant::now());
    let left = budget_left(store.data())?;
    Ok(UpdateDeadline::Continue(ticks(left)))
}

impl Instance for Live {
    fn run(&mut self, event: Event, turn: TurnClock) -> Result<(), Fault> {
        run_event(self, event, turn)
    }

    fn blocked(&self) -> Duration {
        self.store.data().meter.blocked
    }
}

/// Run one guest event within the budget; updates the counters.
fn run_event(live: &mut Live, event: Event, turn: TurnClock) -> Result<(), Fault> {
    let store = &mut live.store;
    let fuel = store.data().shared.limits.event_fuel();
    begin_event(store, fuel, turn)?;
    let handlers = live.bindings.opensim_dispatcher_handlers();
    let result = match event {
        Event::Start => {
            let parameter = store.data().script.info().start_parameter.clone();
            handlers.call_on_start(&mut *store, &parameter)
        }
        Event::Touch(e) => handlers.call_on_touch(&mut *store, &e),
        Event::Chat(e) => handlers.call_on_chat(&mut *store, &e),
        Event::Timer => {
            store.data().script.timer_pending.store(false, Ordering::Relaxed);
            handlers.call_on_timer(&mut *store)
        }
        Event::Message(e) => handlers.call_on_message(&mut *store, &e),
        Event::Updated(e) => handlers.call_on_updated(&mut *store, &e),
        Event::Unload | Event::Swap => Ok(()),
    };
    let elapsed = store.data().meter.wasm_time();
    let fuel_left = store.get_fuel().unwrap_or(0);
    let data = store.data();
    let counters = &data.script.counters;
    counters.cpu_micros.fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    counters.fuel_consumed.fetch_add(fuel.saturating_sub(fuel_left), Ordering::Relaxed);
    counters.memory_bytes.store(data.limiter.used_bytes() as u64, Ordering::Relaxed);
    result.map_err(|e| {
        let fault = classify(&e, data.limiter.refused);
        script_log(&data.shared, &data.script, "error", &format!("fault {}: {e:#}", fault.as_str()));
        fault
    })
}
