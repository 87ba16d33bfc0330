//! Grid-wide capabilities: `grid_capabilities`, written through by every
//! host's `CapabilityStore` and read on a local miss.
//!
//! Create, renew and destroy are written before the caller is answered;
//! renew and destroy announce `cap:<id>@<incarnation>` so every other host
//! drops its cached copy at once (the next use reads the row again). A
//! successful use slides the expiry: uses are batched and written at most
//! once per quarter lifespan (at least a second apart) per capability, without
//! a notice; a host whose copy ran out locally reads the row before refusing.
//!
//! The `CapabilityBacking` calls are synchronous (the dispatcher's pipeline
//! is); each runs its statement on the grid's runtime and waits for it, at
//! most [`WAIT`], off the reactor (`block_in_place` on a runtime worker).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use dispatcher_dispatch::{BackingError, Capability, CapabilityBacking, CapabilityCache};
use parking_lot::Mutex;
use uuid::Uuid;

use crate::error::GridError;
use crate::Inner;

/// The longest a capability call waits for the database.
pub const WAIT: Duration = Duration::from_secs(5);
/// How often batched uses are written.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Rows expired this long ago are deleted.
const KEEP_EXPIRED_S: f64 = 3600.0;

/// The backing a grid host sets on its `CapabilityStore`.
pub struct GridCapabilities {
    inner: Arc<Inner>,
    uses: Mutex<Uses>,
}

#[derive(Default)]
struct Uses {
    /// Capabilities used since the last flush, to write.
    pending: HashSet<Uuid>,
    /// When each capability's use was last queued.
    queued: HashMap<Uuid, Instant>,
}

impl GridCapabilities {
    pub(crate) fn new(inner: Arc<Inner>) -> Arc<GridCapabilities> {
        let this = Arc::new(GridCapabilities {
            inner,
            uses: Mutex::new(Uses::default()),
        });
        let weak = Arc::downgrade(&this);
        let closed = this.inner.closed.subscribe();
        this.inner.runtime.spawn(flusher(weak, closed));
        this
    }

    /// Run `fut` on the grid's runtime and wait for it (see the module's notes).
    fn wait<T: Send + 'static>(&self, fut: impl Future<Output = Result<T, GridError>> + Send + 'static) -> Result<T, BackingError> {
        wait_on(&self.inner.runtime, fut).map_err(BackingError)
    }

    fn notify_sql(&self) -> String {
        format!("SELECT pg_notify('grid_changes', 'cap:' || $1 || '@{}')", self.inner.incarnation)
    }

    /// Capabilities live in the grid now (expiry not passed).
    pub async fn live_count(&self) -> Result<i64, GridError> {
        let client = self.inner.client().await?;
        let row = client
            .query_one("SELECT count(*) FROM grid_capabilities WHERE expires IS NULL OR expires > now()", &[])
            .await?;
        Ok(row.get(0))
    }
}

/// Run `fut` on `runtime` and wait for it, at most [`WAIT`], off the reactor.
pub(crate) fn wait_on<T: Send + 'static>(
    runtime: &tokio::runtime::Handle,
    fut: impl Future<Output = Result<T, GridError>> + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = tx.send(fut.await);
    });
    let recv = move || rx.recv_timeout(WAIT);
    let got = match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(recv),
        _ => recv(),
    };
    match got {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no answer from the database within {} s", WAIT.as_secs())),
    }
}

const UPSERT: &str = "INSERT INTO grid_capabilities (id, user_id, user_name, scene, domains, lifespan_ms, expires) \
     VALUES ($1, $2, $3, $4, $5, $6::int8, CASE WHEN $6::int8 = 0 THEN NULL ELSE now() + make_interval(secs => $6::int8 / 1000.0) END) \
     ON CONFLICT (id) DO UPDATE SET lifespan_ms = EXCLUDED.lifespan_ms, expires = EXCLUDED.expires";

fn row_values(cap: &Capability) -> (String, String, String, String, Vec<String>, i64) {
    (
        cap.id.to_string(),
        cap.user_id.to_string(),
        cap.user_name.clone(),
        cap.scene.clone(),
        cap.domains.clone(),
        i64::try_from(cap.lifespan.as_millis()).unwrap_or(i64::MAX),
    )
}

impl CapabilityBacking for GridCapabilities {
    fn attach(&self, cache: CapabilityCache) {
        self.inner.caches.lock().push(cache);
    }

    fn created(&self, cap: &Capability) -> Result<(), BackingError> {
        let inner = Arc::clone(&self.inner);
        let (id, user, name, scene, domains, ms) = row_values(cap);
        self.wait(async move {
            let client = inner.client().await?;
            client.execute(UPSERT, &[&id, &user, &name, &scene, &domains, &ms]).await?;
            Ok(())
        })
    }

    fn renewed(&self, cap: &Capability) -> Result<(), BackingError> {
        let inner = Arc::clone(&self.inner);
        let notify = self.notify_sql();
        let (id, user, name, scene, domains, ms) = row_values(cap);
        self.wait(async move {
            let mut client = inner.client().await?;
            let tx = client.transaction().await?;
            tx.execute(UPSERT, &[&id, &user, &name, &scene, &domains, &ms]).await?;
            tx.execute(notify.as_str(), &[&id]).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn destroyed(&self, id: Uuid) -> Result<bool, BackingError> {
        let inner = Arc::clone(&self.inner);
        let notify = self.notify_sql();
        self.wait(async move {
            let id = id.to_string();
            let mut client = inner.client().await?;
            let tx = client.transaction().await?;
            let n = tx.execute("DELETE FROM grid_capabilities WHERE id = $1", &[&id]).await?;
            tx.execute(notify.as_str(), &[&id]).await?;
            tx.commit().await?;
            Ok(n > 0)
        })
    }

    fn used(&self, id: Uuid, lifespan: Duration) {
        if lifespan.is_zero() {
            return;
        }
        let now = Instant::now();
        let gap = (lifespan / 4).max(Duration::from_secs(1));
        let mut uses = self.uses.lock();
        let due = uses.queued.get(&id).is_none_or(|t| now.saturating_duration_since(*t) >= gap);
        if due {
            uses.queued.insert(id, now);
            uses.pending.insert(id);
        }
    }

    fn lookup(&self, id: Uuid) -> Result<Option<Capability>, BackingError> {
        let inner = Arc::clone(&self.inner);
        self.wait(async move {
            let client = inner.client().await?;
            let row = client
                .query_opt(
                    "SELECT user_id, user_name, scene, domains, lifespan_ms, \
                            COALESCE(EXTRACT(EPOCH FROM (expires - now())) * 1000, 0)::float8 \
                     FROM grid_capabilities WHERE id = $1 AND (expires IS NULL OR expires > now())",
                    &[&id.to_string()],
                )
                .await?;
            let Some(row) = row else { return Ok(None) };
            let Ok(user_id) = Uuid::parse_str(row.get::<_, &str>(0)) else {
                return Ok(None);
            };
            let lifespan = Duration::from_millis(u64::try_from(row.get::<_, i64>(4)).unwrap_or(0));
            let remaining = Duration::try_from_secs_f64(row.get::<_, f64>(5).max(0.0) / 1000.0).unwrap_or(Duration::ZERO);
            let now = Instant::now();
            // The idle timer as if last refreshed (lifespan - remaining) ago.
            let last_refresh = now.checked_sub(lifespan.saturating_sub(remaining)).unwrap_or(now);
            Ok(Some(Capability {
                id,
                user_id,
                user_name: row.get(1),
                scene: row.get(2),
                domains: row.get(3),
                lifespan,
                last_refresh,
            }))
        })
    }
}

/// Write batched uses every second; delete long-expired rows now and then.
async fn flusher(this: Weak<GridCapabilities>, mut closed: tokio::sync::watch::Receiver<()>) {
    let mut ticks: u64 = 0;
    loop {
        tokio::select! {
            _ = closed.changed() => return,
            _ = tokio::time::sleep(FLUSH_EVERY) => {}
        }
        let Some(this) = this.upgrade() else { return };
        ticks += 1;
        let ids: Vec<String> = {
            let mut uses = this.uses.lock();
            if ticks.is_multiple_of(60) {
                let horizon = Instant::now().checked_sub(Duration::from_secs(3600));
                uses.queued.retain(|_, t| horizon.is_none_or(|h| *t > h));
            }
            uses.pending.drain().map(|id| id.to_string()).collect()
        };
        if ids.is_empty() && !ticks.is_multiple_of(60) {
            continue;
        }
        let result = async {
            let client = this.inner.client().await?;
            if !ids.is_empty() {
                client
                    .execute(
                        "UPDATE grid_capabilities SET expires = now() + make_interval(secs => lifespan_ms / 1000.0) \
                         WHERE id = ANY($1) AND expires > now()",
                        &[&ids],
                    )
                    .await?;
            }
            if ticks.is_multiple_of(60) {
                client
                    .execute(
                        "DELETE FROM grid_capabilities WHERE expires < now() - make_interval(secs => $1)",
                        &[&KEEP_EXPIRED_S],
                    )
                    .await?;
            }
            Ok::<(), GridError>(())
        }
        .await;
        if let Err(e) = result {
            tracing::debug!("grid: capability uses not written: {e}");
        }
    }
}
