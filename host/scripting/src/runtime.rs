//! The script host, the public face of the runtime: [`ScriptHost::start`]
//! builds the engine and the runtime's parts and wires them, each with only
//! the handles it needs:
//!
//! | part | module | reaches |
//! | --- | --- | --- |
//! | runners (pool + express) | `runner` | run queue, lifecycle, call context |
//! | run queue, `deliver` | `run_queue` | scripts' event queues |
//! | scheduler, epoch ticker | `scheduler` | script table, run queue; engine epoch, clock |
//! | event router | `router` | script table, run queue, scene, lifecycle |
//! | lifecycle, persistence | `lifecycle` | script table, store, engine, run queue, scheduler |
//! | `Scripting` domain | `domain` | lifecycle, compile pool |
//! | host calls | `instance` (`CallContext`) | dispatcher, store, scene, scheduler, clock |

use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dispatcher_dispatch::Dispatcher;
use dispatcher_store::Store;
use parking_lot::Mutex;
use uuid::Uuid;

use crate::compile_pool::CompilePool;
use crate::cpu_clock::TurnClock;
use crate::engine::ScriptEngine;
use crate::error::ScriptingError;
use crate::instance::{self, CallContext};
use crate::lifecycle::Lifecycle;
use crate::limits::ScriptingLimits;
use crate::router::Router;
use crate::run_queue::RunQueue;
use crate::runner::Runner;
use crate::scene::SceneHooks;
use crate::scheduler::{self, Scheduler};
use crate::script::{Event, Script};
use crate::stop::StopFlag;
use crate::table::ScriptTable;

/// Queue length of the runtime's scene-event subscription.
const EVENT_SUBSCRIPTION_CAPACITY: usize = 16_384;

/// Every handle of the runtime, held by the host that wires them (no part
/// of the runtime holds this: each gets only its own handles).
pub struct Handles {
    pub engine: Arc<ScriptEngine>,
    scripts: Arc<ScriptTable>,
    run_queue: Arc<RunQueue>,
    scheduler: Arc<Scheduler>,
    lifecycle: Arc<Lifecycle>,
    calls: Arc<CallContext>,
    /// Where uploads compile (bounded threads and queue, off the request path).
    pub compiles: Arc<CompilePool>,
    stop: StopFlag,
}

impl Handles {
    /// A script of the host.
    pub fn get(&self, id: Uuid) -> Option<Arc<Script>> {
        self.scripts.get(id)
    }

    /// Every script of the host (metrics read their counters at scrape time).
    pub fn scripts(&self) -> Vec<Arc<Script>> {
        self.scripts.all()
    }

    /// Queue an event for a script, as the router and the scheduler do;
    /// guest events need a running script and room in its queue.
    pub fn deliver(&self, script: &Arc<Script>, event: Event) -> bool {
        self.run_queue.deliver(script, event)
    }
}

/// Which regions' scripts [`ScriptHost::start_selected`] brings up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptRegions {
    /// Every region's (standalone).
    All,
    /// None yet; each comes with [`ScriptHost::start_region`] (grid mode).
    None,
}

/// The running script host.
pub struct ScriptHost {
    /// The runtime's handles (benchmarks and tests reach the engine and the
    /// scripts through them).
    pub shared: Handles,
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
        Self::start_selected(dispatcher, store, data_dir, limits, scene, ScriptRegions::All)
    }

    /// As [`ScriptHost::start`]; with [`ScriptRegions::None`] (grid mode) no
    /// region's scripts or `Scripting` handlers come up until
    /// [`ScriptHost::start_region`] names it.
    pub fn start_selected(
        dispatcher: Dispatcher,
        store: Arc<Store>,
        data_dir: &Path,
        limits: ScriptingLimits,
        scene: Option<Arc<dyn SceneHooks>>,
        regions: ScriptRegions,
    ) -> Result<ScriptHost, ScriptingError> {
        let engine = Arc::new(ScriptEngine::new(&limits, data_dir)?);
        let compiles = Arc::new(CompilePool::new(limits.max_concurrent_compiles, limits.compile_queue_length)?);
        let scene = scene.unwrap_or_else(|| Arc::new(crate::scene::MessagePathScene::new(dispatcher.clone())));
        let stop = StopFlag::default();
        let scripts = Arc::new(ScriptTable::default());
        let run_queue = Arc::new(RunQueue::new(limits.event_queue_length, stop.clone()));
        let scheduler = Arc::new(Scheduler::default());
        let clock = Arc::new(scheduler::EpochClock::default());
        let lifecycle = Arc::new(Lifecycle {
            limits: limits.clone(),
            dispatcher: dispatcher.clone(),
            store: store.clone(),
            scene: scene.clone(),
            engine: engine.clone(),
            scripts: scripts.clone(),
            components: Mutex::new(()),
            run_queue: run_queue.clone(),
            scheduler: scheduler.clone(),
            swaps: Mutex::new(Default::default()),
        });
        let calls = Arc::new(CallContext {
            limits: limits.clone(),
            dispatcher: dispatcher.clone(),
            store,
            scene: scene.clone(),
            clock: clock.clone(),
            scheduler: scheduler.clone(),
            stop: stop.clone(),
        });
        let mut threads = Vec::new();
        let runner = Arc::new(Runner {
            run_queue: run_queue.clone(),
            lifecycle: lifecycle.clone(),
            calls: calls.clone(),
            stop: stop.clone(),
            events_per_turn: limits.events_per_turn,
        });
        for n in 0..limits.runner_threads.max(1) {
            let r = runner.clone();
            threads.push(spawn(&format!("script-runner-{n}"), move || r.run(false))?);
        }
        let r = runner;
        threads.push(spawn("script-runner-express", move || r.run(true))?);
        let (s, table, queue, halt) = (scheduler.clone(), scripts.clone(), run_queue.clone(), stop.clone());
        threads.push(spawn("script-scheduler", move || s.run(&table, &queue, &halt))?);
        let (wasm, halt) = (engine.engine.clone(), stop.clone());
        threads.push(spawn("script-epoch", move || scheduler::run_epoch_ticker(&wasm, &clock, &halt))?);
        let router = Router {
            scripts: scripts.clone(),
            run_queue: run_queue.clone(),
            scene,
            lifecycle: lifecycle.clone(),
        };
        let subscription = dispatcher.services().events.subscribe(EVENT_SUBSCRIPTION_CAPACITY);
        let halt = stop.clone();
        threads.push(spawn("script-events", move || router.run(subscription, &halt))?);
        if regions == ScriptRegions::All {
            crate::domain::register(&lifecycle, &compiles);
            lifecycle.load_persisted()?;
        }
        Ok(ScriptHost {
            shared: Handles {
                engine,
                scripts,
                run_queue,
                scheduler,
                lifecycle,
                calls,
                compiles,
                stop,
            },
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
            .scripts
            .get(script)
            .ok_or_else(|| ScriptingError::Engine(format!("no script {script}")))?;
        let compiled = self
            .shared
            .lifecycle
            .compiled_for(&script)
            .map_err(|e| ScriptingError::Engine(format!("cannot load the component: {e}")))?;
        let turn = TurnClock::now();
        let started = Instant::now();
        let live = instance::instantiate(&self.shared.calls, &script, &compiled.pre, turn)
            .map_err(|fault| ScriptingError::Engine(format!("instantiation failed: {}", fault.as_str())))?;
        let took = started.elapsed();
        drop(live);
        Ok(took)
    }

    /// Grid mode: this host now owns `region`: register the `Scripting`
    /// handlers for it and bring back its stored scripts (running ones get
    /// `on-start`). Returns how many scripts were loaded.
    pub fn start_region(&self, region: &str) -> Result<usize, ScriptingError> {
        crate::domain::register_scene(&self.shared.lifecycle, &self.shared.compiles, region);
        self.shared.lifecycle.load_region(region)
    }

    /// Grid mode: this host no longer owns `region`: its `Scripting`
    /// handlers go, its scripts are interrupted and dropped from this host
    /// (nothing is written: the new owner holds their state). Waits at most
    /// `within` for running events. Returns how many scripts were dropped.
    pub fn stop_region(&self, region: &str, within: Duration) -> usize {
        self.shared
            .lifecycle
            .dispatcher
            .registry()
            .unregister_scene(region, crate::grants::SCRIPTING);
        self.shared.lifecycle.evict_region(region, within)
    }

    /// Start the extension runtime on this host's engine, compile pool,
    /// limits and scripts (a calling script is found among them), register
    /// the `Extensions` domain and bring back every persisted extension.
    /// With [`ScriptRegions::None`] (grid mode) region-scoped extensions come
    /// with their region (`ExtensionHost::start_region`) and host-wide ones
    /// answer requests but run their timers only once
    /// `ExtensionHost::set_host_wide_timers` turns them on.
    pub fn start_extensions(
        &self,
        limits: crate::extension::ExtensionLimits,
        regions: ScriptRegions,
    ) -> Result<Arc<crate::extension::ExtensionHost>, ScriptingError> {
        let h = &self.shared;
        let placement = match regions {
            ScriptRegions::All => crate::extension::Placement::all(),
            ScriptRegions::None => crate::extension::Placement::grid(),
        };
        let host = crate::extension::ExtensionHost::new(
            limits,
            h.calls.clone(),
            h.engine.clone(),
            h.compiles.clone(),
            h.scripts.clone(),
            placement,
        )?;
        crate::extension::domain::register(&host);
        crate::extension::domain::load_persisted(&host);
        Ok(host)
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
        self.shared.stop.set();
        self.shared.compiles.close();
        self.shared.run_queue.wake_all();
        self.shared.scheduler.wake();
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
        for s in self.shared.scripts.all() {
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
