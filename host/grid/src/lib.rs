//! Grid mode: many hosts sharing one PostgreSQL database (docs/grid.md).
//!
//! - [`Grid::connect`] opens the pool, creates or migrates the grid's tables
//!   and registers this host in `grid_hosts` (refusing a name another
//!   running host uses).
//! - [`Grid::run_leases`] starts the lease task: every `LeaseSeconds / 3` it
//!   heartbeats, renews this host's region leases and claims regions without
//!   a live lease, reporting [`LeaseEvent`]s; a takeover bumps the region's
//!   fencing epoch, which the store checks on every write.
//! - [`Grid::owner_of`] answers who owns a region from a cache kept fresh by
//!   each pass and by change notices (`LISTEN grid_changes`).
//! - [`Grid::release_all`] hands this host's regions over at once on a
//!   graceful shutdown.
//! - [`Grid::capability_backing`] makes a `CapabilityStore` grid-wide.
//!
//! PostgreSQL is the only source of truth: every expiry is computed with the
//! database's clock (`now()`), ownership changes are row updates, and hosts
//! keep caches only.

pub mod capabilities;
pub mod config;
mod db;
pub mod endpoints;
pub mod error;
mod hosts;
pub mod leases;
mod notices;
mod schema;
pub mod status;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::{Object, Pool};
use dispatcher_dispatch::{CapabilityCache, EndpointCache};
use parking_lot::{Mutex, RwLock};
use tokio::sync::{watch, Notify};
use uuid::Uuid;

pub use capabilities::GridCapabilities;

/// Told the id of an extension another host changed ([`Grid::on_extension_change`]).
pub type ExtensionListener = Arc<dyn Fn(ExtensionChange) + Send + Sync>;

/// What another host changed about extensions, for an [`ExtensionListener`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtensionChange {
    /// Extension `id` was installed, updated, started, stopped or removed.
    One(Uuid),
    /// The notice connection was down and has come back: any extension may
    /// have changed meanwhile, so every record is to be read again.
    All,
}
pub use config::{GridConfig, GridConfigError, GridMode};
pub use endpoints::GridEndpoints;
pub use error::GridError;
pub use leases::{LeaseEvent, LeaseTask, RegionRef, RegionSource};
pub use schema::{CHANGES_CHANNEL, VERSION as SCHEMA_VERSION};

/// The advisory lock key under which a first run seeds the grid.
pub const SEED_LOCK: i64 = 0x6469_7370_7365_6564; // "dispseed"
pub use status::{GridStatus, HostStatus, LeaseStatus};

/// Who owns a region, as this host last read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub host: String,
    pub advertise_url: String,
    pub epoch: i64,
    /// When the lease runs out (this host's clock, from the database's remaining time).
    pub expires: Instant,
}

/// A lease this host holds.
#[derive(Clone, Debug)]
pub(crate) struct Held {
    pub name: String,
    pub epoch: i64,
    /// The last moment this host may act as owner without another successful
    /// renewal: when the renewal was sent plus `LeaseSeconds` (never later
    /// than the database's expiry).
    pub valid_until: Instant,
}

/// A connection to the grid: cheap to clone, shared by the host's parts.
#[derive(Clone)]
pub struct Grid {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub config: GridConfig,
    pub name: String,
    pub advertise_url: String,
    pub incarnation: Uuid,
    pub pool: Pool,
    /// Leases held now, by region.
    pub held: Mutex<HashMap<Uuid, Held>>,
    /// Owners of every leased region (live or not), refreshed by each pass and on notices.
    pub owners: RwLock<HashMap<Uuid, Owner>>,
    /// Run a lease pass now (a lease changed hands or was released).
    pub wake: Notify,
    /// One lease pass (or release) at a time.
    pub pass_lock: tokio::sync::Mutex<()>,
    /// Set by [`Grid::release_all`]: no more claims or renewals.
    pub stopped: AtomicBool,
    /// Local capability tables to evict from on notices.
    pub caches: Mutex<Vec<CapabilityCache>>,
    /// Local endpoint tables to evict from on notices.
    pub endpoint_caches: Mutex<Vec<EndpointCache>>,
    /// Regions this host released because it could not serve them: not
    /// claimed again before the instant, with the failures in a row.
    pub backoff: Mutex<HashMap<Uuid, (Instant, u32)>>,
    /// Endpoint ids looked up and not found, when (endpoints.rs).
    pub endpoint_misses: Mutex<HashMap<Uuid, Instant>>,
    /// Called with an extension's id when another host changed it (`ext:` notices).
    pub extension_listeners: Mutex<Vec<ExtensionListener>>,
    /// Dropped with the grid: the background tasks end.
    pub closed: watch::Sender<()>,
    pub runtime: tokio::runtime::Handle,
}

impl Grid {
    /// Join the grid `config` describes (`Mode = grid`): connect, migrate,
    /// register this host. Errors name the `[Grid]` key to fix.
    pub async fn connect(config: &GridConfig) -> Result<Grid, GridError> {
        config.validate()?;
        let need = |v: &Option<String>, key: &'static str| {
            v.clone().ok_or(GridConfigError::Missing {
                key,
                hint: "grid mode needs it",
            })
        };
        if !config.is_grid() {
            return Err(GridConfigError::Invalid {
                key: "Mode",
                reason: "joining a grid needs Mode = grid".into(),
            }
            .into());
        }
        let url = need(&config.database_url, "DatabaseUrl")?;
        let name = need(&config.host_name, "HostName")?;
        let advertise_url = need(&config.advertise_url, "AdvertiseUrl")?;
        let pg = db::pg_config(&url)?;
        let pool = db::pool(pg.clone())?;
        let mut client = match tokio::time::timeout(db::CONNECT_TIMEOUT + Duration::from_secs(1), pool.get()).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => return Err(db::classify_connect(&url, e)),
            Err(_) => {
                return Err(GridError::Unreachable {
                    url: config::redact_url(&url),
                    reason: format!("no connection within {} s", db::CONNECT_TIMEOUT.as_secs()),
                })
            }
        };
        schema::migrate(&mut client).await?;
        let incarnation = Uuid::new_v4();
        hosts::register(&mut client, config, &name, &advertise_url, incarnation).await?;
        drop(client);
        let (closed, closed_rx) = watch::channel(());
        let inner = Arc::new(Inner {
            config: config.clone(),
            name,
            advertise_url,
            incarnation,
            pool,
            held: Mutex::new(HashMap::new()),
            owners: RwLock::new(HashMap::new()),
            wake: Notify::new(),
            pass_lock: tokio::sync::Mutex::new(()),
            stopped: AtomicBool::new(false),
            caches: Mutex::new(Vec::new()),
            endpoint_caches: Mutex::new(Vec::new()),
            backoff: Mutex::new(HashMap::new()),
            endpoint_misses: Mutex::new(HashMap::new()),
            extension_listeners: Mutex::new(Vec::new()),
            closed,
            runtime: tokio::runtime::Handle::current(),
        });
        let grid = Grid { inner };
        grid.refresh_owners().await?;
        tokio::spawn(notices::run(Arc::downgrade(&grid.inner), pg, closed_rx));
        tracing::info!(
            "grid: joined as {} ({}), lease {} s",
            grid.inner.name,
            grid.inner.advertise_url,
            grid.inner.config.lease_seconds
        );
        Ok(grid)
    }

    /// This host's `HostName`.
    pub fn host_name(&self) -> &str {
        &self.inner.name
    }

    /// This run's identity in `grid_hosts` (a new one each start).
    pub fn incarnation(&self) -> Uuid {
        self.inner.incarnation
    }

    pub fn config(&self) -> &GridConfig {
        &self.inner.config
    }

    /// Start the lease task over the regions `source` lists. Events (regions
    /// acquired and lost) arrive on the returned task's receiver.
    pub fn run_leases(&self, source: impl RegionSource) -> LeaseTask {
        leases::spawn(Arc::clone(&self.inner), Arc::new(source))
    }

    /// The epoch of this host's lease on `region_id`, if it holds one that
    /// has not run out by this host's clock (the value the store fences with).
    pub fn held_epoch(&self, region_id: Uuid) -> Option<i64> {
        let now = Instant::now();
        self.inner
            .held
            .lock()
            .get(&region_id)
            .filter(|h| h.valid_until > now)
            .map(|h| h.epoch)
    }

    /// Regions this host holds now, with their epochs.
    pub fn held_regions(&self) -> Vec<(Uuid, i64)> {
        let now = Instant::now();
        let mut all: Vec<(Uuid, i64)> = self
            .inner
            .held
            .lock()
            .iter()
            .filter(|(_, h)| h.valid_until > now)
            .map(|(id, h)| (*id, h.epoch))
            .collect();
        all.sort();
        all
    }

    /// The live owner of `region_id` (host name, advertised URL, epoch), from
    /// the cache; `None` when no host holds a live lease on it.
    pub fn owner_of(&self, region_id: Uuid) -> Option<Owner> {
        let now = Instant::now();
        self.inner.owners.read().get(&region_id).filter(|o| o.expires > now).cloned()
    }

    /// Re-read every lease into the owner cache.
    pub async fn refresh_owners(&self) -> Result<(), GridError> {
        let client = self.inner.client().await?;
        self.inner.refresh_owners(&client).await
    }

    /// Give up every lease of this host at once (graceful shutdown): the
    /// lease task stops claiming and renewing, the leases are expired in the
    /// database (`expires = now() - 1 s`, announced), so another host claims
    /// them at once, and this host leaves `grid_hosts`. Stop the regions
    /// (scripts, write-behind) before calling it. Returns the leases released.
    pub async fn release_all(&self) -> Result<u64, GridError> {
        self.inner.stopped.store(true, Ordering::SeqCst);
        self.inner.wake.notify_one();
        let _pass = self.inner.pass_lock.lock().await;
        let held: Vec<(Uuid, Held)> = self.inner.held.lock().drain().collect();
        let ids: Vec<String> = held.iter().map(|(id, _)| id.to_string()).collect();
        let epochs: Vec<i64> = held.iter().map(|(_, h)| h.epoch).collect();
        let client = self.inner.client().await?;
        let released = client
            .execute(
                "UPDATE grid_leases AS l SET expires = now() - interval '1 second' \
                 FROM unnest($2::text[], $3::int8[]) AS o(region_id, epoch) \
                 WHERE l.region_id = o.region_id AND l.epoch = o.epoch AND l.host = $1",
                &[&self.inner.name, &ids, &epochs],
            )
            .await?;
        hosts::leave(&client, &self.inner.name, self.inner.incarnation).await?;
        tracing::info!("grid: released {released} region lease(s) and left the grid");
        Ok(released)
    }

    /// Give up one lease this host acquired but could not serve (its region
    /// failed to load): the lease is expired in the database at once
    /// (announced, so another host may claim it) and this host does not
    /// claim the region again for a backoff that doubles with each failure
    /// in a row, from `LeaseSeconds` up to 16 × `LeaseSeconds`. Returns the
    /// backoff. A lease no longer held under `epoch` is left alone.
    pub async fn release_failed(&self, region_id: Uuid, epoch: i64) -> Result<Duration, GridError> {
        let backoff = {
            let mut table = self.inner.backoff.lock();
            let failures = table.get(&region_id).map_or(0, |(_, n)| *n) + 1;
            let backoff = self.inner.config.lease() * (1u32 << (failures - 1).min(4));
            table.insert(region_id, (Instant::now() + backoff, failures));
            backoff
        };
        let _pass = self.inner.pass_lock.lock().await;
        let held = {
            let mut held = self.inner.held.lock();
            let mine = held.get(&region_id).is_some_and(|h| h.epoch == epoch);
            if mine {
                held.remove(&region_id);
            }
            mine
        };
        if held {
            let client = self.inner.client().await?;
            client
                .execute(
                    "UPDATE grid_leases SET expires = now() - interval '1 second' \
                     WHERE region_id = $1 AND host = $2 AND epoch = $3",
                    &[&region_id.to_string(), &self.inner.name, &epoch],
                )
                .await?;
        }
        Ok(backoff)
    }

    /// A region was served after an acquisition: its failures are forgotten.
    pub fn served(&self, region_id: Uuid) {
        self.inner.backoff.lock().remove(&region_id);
    }

    /// Tell the other hosts that extension `id` was installed, updated,
    /// started, stopped or removed here (`ext:<id>@<incarnation>` on
    /// `grid_changes`); they re-read its record. Sent in the background: a
    /// host whose notice connection was down re-reads every record when it
    /// is back ([`ExtensionChange::All`]); a notice that could not be sent
    /// at all is logged.
    pub fn announce_extension(&self, id: Uuid) {
        let inner = Arc::clone(&self.inner);
        self.inner.runtime.spawn(async move {
            let payload = format!("ext:{id}@{}", inner.incarnation);
            let sent = match inner.client().await {
                Ok(client) => client
                    .execute("SELECT pg_notify($1, $2)", &[&CHANGES_CHANNEL, &payload])
                    .await
                    .map(|_| ())
                    .map_err(GridError::from),
                Err(e) => Err(e),
            };
            if let Err(e) = sent {
                tracing::warn!("grid: extension {id} changed but not announced: {e}");
            }
        });
    }

    /// Call `listener` with an extension's id whenever another host announces
    /// a change of it, and with [`ExtensionChange::All`] when the notice
    /// connection comes back after a drop (notices may have been missed);
    /// run on the grid's runtime: hand slow work to a blocking thread.
    pub fn on_extension_change(&self, listener: ExtensionListener) {
        self.inner.extension_listeners.lock().push(listener);
    }

    /// A capability backing on this grid for the host's `CapabilityStore`
    /// (`store.set_backing(grid.capability_backing())`).
    pub fn capability_backing(&self) -> Arc<GridCapabilities> {
        GridCapabilities::new(Arc::clone(&self.inner))
    }

    /// An endpoint backing on this grid for the host's `EndpointRegistry`
    /// (`registry.set_backing(grid.endpoint_backing())`).
    pub fn endpoint_backing(&self) -> Arc<GridEndpoints> {
        GridEndpoints::new(Arc::clone(&self.inner))
    }

    /// Run a lease pass now (a write was refused by the fence, a region was
    /// created): losses and new regions are seen at once instead of at the
    /// next renewal.
    pub fn wake_leases(&self) {
        self.inner.wake.notify_one();
    }

    /// Run `f` on a blocking thread while this host holds the grid-wide
    /// advisory lock `key` (`pg_advisory_lock`), so no other host runs the
    /// same step at once (the first run's seeding: one "Test Region" however
    /// many hosts start together).
    pub async fn exclusive<T: Send + 'static>(&self, key: i64, f: impl FnOnce() -> T + Send + 'static) -> Result<T, GridError> {
        let client = self.inner.client().await?;
        client.execute("SELECT pg_advisory_lock($1)", &[&key]).await?;
        let outcome = tokio::task::spawn_blocking(f).await;
        let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&key]).await;
        if unlocked.is_err() {
            // A session still holding the lock must not go back to the pool.
            drop(Object::take(client));
        }
        unlocked?;
        outcome.map_err(|e| GridError::Database(format!("exclusive step: {e}")))
    }

    /// What `dispatcher grid status` shows.
    pub async fn status(&self) -> Result<GridStatus, GridError> {
        let client = self.inner.client().await?;
        status::read(&client).await
    }
}

impl Inner {
    /// A pooled connection, or an error within the connect timeout.
    pub(crate) async fn client(&self) -> Result<Object, GridError> {
        match tokio::time::timeout(db::CONNECT_TIMEOUT + Duration::from_secs(1), self.pool.get()).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(GridError::Timeout(db::CONNECT_TIMEOUT.as_millis() as u64 + 1000)),
        }
    }

    /// Replace the owner cache with every lease row.
    pub(crate) async fn refresh_owners(&self, client: &Object) -> Result<(), GridError> {
        let rows = client
            .query(
                "SELECT l.region_id, l.host, l.epoch, \
                        EXTRACT(EPOCH FROM (l.expires - now()))::float8, COALESCE(h.advertise_url, '') \
                 FROM grid_leases l LEFT JOIN grid_hosts h ON h.name = l.host",
                &[],
            )
            .await?;
        let now = Instant::now();
        let mut owners = HashMap::with_capacity(rows.len());
        for row in rows {
            let Ok(id) = Uuid::parse_str(row.get::<_, &str>(0)) else { continue };
            owners.insert(id, owner_from(now, row.get(1), row.get(4), row.get(2), row.get(3)));
        }
        *self.owners.write() = owners;
        Ok(())
    }

    /// Re-read one region's lease into the owner cache (on its change notice).
    pub(crate) async fn refresh_owner(&self, region_id: Uuid) -> Result<(), GridError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT l.host, l.epoch, EXTRACT(EPOCH FROM (l.expires - now()))::float8, COALESCE(h.advertise_url, '') \
                 FROM grid_leases l LEFT JOIN grid_hosts h ON h.name = l.host WHERE l.region_id = $1",
                &[&region_id.to_string()],
            )
            .await?;
        let now = Instant::now();
        let mut owners = self.owners.write();
        match row {
            Some(row) => owners.insert(region_id, owner_from(now, row.get(0), row.get(3), row.get(1), row.get(2))),
            None => owners.remove(&region_id),
        };
        Ok(())
    }
}

fn owner_from(now: Instant, host: String, advertise_url: String, epoch: i64, remaining_s: f64) -> Owner {
    let remaining = Duration::try_from_secs_f64(remaining_s.max(0.0)).unwrap_or(Duration::ZERO);
    Owner {
        host,
        advertise_url,
        epoch,
        expires: now + remaining,
    }
}
