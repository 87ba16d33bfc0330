//! `dispatcher serve`: open the store, seed a first run, bind the listeners,
//! print the readiness line, and run until SIGINT or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use dispatcher_dispatch::{Bindings, Dispatcher};
use dispatcher_protocol::DecodeLimits;
use dispatcher_store::{NewAccount, NewRegion, Store};
use tokio::net::UdpSocket;
use tokio::sync::watch;

use crate::callbacks::UdpCallbackSink;
use crate::config::HostConfig;
use crate::directory::StoreDirectory;
use crate::http::{self, HttpState};

/// Name of the region a first run creates.
pub const FIRST_REGION: &str = "Test Region";

/// A host that has bound its listeners.
pub struct Running {
    pub http_addr: SocketAddr,
    pub udp_addr: SocketAddr,
    pub dispatcher: Dispatcher,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The RemoteControl domain and its tick, when enabled.
    pub remote_control: Option<RemoteControlRunning>,
    /// The WebAssembly script host.
    pub scripts: Arc<dispatcher_scripting::ScriptHost>,
    /// `ShutdownTimeoutMs`: the bound of [`Running::stop`] before the flush.
    shutdown_timeout: Duration,
    /// Grid mode: the grid, the leases and the regions served here.
    pub grid: Option<crate::grid_host::GridRunning>,
}

/// The RemoteControl domain with its running tick.
pub struct RemoteControlRunning {
    pub domain: Arc<dispatcher_remote_control::RemoteControl>,
    tick: dispatcher_remote_control::TickHandle,
}

impl RemoteControlRunning {
    /// Load every region (standalone) or none (grid mode: they come with
    /// their leases), register the handlers, start the tick.
    fn start(config: &HostConfig, store: Arc<Store>, dispatcher: &Dispatcher, grid: bool) -> anyhow::Result<Option<Self>> {
        let rc_config = &config.remote_control;
        if !rc_config.enabled {
            return Ok(None);
        }
        let selection = if grid {
            dispatcher_remote_control::RegionSelection::None
        } else {
            dispatcher_remote_control::RegionSelection::All
        };
        let domain = dispatcher_remote_control::RemoteControl::load_selected(
            store,
            dispatcher.services().clone(),
            dispatcher_scene::SceneLimits::default(),
            dispatcher_remote_control::RemoteControlLimits {
                oar: config.oar.clone(),
                ..Default::default()
            },
            selection,
        )
        .context("cannot load the RemoteControl regions")?;
        domain.register(dispatcher.registry(), &rc_config.domain);
        let tick = dispatcher_remote_control::start_tick(&domain, rc_config.tick_rate_hz);
        Ok(Some(RemoteControlRunning { domain, tick }))
    }

    /// Stop the tick, then commit what the write-behind holds.
    fn stop(self) {
        self.tick.stop();
        self.domain.flush();
    }
}

impl Running {
    /// Stop accepting, finish open requests, interrupt every script, drain
    /// the queue, flush the write-behind. Waiting for listeners, scripts and
    /// the queue is bounded by `ShutdownTimeoutMs` together, whatever the
    /// guests or clients are doing; the flush always runs.
    pub async fn stop(self) {
        let deadline = tokio::time::Instant::now() + self.shutdown_timeout;
        let _ = self.shutdown.send(true);
        // Grid mode: no region comes or goes from here on; the leases stay
        // held (and renewed) until the final flush has committed.
        if let Some(grid) = &self.grid {
            grid.stop_following();
        }
        for t in self.tasks {
            if tokio::time::timeout_at(deadline, t).await.is_err() {
                tracing::warn!("a listener was still busy at the shutdown deadline");
            }
        }
        // Scripts first: they send requests into the queue and the domains.
        // Half of what is left for them, the rest for the queue.
        let scripts = self.scripts.clone();
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let scripts_done = tokio::task::spawn_blocking(move || scripts.shutdown_within(left / 2));
        if !matches!(tokio::time::timeout_at(deadline, scripts_done).await, Ok(Ok(true))) {
            tracing::warn!("script threads still busy at the shutdown deadline; going on");
        }
        let d = self.dispatcher.clone();
        if tokio::time::timeout_at(deadline, tokio::task::spawn_blocking(move || d.shutdown()))
            .await
            .is_err()
        {
            tracing::warn!("the request queue was still busy at the shutdown deadline; going on");
        }
        if let Some(rc) = self.remote_control {
            let _ = tokio::task::spawn_blocking(move || rc.stop()).await;
        }
        if let Some(grid) = self.grid {
            grid.hand_over().await;
        }
    }
}

/// Create the first region and, with no account at all, its owner `Test User`
/// with a random password printed once and saved to `first-run.txt` (0600).
pub fn seed_first_run(store: &Store, data_dir: &Path) -> anyhow::Result<()> {
    if !store.list_regions()?.is_empty() {
        return Ok(());
    }
    let owner = match store.list_accounts()?.into_iter().next() {
        Some(a) => a,
        None => {
            let password: String = {
                use rand::Rng;
                let mut rng = rand::rng();
                (0..20)
                    .map(|_| {
                        const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
                        ALPHABET[rng.random_range(0..ALPHABET.len())] as char
                    })
                    .collect()
            };
            let account = store.create_account(&NewAccount {
                first_name: "Test".into(),
                last_name: "User".into(),
                password: password.clone(),
                ..Default::default()
            })?;
            store.create_inventory(&dispatcher_scene::Inventory::standard(account.id, &mut uuid::Uuid::new_v4))?;
            let note = format!("First run: created account \"Test User\" ({}) with password {password}\n", account.id);
            eprint!("{note}");
            write_private(&data_dir.join("first-run.txt"), note.as_bytes())?;
            account
        }
    };
    store.create_region(&NewRegion {
        name: FIRST_REGION.into(),
        owner: owner.id,
        ..Default::default()
    })?;
    tracing::info!(region = FIRST_REGION, owner = %owner.id, "first run: region created");
    Ok(())
}

fn write_private(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(data)?;
    f.sync_all()?;
    Ok(())
}

/// Bind everything and start serving; returns once the listeners are up.
pub async fn start(config: &HostConfig, store: Arc<Store>) -> anyhow::Result<Running> {
    start_with(config, store, None).await
}

/// As [`start`]; with a grid (`Mode = grid`, the store on its PostgreSQL and
/// fenced by this host's name) capabilities are grid-wide and the regions,
/// their scripts and handlers follow this host's leases.
pub async fn start_with(config: &HostConfig, store: Arc<Store>, grid: Option<dispatcher_grid::Grid>) -> anyhow::Result<Running> {
    let limits = DecodeLimits {
        max_body_bytes: config.max_body_bytes,
        ..DecodeLimits::default()
    };
    let sink = Arc::new(UdpCallbackSink::bind().context("cannot open the callback socket")?);
    // REST runs only when both switches are on (rest-inventory.md §2).
    let dispatcher = Dispatcher::new(config.dispatcher.clone(), Arc::new(StoreDirectory(store.clone())), sink, limits);
    // One login throttle for CreateCapability and REST alike.
    let login = dispatcher.services().login.clone();
    let rest = config
        .rest
        .active()
        .then(|| Arc::new(dispatcher_rest::RestService::with_login(config.rest.clone(), store.clone(), login)));
    if let Some(grid) = &grid {
        dispatcher
            .services()
            .capabilities
            .set_backing(grid.capability_backing())
            .map_err(|e| anyhow::anyhow!("cannot make capabilities grid-wide: {e:?}"))?;
        dispatcher
            .services()
            .endpoints
            .set_backing(grid.endpoint_backing())
            .map_err(|e| anyhow::anyhow!("cannot make endpoints grid-wide: {e}"))?;
    }
    let remote_control = RemoteControlRunning::start(config, store.clone(), &dispatcher, grid.is_some())?;
    // After the domains: scripts brought back from the store start at once.
    // With RemoteControl the runtime sees the live scene directly (and lists
    // scripts in object inventories); without it, through the message path.
    let scene_hooks = remote_control
        .as_ref()
        .map(|rc| Arc::new(crate::script_scene::RemoteControlScene(rc.domain.clone())) as Arc<dyn dispatcher_scripting::SceneHooks>);
    let script_regions = if grid.is_some() {
        dispatcher_scripting::ScriptRegions::None
    } else {
        dispatcher_scripting::ScriptRegions::All
    };
    let scripts = Arc::new(
        dispatcher_scripting::ScriptHost::start_selected(
            dispatcher.clone(),
            store.clone(),
            &config.data_dir,
            config.scripting.clone(),
            scene_hooks,
            script_regions,
        )
        .context("cannot start the script host")?,
    );
    // Extensions after the scripts (a calling script is looked up among them).
    let extensions = scripts
        .start_extensions(config.extensions.clone(), script_regions)
        .context("cannot start the extension host")?;
    let http_listener = http::bind_listener(&config.listen_host, config.http_port)
        .await
        .with_context(|| format!("cannot listen for HTTP on {}:{}", config.listen_host, config.http_port))?;
    let udp = UdpSocket::bind((config.listen_host.as_str(), config.dispatcher.udp_port))
        .await
        .with_context(|| format!("cannot listen for UDP on {}:{}", config.listen_host, config.dispatcher.udp_port))?;
    let http_addr = http_listener.local_addr()?;
    let udp_addr = udp.local_addr()?;
    let host = &config.dispatcher.host_address;
    dispatcher.set_bindings(Bindings {
        asynchronous: format!("{host}:{}", udp_addr.port()),
        synchronous: format!("http://{host}:{}{}", http_addr.port(), config.dispatcher.http_path),
    });

    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let http_path = if config.dispatcher.enabled {
        config.dispatcher.http_path.clone()
    } else {
        // CORE-90: a disabled dispatcher serves nothing; no path can match this.
        "\0disabled\0".into()
    };
    let events_path = format!("{}/events", http_path.trim_end_matches('/'));
    let dashboard = crate::dashboard::Dashboard::new(&http_path, &events_path, &config.metrics.path);
    let streams = Arc::new(crate::event_stream::StreamCounters::default());
    let connections = Arc::new(crate::metrics::ConnectionCounters::default());
    let events = (config.events.enabled && config.dispatcher.enabled).then(|| {
        crate::event_stream::EventStreams::new(
            dispatcher.clone(),
            remote_control.as_ref().map(|rc| rc.domain.clone()),
            config.remote_control.domain.clone(),
            dispatcher_scripting::grants::SCRIPTING.to_owned(),
            config.events.clone(),
            streams.clone(),
        )
        .map(Arc::new)
    });
    let events = match events {
        Some(Ok(events)) => Some(events),
        Some(Err(e)) => anyhow::bail!("cannot start the event streams' runtime: {e}"),
        None => None,
    };
    // Grid mode: requests for regions served elsewhere go to their owner.
    let forward = grid.as_ref().map(|grid| {
        let rc = remote_control.as_ref().map(|rc| rc.domain.clone());
        let local: crate::grid_scenes::LocalScenes = Arc::new(move |name: &str| rc.as_ref().is_some_and(|rc| rc.region(name).is_some()));
        crate::grid_scenes::install(&dispatcher, grid, store.clone(), local)
    });
    let udp_forward = forward.clone().map(|forwarder| crate::udp::UdpForward {
        forwarder,
        http_path: http_path.clone(),
    });
    let state = Arc::new(HttpState {
        dispatcher: dispatcher.clone(),
        dashboard,
        http_path,
        limits: config.http.clone(),
        max_body_bytes: config.max_body_bytes,
        rest,
        metrics: config.metrics.enabled.then(|| http::MetricsEndpoint {
            path: config.metrics.path.clone(),
            bearer_token: config.metrics.bearer_token.clone(),
            metrics: crate::metrics::Metrics::new(crate::metrics::MetricsSource {
                dispatcher: dispatcher.clone(),
                remote_control: remote_control.as_ref().map(|rc| rc.domain.clone()),
                scripts: scripts.clone(),
                database: store.path().to_path_buf(),
                store: store.clone(),
                started: std::time::Instant::now(),
                per_script: config.metrics.per_script,
                streams,
                connections: connections.clone(),
            }),
        }),
        events,
        connections,
        forward,
        shutdown: shutdown_rx.clone(),
    });
    tasks.push(tokio::spawn(http::serve(http_listener, state, shutdown_rx.clone())));
    if config.dispatcher.enabled {
        tasks.push(tokio::spawn(crate::udp::serve(Arc::new(udp), dispatcher.clone(), udp_forward, shutdown_rx.clone())));
    }
    let sweeper = dispatcher.clone();
    let period = Duration::from_millis(config.dispatcher.sweep_period_ms());
    let mut sweep_shutdown = shutdown_rx.clone();
    tasks.push(tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tokio::select! {
                _ = tick.tick() => sweeper.sweep(),
                _ = sweep_shutdown.changed() => break,
            }
        }
    }));
    // Grid mode: leases start once the listeners are up (a region's scripts
    // may send requests as soon as they start).
    let grid = grid.map(|grid| {
        crate::grid_host::GridRunning::start(
            grid,
            store.clone(),
            dispatcher.clone(),
            remote_control.as_ref().map(|rc| rc.domain.clone()),
            config.remote_control.domain.clone(),
            scripts.clone(),
            extensions.clone(),
        )
    });
    Ok(Running {
        grid,
        http_addr,
        udp_addr,
        dispatcher,
        shutdown,
        tasks,
        remote_control,
        scripts,
        shutdown_timeout: Duration::from_millis(config.shutdown_timeout_ms),
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Grid mode: join the grid, open the store on its PostgreSQL (fenced by
/// this host's name) and seed a first run once for the whole grid.
fn join_grid(config: &HostConfig, runtime: &tokio::runtime::Runtime) -> anyhow::Result<(Arc<Store>, dispatcher_grid::Grid)> {
    let grid = runtime.block_on(dispatcher_grid::Grid::connect(&config.grid))?;
    let store = Arc::new(open_grid_store(config)?);
    store.set_grid_host(Some(grid.host_name().to_owned()));
    std::fs::create_dir_all(&config.data_dir).with_context(|| format!("cannot create the data directory {}", config.data_dir.display()))?;
    let (seed_store, data_dir) = (store.clone(), config.data_dir.clone());
    // Under a grid-wide lock: hosts starting together create one first region.
    runtime
        .block_on(grid.exclusive(dispatcher_grid::SEED_LOCK, move || seed_first_run(&seed_store, &data_dir)))?
        .context("cannot seed the grid's first run")?;
    Ok((store, grid))
}

/// The store on the grid's PostgreSQL (`[Grid] DatabaseUrl`).
pub fn open_grid_store(config: &HostConfig) -> anyhow::Result<Store> {
    let Some(url) = config.grid.database_url.as_deref() else {
        anyhow::bail!("[Grid] DatabaseUrl is not set; grid mode keeps everything in PostgreSQL");
    };
    Store::open_postgres(url, &dispatcher_store::PgOptions::default())
        .with_context(|| format!("[Grid] DatabaseUrl = {}: cannot open the store", dispatcher_grid::config::redact_url(url)))
}

/// Run the host in the foreground until a signal arrives.
pub fn run(config: HostConfig) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("dispatcher")
        .build()
        .context("cannot start the runtime")?;
    let (store, grid, mut lock) = if config.grid.is_grid() {
        let (store, grid) = join_grid(&config, &runtime)?;
        (store, Some(grid), None)
    } else {
        // Taken before the store is opened and held until the host has stopped.
        let lock = crate::datalock::DataLock::acquire(&config.data_dir, "serve").map_err(|e| match e {
            crate::datalock::LockError::Held { dir, holder } => anyhow::anyhow!(
                "cannot serve: the data directory {} is already in use by {holder}; stop it first or give this host its own --data-dir",
                dir.display()
            ),
            e => anyhow::Error::new(e),
        })?;
        let store = Arc::new(
            Store::open(&config.data_dir).with_context(|| format!("cannot open the data directory {}", config.data_dir.display()))?,
        );
        seed_first_run(&store, &config.data_dir)?;
        (store, None, Some(lock))
    };
    runtime.block_on(async {
        let running = start_with(&config, store, grid).await?;
        if let Some(lock) = lock.as_mut() {
            lock.record(Some(&running.http_addr.to_string()))?;
        }
        crate::console::spawn(running.dispatcher.clone());
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "dispatcher ready http={} udp={}", running.http_addr, running.udp_addr)?;
            out.flush()?;
        }
        tracing::info!(http = %running.http_addr, udp = %running.udp_addr, "serving");
        wait_for_signal().await;
        tracing::info!("shutting down");
        running.stop().await;
        anyhow::Ok(())
    })?;
    // Threads left behind at the deadline (a guest stuck in a host call) do
    // not hold the exit back.
    runtime.shutdown_timeout(Duration::from_millis(200));
    drop(lock);
    tracing::info!("stopped cleanly");
    Ok(())
}
