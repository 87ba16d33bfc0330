//! The extension runtime: each installed extension is a pool of instances
//! (`MaxInstances`) of one pre-linked `domain-extension` component, serving
//! its request types through the dispatcher's one pipeline.
//!
//! A request runs on the caller's thread (UDP and `_AsyncRequest` on the
//! async pool; HTTP on the reactor thread that read it, with no hop: the
//! types are registered as not committing, and the guest's call runs right
//! there; the WASI calls that may block announce it themselves,
//! `wasi_offload.rs`, and the per-request CPU budget bounds the rest)
//! on an idle instance, a new one while fewer than `MaxInstances`
//! exist, or after waiting in a queue of at most `QueueLength` callers (then
//! `extension <Domain> is busy`). Each request has the per-request CPU budget
//! (`RequestCpuBudgetMs`, the scripts' epoch deadline), the memory limit
//! and the host-call rate; a fault drops the instance, answers
//! `extension <Domain> faulted: <fault>`, and restarts it on a later request
//! after a backoff (doubling from [`BACKOFF_BASE`]) until `MaxRestarts`
//! faults, when the extension ends `faulted`.
//!
//! Authorisation of the extension's imports: while handling a request they
//! act as the caller ([`ExtensionHost::acting_for`]): the caller's capability
//! (its DomainList and scene) with the extension's grants, and for a calling
//! script also that script's scope, object and grants (intersected), so a
//! script reaches through an extension only what it could reach itself.
//! Outside a request (`on-start`, `on-timer`) and with `act-as-installer`,
//! the installer's capability with the extension's grants.
//!
//! Instances start eagerly: install, start, update and host start create one
//! (running `on-start`), so an extension that sets its timer there ticks
//! without waiting for a request; after a fault's backoff the next request
//! or tick creates one. Its one timer (shared by
//! its instances, like the log) is kept in the scripts' scheduler; due ticks
//! go to one `ext-timers` thread that runs `on-timer` on an idle instance
//! within the request budget. A tick that finds every instance busy, or one
//! still pending, is merged; stop, remove, update and `faulted` cancel it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use dispatcher_dispatch::{Dispatcher, HandlerError, RequestContext, Transport};
use dispatcher_protocol::json_scan::checked_members;
use dispatcher_protocol::{DecodedRequest, Encoding, Reply, ResponseCode, Value};
use parking_lot::{Condvar, Mutex};
use uuid::Uuid;
use wasmtime::component::Linker;
use wasmtime::Store;

use super::ext_bindings::exports::opensim::dispatcher::domain::{
    Caller, DomainDescription, Request as GuestRequest, Transport as GuestTransport,
};
use super::ext_bindings::{DomainExtension, DomainExtensionPre};
use super::placement::Placement;
use crate::compile_pool::CompilePool;
use crate::cpu_clock::TurnClock;
use crate::engine::ScriptEngine;
use crate::error::ScriptingError;
use crate::fault::Fault;
use crate::grants::{Grants, ACT_AS_INSTALLER};
use crate::instance::{begin_event, classify, new_store, CallContext, HostState, StoreLimits};
use crate::limits::ScriptingLimits;
use crate::scheduler::ExtensionTimers;
use crate::script::{ExtFacts, RunState, Script, ScriptInfo};
use crate::storage_cache::{StorageCache, STORAGE_CACHE_BYTES};
use crate::table::ScriptTable;

/// The first restart waits this long; each further one twice as long.
pub const BACKOFF_BASE: Duration = Duration::from_millis(100);
/// The longest a request waits in an extension's queue before `busy`.
const QUEUE_WAIT: Duration = Duration::from_secs(10);
/// How long a caller's names, user level and estate role are reused: looking
/// them up costs two database reads per request (the account, the region's
/// estate), more than the rest of the host's side of a call.
const CALLER_TTL: Duration = Duration::from_secs(1);
/// Callers remembered at most (the cache is emptied when full).
const CALLER_CACHE_ENTRIES: usize = 4096;
/// How often the idle timer thread looks at the stop flag.
const TIMER_POLL: Duration = Duration::from_millis(200);
/// The export every extension must have.
pub const DOMAIN_EXPORT: &str = "opensim:dispatcher/domain@0.1.0";

/// `[Extensions]` limits (docs/config.md).
#[derive(Clone, Debug, PartialEq)]
pub struct ExtensionLimits {
    pub max_component_bytes: usize,
    pub memory_limit_bytes: usize,
    pub request_cpu_budget_ms: u64,
    pub max_instances: usize,
    pub queue_length: usize,
    pub storage_quota_bytes: u64,
    pub host_calls_per_second: u32,
    pub max_restarts: u32,
    pub max_extensions_per_region: usize,
    pub max_reply_bytes: usize,
}

impl Default for ExtensionLimits {
    fn default() -> Self {
        ExtensionLimits {
            max_component_bytes: 16 << 20,
            memory_limit_bytes: 64 << 20,
            request_cpu_budget_ms: 100,
            max_instances: 4,
            queue_length: 256,
            storage_quota_bytes: 64 << 20,
            host_calls_per_second: 10_000,
            max_restarts: 3,
            max_extensions_per_region: 32,
            max_reply_bytes: 1 << 20,
        }
    }
}

/// One message type an extension serves, as `describe` named it.
#[derive(Clone, Debug)]
pub struct ServedType {
    pub request_type: String,
    pub reply_type: String,
    pub request_default: String,
}

/// A live instance of an extension.
struct LiveExt {
    store: Store<HostState>,
    bindings: DomainExtension,
}

/// Instances and the callers waiting for one.
#[derive(Default)]
pub(crate) struct Pool {
    idle: Vec<LiveExt>,
    /// Instances lent to requests now.
    in_use: usize,
    waiting: usize,
}

/// State changed by control messages and faults.
pub struct ExtControl {
    pub state: RunState,
    pub fault: Option<Fault>,
    pub restarts: u32,
    /// No new instance before this (backoff after a fault).
    pub backoff_until: Option<Instant>,
}

/// One installed extension.
pub struct Extension {
    pub facts: Arc<ExtFacts>,
    pub version: String,
    pub types: Vec<ServedType>,
    pub hash: String,
    pub grants: Grants,
    /// Whether `act-as-installer` was given.
    pub act_as_installer: bool,
    /// The installer's rights: its non-expiring capability, the extension's grants.
    pub installer: Arc<ScriptInfo>,
    pub(crate) pre: DomainExtensionPre<HostState>,
    /// Log ring, counters and interrupt generation, shared by all instances.
    pub script: Arc<Script>,
    pub(crate) pool: Mutex<Pool>,
    pub(crate) freed: Condvar,
    pub control: Mutex<ExtControl>,
    pub handled: AtomicU64,
    pub failed: AtomicU64,
}

impl Extension {
    pub fn domain(&self) -> &str {
        &self.facts.domain
    }

    /// Every grant shown in listings (`act-as-installer` included).
    pub fn grant_names(&self) -> Vec<String> {
        let mut all = self.grants.to_vec();
        if self.act_as_installer {
            all.push(ACT_AS_INSTALLER.to_owned());
        }
        all
    }

    /// Drop every instance, cancel the timer and interrupt running requests
    /// (stop, remove, update, faulted).
    pub fn unload(&self) {
        {
            let mut timer = self.script.timer.lock();
            timer.interval_ms = 0;
            timer.generation += 1;
        }
        self.script.timer_pending.store(false, Ordering::Release);
        self.script.interrupt();
        self.pool.lock().idle.clear();
        self.freed.notify_all();
    }

    pub fn log(&self, limits: &ScriptingLimits, level: &'static str, text: &str) {
        self.script.push_log(level, text, limits.log_ring_lines, limits.max_log_line_bytes);
    }
}

/// What a request tells the guest about its caller (account, names, level,
/// estate role in the request's scene).
#[derive(Clone)]
struct CallerFacts {
    first_name: String,
    last_name: String,
    level: i32,
    role: &'static str,
}

/// What the pieces of an extension are built from (install, update, load).
pub struct Built {
    pub pre: DomainExtensionPre<HostState>,
    pub description: DomainDescription,
}

/// The extension runtime.
pub struct ExtensionHost {
    pub limits: ExtensionLimits,
    pub(crate) calls: Arc<CallContext>,
    pub(crate) engine: Arc<ScriptEngine>,
    pub(crate) compiles: Arc<CompilePool>,
    linker: Linker<HostState>,
    scripts: Arc<ScriptTable>,
    pub(crate) extensions: Mutex<HashMap<Uuid, Arc<Extension>>>,
    /// Components compiled in this process, by hash.
    compiled: Mutex<HashMap<String, DomainExtensionPre<HostState>>>,
    /// Installs, updates and removals, one at a time.
    pub(crate) changes: Mutex<()>,
    /// Due timers, to the `ext-timers` thread (at most one pending per extension).
    due: Mutex<Sender<Uuid>>,
    /// Callers' facts by (account, scene), each kept [`CALLER_TTL`].
    callers: Mutex<HashMap<(Uuid, String), (Instant, CallerFacts)>>,
    /// Which extensions run here (all standalone; grid mode: placement.rs).
    pub(crate) placement: Placement,
    pub(crate) me: Weak<ExtensionHost>,
}

impl ExtensionHost {
    pub(crate) fn new(
        limits: ExtensionLimits,
        calls: Arc<CallContext>,
        engine: Arc<ScriptEngine>,
        compiles: Arc<CompilePool>,
        scripts: Arc<ScriptTable>,
        placement: Placement,
    ) -> Result<Arc<ExtensionHost>, ScriptingError> {
        let err = |e: wasmtime::Error| ScriptingError::Engine(format!("{e:#}"));
        let mut linker = Linker::<HostState>::new(&engine.engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(err)?;
        linker.allow_shadowing(true);
        crate::wasi_offload::shadow_blocking_calls(&mut linker).map_err(err)?;
        crate::wait::shadow_blocking_waits(&mut linker).map_err(err)?;
        linker.allow_shadowing(false);
        DomainExtension::add_to_linker::<HostState, wasmtime::component::HasSelf<HostState>>(&mut linker, |s| s).map_err(err)?;
        let (due, ticks) = std::sync::mpsc::channel();
        let host = Arc::new_cyclic(|me| ExtensionHost {
            limits,
            calls,
            engine,
            compiles,
            linker,
            scripts,
            extensions: Mutex::new(HashMap::new()),
            compiled: Mutex::new(HashMap::new()),
            changes: Mutex::new(()),
            due: Mutex::new(due),
            callers: Mutex::new(HashMap::new()),
            placement,
            me: me.clone(),
        });
        let weak = host.me.clone();
        std::thread::Builder::new()
            .name("ext-timers".into())
            .spawn(move || timer_thread(&weak, &ticks))
            .map_err(|e| ScriptingError::Engine(format!("cannot start the extension timer thread: {e}")))?;
        let timers: Weak<dyn ExtensionTimers> = host.me.clone();
        host.calls.scheduler.set_extension_timers(timers);
        Ok(host)
    }

    /// A new extension's storage cache: none on PostgreSQL, where other
    /// hosts of the grid write the same rows.
    pub(crate) fn new_storage_cache(&self) -> Arc<StorageCache> {
        Arc::new(match self.calls.store.is_postgres() {
            true => StorageCache::disabled(),
            false => StorageCache::new(STORAGE_CACHE_BYTES),
        })
    }

    pub fn dispatcher(&self) -> &Dispatcher {
        &self.calls.dispatcher
    }

    pub fn get(&self, id: Uuid) -> Option<Arc<Extension>> {
        self.extensions.lock().get(&id).cloned()
    }

    pub fn all(&self) -> Vec<Arc<Extension>> {
        let mut all: Vec<Arc<Extension>> = self.extensions.lock().values().cloned().collect();
        all.sort_by(|a, b| a.domain().cmp(b.domain()).then(a.facts.id.cmp(&b.facts.id)));
        all
    }

    fn store_limits(&self) -> StoreLimits {
        StoreLimits {
            // The engine's pooled memories are no larger than the scripts' limit.
            memory_bytes: self.limits.memory_limit_bytes.min(self.calls.limits.memory_limit_bytes),
            budget: Duration::from_millis(self.limits.request_cpu_budget_ms),
            host_calls_per_second: self.limits.host_calls_per_second,
        }
    }

    /// Compile (or take from the caches) a component and check it is of the
    /// `domain-extension` world; then run `describe` on a trial instance
    /// within the budget. Nothing is stored. Compiling runs on the compile pool.
    pub fn build(&self, bytes: Vec<u8>, facts: &Arc<ExtFacts>, script: &Arc<Script>) -> Result<Built, String> {
        let hash = crate::engine::sha256_hex(&bytes);
        let cached = self.compiled.lock().get(&hash).cloned();
        let pre = match cached {
            Some(pre) => pre,
            None => {
                let engine = self.engine.clone();
                let component = self
                    .compiles
                    .run(move || engine.load_component(&bytes))
                    .map_err(|e| e.to_string())??;
                crate::engine::check_world_fit(&self.engine.engine, &component, DOMAIN_EXPORT, "domain-extension")?;
                let pre = self
                    .linker
                    .instantiate_pre(&component)
                    .and_then(DomainExtensionPre::new)
                    .map_err(|e| format!("component does not fit the domain-extension world: {e:#}"))?;
                self.compiled.lock().insert(hash, pre.clone());
                pre
            }
        };
        let mut live = self
            .instantiate_with(&pre, facts, script, false)
            .map_err(|f| format!("instantiation failed: {}", f.as_str()))?;
        begin_event(&mut live.store, self.calls.limits.event_fuel(), TurnClock::now()).map_err(|f| f.as_str().to_owned())?;
        let description = live
            .bindings
            .opensim_dispatcher_domain()
            .call_describe(&mut live.store)
            .map_err(|e| format!("describe failed: {}", classify(&e, live.store.data().limiter.refused).as_str()))?;
        Ok(Built { pre, description })
    }

    /// A new instance, acting as the installer; `on-start` runs when `start`.
    fn instantiate_with(
        &self,
        pre: &DomainExtensionPre<HostState>,
        facts: &Arc<ExtFacts>,
        script: &Arc<Script>,
        start: bool,
    ) -> Result<LiveExt, Fault> {
        let mut store = new_store(&self.calls, script, &self.engine.engine, self.store_limits(), Some(facts.clone()));
        begin_event(&mut store, self.calls.limits.event_fuel(), TurnClock::now())?;
        let bindings = pre
            .instantiate(&mut store)
            .map_err(|e| classify(&e, store.data().limiter.refused))?;
        if start {
            begin_event(&mut store, self.calls.limits.event_fuel(), TurnClock::now())?;
            bindings
                .opensim_dispatcher_domain()
                .call_on_start(&mut store, &facts.config)
                .map_err(|e| classify(&e, store.data().limiter.refused))?;
        }
        Ok(LiveExt { store, bindings })
    }

    /// Take an instance (waiting in the bounded queue when all are lent, or
    /// `None` at once when `wait` is false).
    fn acquire(&self, ext: &Arc<Extension>, wait: bool) -> Result<Option<LiveExt>, HandlerError> {
        let deadline = Instant::now() + QUEUE_WAIT;
        let mut pool = ext.pool.lock();
        loop {
            if pool.in_use < self.limits.max_instances.max(1) {
                pool.in_use += 1;
                if let Some(live) = pool.idle.pop() {
                    return Ok(Some(live));
                }
                drop(pool);
                let mut live = self.instantiate_with(&ext.pre, &ext.facts, &ext.script, true);
                if let Ok(l) = &mut live {
                    l.store.data_mut().acting = ext.installer.clone();
                }
                return live.map(Some).map_err(|fault| {
                    self.release(ext, None);
                    self.fault(ext, fault)
                });
            }
            if !wait {
                return Ok(None);
            }
            if pool.waiting >= self.limits.queue_length {
                return Err(HandlerError::Limited(format!("extension {} is busy", ext.domain())));
            }
            pool.waiting += 1;
            let timed_out = ext.freed.wait_until(&mut pool, deadline).timed_out();
            pool.waiting -= 1;
            if timed_out {
                return Err(HandlerError::Limited(format!("extension {} is busy", ext.domain())));
            }
        }
    }

    fn release(&self, ext: &Extension, live: Option<LiveExt>) {
        let mut pool = ext.pool.lock();
        pool.in_use = pool.in_use.saturating_sub(1);
        if let Some(live) = live {
            if ext.control.lock().state == RunState::Running {
                pool.idle.push(live);
            }
        }
        drop(pool);
        ext.freed.notify_one();
    }

    /// Count a fault: backoff, or `faulted` after `MaxRestarts`; the
    /// caller's Failure names it.
    fn fault(&self, ext: &Arc<Extension>, fault: Fault) -> HandlerError {
        let mut c = ext.control.lock();
        c.fault = Some(fault);
        c.restarts += 1;
        let ended = c.restarts > self.limits.max_restarts;
        if ended {
            c.state = RunState::Faulted;
            c.backoff_until = None;
        } else {
            let factor = 1u32 << (c.restarts - 1).min(10);
            c.backoff_until = Some(Instant::now() + BACKOFF_BASE * factor);
        }
        drop(c);
        // The instances that start after the backoff read storage afresh.
        ext.facts.storage_cache.clear();
        ext.log(&self.calls.limits, "error", &format!("fault {}", fault.as_str()));
        if ended {
            ext.unload();
            if let Err(e) = self
                .calls
                .store
                .set_extension_state(ext.facts.id, RunState::Faulted.as_str(), fault.as_str())
            {
                tracing::error!(error = %e, "cannot persist an extension's state");
            }
        }
        HandlerError::Failure(format!("extension {} faulted: {}", ext.domain(), fault.as_str()))
    }

    /// Whose rights the extension's imports use for this request.
    fn acting_for(&self, ext: &Extension, ctx: &RequestContext) -> Result<Arc<ScriptInfo>, HandlerError> {
        if ext.act_as_installer {
            return Ok(ext.installer.clone());
        }
        if ctx.transport == Transport::Script && !ctx.capability.is_nil() {
            // A script: its own capability, scope and object, and only the
            // grants both it and the extension hold.
            let caller = self
                .scripts
                .select(|i| i.capability == ctx.capability)
                .into_iter()
                .next()
                .ok_or_else(|| HandlerError::NotPermitted("the calling script is gone".into()))?;
            let caller_info = caller.info();
            let mut info = (*caller_info).clone();
            info.grants = caller_info.grants.both(&ext.grants);
            return Ok(Arc::new(info));
        }
        let user = ctx.user.as_ref().map_or(Uuid::nil(), |u| u.id);
        Ok(Arc::new(ScriptInfo {
            id: ext.facts.id,
            region: ctx.scene.clone(),
            object_id: Uuid::nil(),
            name: ext.facts.domain.clone(),
            asset_id: Uuid::nil(),
            hash: ext.hash.clone(),
            uploader_id: user,
            owner_id: user,
            start_parameter: String::new(),
            grants: ext.grants.clone(),
            capability: ctx.capability,
        }))
    }

    /// Serve one request of extension `id` (the registered handler).
    pub fn serve(&self, id: Uuid, ctx: &RequestContext, request: &DecodedRequest) -> Result<Reply, HandlerError> {
        let ext = self
            .get(id)
            .ok_or_else(|| HandlerError::NotFound(format!("Unknown message type; {}", request.type_name)))?;
        let result = self.serve_on(&ext, ctx, request);
        match &result {
            Ok(_) => ext.handled.fetch_add(1, Ordering::Relaxed),
            Err(_) => ext.failed.fetch_add(1, Ordering::Relaxed),
        };
        result
    }

    fn serve_on(&self, ext: &Arc<Extension>, ctx: &RequestContext, request: &DecodedRequest) -> Result<Reply, HandlerError> {
        {
            let mut c = ext.control.lock();
            match c.state {
                RunState::Stopped => return Err(HandlerError::Failure(format!("extension {} is stopped", ext.domain()))),
                RunState::Faulted => {
                    let reason = c.fault.map_or("unknown", |f| f.as_str());
                    return Err(HandlerError::Failure(format!("extension {} is faulted: {reason}", ext.domain())));
                }
                RunState::Running => {}
            }
            if let Some(until) = c.backoff_until {
                if Instant::now() < until {
                    let reason = c.fault.map_or("unknown", |f| f.as_str());
                    return Err(HandlerError::Failure(format!("extension {} is restarting after a fault ({reason})", ext.domain())));
                }
                c.backoff_until = None;
            }
        }
        let acting = self.acting_for(ext, ctx)?;
        let guest_request = self.guest_request(ctx, request)?;
        let Some(mut live) = self.acquire(ext, true)? else {
            return Err(HandlerError::Limited(format!("extension {} is busy", ext.domain())));
        };
        live.store.data_mut().acting = acting;
        let fuel = self.calls.limits.event_fuel();
        let call = |live: &mut LiveExt| {
            begin_event(&mut live.store, fuel, TurnClock::now()).and_then(|()| {
                let started = Instant::now();
                let r = live
                    .bindings
                    .opensim_dispatcher_domain()
                    .call_handle(&mut live.store, &guest_request)
                    .map_err(|e| classify(&e, live.store.data().limiter.refused));
                charge(&live.store, started);
                r
            })
        };
        let outcome = call(&mut live);
        match outcome {
            Ok(answer) => {
                live.store.data_mut().acting = ext.installer.clone();
                self.release(ext, Some(live));
                match answer {
                    Ok(reply) => self.reply(ext, reply.message_type, &reply.body, request.encoding),
                    Err(text) => Err(HandlerError::Failure(text)),
                }
            }
            Err(fault) => {
                drop(live);
                self.release(ext, None);
                Err(self.fault(ext, fault))
            }
        }
    }

    /// Start one instance now (running `on-start`) unless one exists: install,
    /// start, update and host start, so that an extension's timer runs
    /// without waiting for a request. A fault counts like any other.
    /// In grid mode only where [`Placement::warms`] says so.
    pub fn warm(&self, ext: &Arc<Extension>) {
        if !self.placement.warms(ext.facts.scope.as_deref()) || !self.may_run(ext) || !ext.pool.lock().idle.is_empty() {
            return;
        }
        if let Ok(Some(live)) = self.acquire(ext, false) {
            self.release(ext, Some(live));
        }
    }

    /// Running and not in a backoff (whose end is cleared here).
    fn may_run(&self, ext: &Extension) -> bool {
        let mut c = ext.control.lock();
        if c.state != RunState::Running {
            return false;
        }
        match c.backoff_until {
            Some(until) if Instant::now() < until => false,
            Some(_) => {
                c.backoff_until = None;
                true
            }
            None => true,
        }
    }

    /// Run `on-timer` once on an idle (or new) instance, as the installer;
    /// nothing when the extension may not run or all its instances are busy.
    /// A host-wide extension's timer runs only where
    /// [`Placement::runs_host_wide_timers`] (one host of a grid).
    fn run_timer(&self, ext: &Arc<Extension>) {
        ext.script.timer_pending.store(false, Ordering::Release);
        if (ext.facts.scope.is_none() && !self.placement.runs_host_wide_timers()) || !self.may_run(ext) {
            return;
        }
        let mut live = match self.acquire(ext, false) {
            Ok(Some(live)) => live,
            Ok(None) | Err(_) => return,
        };
        live.store.data_mut().acting = ext.installer.clone();
        let outcome = begin_event(&mut live.store, self.calls.limits.event_fuel(), TurnClock::now()).and_then(|()| {
            let started = Instant::now();
            let r = live
                .bindings
                .opensim_dispatcher_domain()
                .call_on_timer(&mut live.store)
                .map_err(|e| classify(&e, live.store.data().limiter.refused));
            charge(&live.store, started);
            r
        });
        match outcome {
            Ok(()) => self.release(ext, Some(live)),
            Err(fault) => {
                drop(live);
                self.release(ext, None);
                let _ = self.fault(ext, fault);
            }
        }
    }

    /// The caller's names, level and estate role, looked up at most once per
    /// [`CALLER_TTL`] per account and scene (a change of level or role
    /// reaches extensions within that).
    fn caller_facts(&self, ctx: &RequestContext) -> CallerFacts {
        let account_id = ctx.user.as_ref().map_or(Uuid::nil(), |u| u.id);
        let key = (account_id, ctx.scene.clone());
        if let Some((at, facts)) = self.callers.lock().get(&key) {
            if at.elapsed() < CALLER_TTL {
                return facts.clone();
            }
        }
        let directory = &ctx.services.directory;
        let (first_name, last_name, level) = match &ctx.user {
            Some(user) => {
                let account = directory.account_by_id(user.id).ok().flatten();
                let (first, last) = match &account {
                    Some(a) => (a.first_name.clone(), a.last_name.clone()),
                    None => {
                        let mut parts = user.name.splitn(2, ' ');
                        (parts.next().unwrap_or("").to_owned(), parts.next().unwrap_or("").to_owned())
                    }
                };
                (first, last, account.map_or(0, |a| a.level))
            }
            None => (String::new(), String::new(), 0),
        };
        let role = match directory.scene(&ctx.scene).ok().flatten() {
            Some(s) if !account_id.is_nil() && s.estate_owner == account_id => "owner",
            Some(s) if s.estate_managers.contains(&account_id) => "manager",
            _ => "none",
        };
        let facts = CallerFacts {
            first_name,
            last_name,
            level,
            role,
        };
        let mut callers = self.callers.lock();
        if callers.len() >= CALLER_CACHE_ENTRIES {
            callers.clear();
        }
        callers.insert(key, (Instant::now(), facts.clone()));
        facts
    }

    /// The guest's view of a request: the body as JSON without envelope members.
    fn guest_request(&self, ctx: &RequestContext, request: &DecodedRequest) -> Result<GuestRequest, HandlerError> {
        let members: Vec<(String, Value)> = match &request.root {
            Value::Object(m) => m
                .iter()
                .filter(|(k, _)| !(k.starts_with('_') || k.starts_with('$')))
                .cloned()
                .collect(),
            _ => Vec::new(),
        };
        let body = dispatcher_protocol::json::to_string(&Value::Object(members));
        let account_id = ctx.user.as_ref().map_or(Uuid::nil(), |u| u.id);
        let caller = self.caller_facts(ctx);
        Ok(GuestRequest {
            message_type: request.type_name.clone(),
            body,
            caller: Caller {
                account_id: account_id.to_string(),
                first_name: caller.first_name,
                last_name: caller.last_name,
                user_level: caller.level,
                estate_role: caller.role.to_owned(),
            },
            scene: ctx.scene.clone(),
            transport: match ctx.transport {
                Transport::Http { .. } => GuestTransport::Http,
                Transport::Udp => GuestTransport::Udp,
                Transport::Script => GuestTransport::Script,
            },
            asynchronous: request.envelope.async_request || ctx.transport == Transport::Udp,
        })
    }

    /// The guest's `ok(reply)` as a protocol reply: a described reply type,
    /// a JSON object within `MaxReplyBytes`; the host adds `_Success`.
    /// Members named `_…` or `$…` (the envelope's) are dropped. A JSON
    /// request's reply passes the guest's text through once one scan has
    /// checked it (`json_scan`); BSON, and text the scan is not sure of, go
    /// through the value tree, whose checks and refusals are the same.
    fn reply(&self, ext: &Extension, type_name: String, body: &str, encoding: Encoding) -> Result<Reply, HandlerError> {
        let d = ext.domain();
        if body.len() > self.limits.max_reply_bytes {
            return Err(HandlerError::Failure(format!(
                "extension {d} replied {} bytes, over MaxReplyBytes ({})",
                body.len(),
                self.limits.max_reply_bytes
            )));
        }
        if !ext.types.iter().any(|t| t.reply_type == type_name) {
            return Err(HandlerError::Failure(format!(
                "extension {d} replied with type {}, which it did not describe",
                dispatcher_dispatch::escape(&type_name)
            )));
        }
        let keep = |k: &str| !(k.starts_with('_') || k.starts_with('$'));
        if encoding == Encoding::Json {
            if let Some(raw) = checked_members(body, self.dispatcher().limits(), keep) {
                return Ok(Reply {
                    type_name: type_name.into(),
                    fields: Vec::new(),
                    raw_members: Some(raw),
                    code: ResponseCode::Success,
                    message: String::new(),
                });
            }
        }
        let parsed = dispatcher_protocol::json::decode(body.as_bytes(), self.dispatcher().limits());
        let Ok(Some(Value::Object(members))) = parsed else {
            return Err(HandlerError::Failure(format!("extension {d} replied a body that is not a JSON object")));
        };
        let fields = members.into_iter().filter(|(k, _)| keep(k)).collect();
        Ok(Reply {
            type_name: type_name.into(),
            fields,
            raw_members: None,
            code: ResponseCode::Success,
            message: String::new(),
        })
    }

    /// Register the extension's request types in the pipeline.
    pub(crate) fn register(&self, ext: &Extension) -> Result<(), String> {
        let registry = self.dispatcher().registry();
        let grant = format!("{}{}", crate::grants::EXT_PREFIX, ext.domain());
        let mut done: Vec<&str> = Vec::new();
        for t in &ext.types {
            let me = self.me.clone();
            let id = ext.facts.id;
            let handler = Box::new(move |ctx: &RequestContext, req: &DecodedRequest| match me.upgrade() {
                Some(host) => host.serve(id, ctx, req),
                None => Err(HandlerError::Failure("the extension host is shutting down".into())),
            });
            let ok =
                registry.register_dynamic(ext.facts.scope.as_deref(), ext.domain(), &t.request_type, &t.request_default, &grant, handler);
            if !ok {
                for name in done {
                    registry.unregister(ext.facts.scope.as_deref(), ext.domain(), name);
                }
                return Err(format!("{} is already served", t.request_type));
            }
            done.push(&t.request_type);
        }
        Ok(())
    }

    pub(crate) fn unregister(&self, ext: &Extension) {
        let registry = self.dispatcher().registry();
        for t in &ext.types {
            registry.unregister(ext.facts.scope.as_deref(), ext.domain(), &t.request_type);
        }
    }
}

impl ExtensionTimers for ExtensionHost {
    fn fire(&self, extension: Uuid, generation: u64) -> bool {
        let Some(ext) = self.get(extension) else { return false };
        if ext.script.timer.lock().generation != generation || ext.control.lock().state != RunState::Running {
            return false;
        }
        if !ext.script.timer_pending.swap(true, Ordering::AcqRel) && self.due.lock().send(extension).is_err() {
            ext.script.timer_pending.store(false, Ordering::Release);
        }
        true
    }
}

/// The `ext-timers` thread: `on-timer` for each due extension, one at a
/// time (each within the request budget), until the host stops.
fn timer_thread(host: &Weak<ExtensionHost>, due: &Receiver<Uuid>) {
    loop {
        let next = due.recv_timeout(TIMER_POLL);
        let Some(host) = host.upgrade() else { return };
        if host.calls.is_stopping() {
            return;
        }
        match next {
            Ok(id) => {
                if let Some(ext) = host.get(id) {
                    host.run_timer(&ext);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Charge an event's guest time (host calls excluded) and memory to the
/// extension's counters.
fn charge(store: &Store<HostState>, started: Instant) {
    let data = store.data();
    let used = started.elapsed().saturating_sub(data.meter.host_time);
    data.script
        .counters
        .cpu_micros
        .fetch_add(used.as_micros() as u64, Ordering::Relaxed);
    data.script
        .counters
        .memory_bytes
        .store(data.limiter.used_bytes() as u64, Ordering::Relaxed);
}
