//! Grid-wide callback endpoints: `grid_endpoints`, written through by every
//! host's `EndpointRegistry` and read on a local miss (a RenewEndPoint or a
//! callback on the host that took a region over).
//!
//! Create, renew and close are written before the caller is answered; renew
//! and close announce `ep:<id>@<incarnation>` so every other host drops its
//! cached copy at once (the next use reads the row again). A row expires with
//! the endpoint's lifespan by the database clock; closing a capability
//! deletes its endpoints' rows and announces each.
//!
//! A look-up that finds no row is remembered for [`MISS_TTL`] (at most
//! [`MISS_ENTRIES`] ids), so callbacks to an unknown endpoint cost one
//! database round trip per id and period instead of one per send. Every
//! `ep:` notice (create included) forgets the id, as does this host's own
//! create, and a reconnection of the notice listener forgets them all; the
//! TTL bounds a miss that raced with a create elsewhere.
//!
//! A new owner does not preload its region's endpoints: an endpoint is read
//! on its first use here (a callback, a renewal), then kept in the local
//! table. Preloading would read every endpoint of the region's capabilities
//! whether or not a callback ever goes to it, on the takeover's critical
//! path, and each first use costs one look-up either way.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dispatcher_dispatch::endpoints::Endpoint;
use dispatcher_dispatch::{EndpointBacking, EndpointBackingError, EndpointCache};
use uuid::Uuid;

use crate::capabilities::wait_on;
use crate::error::GridError;
use crate::Inner;

/// How long a look-up that found nothing is believed.
pub const MISS_TTL: Duration = Duration::from_secs(1);
/// Misses remembered at most (all forgotten when full).
pub const MISS_ENTRIES: usize = 4096;

/// The backing a grid host sets on its `EndpointRegistry`.
pub struct GridEndpoints {
    inner: Arc<Inner>,
    /// Database look-ups made (tests, figures).
    lookups: AtomicU64,
}

const UPSERT: &str = "INSERT INTO grid_endpoints (id, addr, owner_id, capability, lifespan_ms, expires) \
     VALUES ($1, $2, $3, $4, $5::int8, now() + make_interval(secs => $5::int8 / 1000.0)) \
     ON CONFLICT (id) DO UPDATE SET lifespan_ms = EXCLUDED.lifespan_ms, expires = EXCLUDED.expires";

impl GridEndpoints {
    pub(crate) fn new(inner: Arc<Inner>) -> Arc<GridEndpoints> {
        Arc::new(GridEndpoints {
            inner,
            lookups: AtomicU64::new(0),
        })
    }

    /// How many times this backing read `grid_endpoints` for a look-up.
    pub fn lookups(&self) -> u64 {
        self.lookups.load(Ordering::Relaxed)
    }

    /// Whether `id` was looked up and not found within [`MISS_TTL`].
    fn recent_miss(&self, id: Uuid) -> bool {
        let mut misses = self.inner.endpoint_misses.lock();
        match misses.get(&id) {
            Some(at) if at.elapsed() < MISS_TTL => true,
            Some(_) => {
                misses.remove(&id);
                false
            }
            None => false,
        }
    }

    fn remember_miss(&self, id: Uuid) {
        let mut misses = self.inner.endpoint_misses.lock();
        if misses.len() >= MISS_ENTRIES {
            misses.clear();
        }
        misses.insert(id, Instant::now());
    }

    fn wait<T: Send + 'static>(
        &self,
        fut: impl std::future::Future<Output = Result<T, GridError>> + Send + 'static,
    ) -> Result<T, EndpointBackingError> {
        wait_on(&self.inner.runtime, fut).map_err(EndpointBackingError)
    }

    fn notify_sql(&self) -> String {
        format!("SELECT pg_notify('grid_changes', 'ep:' || $1 || '@{}')", self.inner.incarnation)
    }

    /// Endpoints live in the grid now (expiry not passed).
    pub async fn live_count(&self) -> Result<i64, GridError> {
        let client = self.inner.client().await?;
        let row = client
            .query_one("SELECT count(*) FROM grid_endpoints WHERE expires > now()", &[])
            .await?;
        Ok(row.get(0))
    }
}

fn opt(id: Option<Uuid>) -> Option<String> {
    id.map(|u| u.to_string())
}

impl EndpointBacking for GridEndpoints {
    fn attach(&self, cache: EndpointCache) {
        self.inner.endpoint_caches.lock().push(cache);
    }

    fn stored(&self, ep: &Endpoint) -> Result<(), EndpointBackingError> {
        self.inner.endpoint_misses.lock().remove(&ep.id);
        let inner = Arc::clone(&self.inner);
        let notify = self.notify_sql();
        let id = ep.id.to_string();
        let addr = ep.addr.to_string();
        let (owner, capability) = (opt(ep.owner), opt(ep.capability));
        let ms = i64::try_from(ep.lifespan.as_millis()).unwrap_or(i64::MAX);
        self.wait(async move {
            let mut client = inner.client().await?;
            let tx = client.transaction().await?;
            tx.execute(UPSERT, &[&id, &addr, &owner, &capability, &ms]).await?;
            tx.execute(notify.as_str(), &[&id]).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn closed(&self, id: Uuid) -> Result<bool, EndpointBackingError> {
        let inner = Arc::clone(&self.inner);
        let notify = self.notify_sql();
        self.wait(async move {
            let id = id.to_string();
            let mut client = inner.client().await?;
            let tx = client.transaction().await?;
            let n = tx.execute("DELETE FROM grid_endpoints WHERE id = $1", &[&id]).await?;
            tx.execute(notify.as_str(), &[&id]).await?;
            tx.commit().await?;
            Ok(n > 0)
        })
    }

    fn closed_for_capability(&self, capability: Uuid) -> Result<(), EndpointBackingError> {
        let inner = Arc::clone(&self.inner);
        let notify = self.notify_sql();
        self.wait(async move {
            let capability = capability.to_string();
            let mut client = inner.client().await?;
            let tx = client.transaction().await?;
            let rows = tx
                .query("DELETE FROM grid_endpoints WHERE capability = $1 RETURNING id", &[&capability])
                .await?;
            for row in rows {
                let id: String = row.get(0);
                tx.execute(notify.as_str(), &[&id]).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn lookup(&self, id: Uuid) -> Result<Option<Endpoint>, EndpointBackingError> {
        if self.recent_miss(id) {
            return Ok(None);
        }
        self.lookups.fetch_add(1, Ordering::Relaxed);
        let inner = Arc::clone(&self.inner);
        let found = self.wait(async move {
            let client = inner.client().await?;
            let row = client
                .query_opt(
                    "SELECT addr, owner_id, capability, lifespan_ms, \
                            (EXTRACT(EPOCH FROM (expires - now())) * 1000)::float8 \
                     FROM grid_endpoints WHERE id = $1 AND expires > now()",
                    &[&id.to_string()],
                )
                .await?;
            let Some(row) = row else { return Ok(None) };
            let Ok(addr) = row.get::<_, &str>(0).parse::<SocketAddr>() else {
                return Ok(None);
            };
            let uuid = |s: Option<&str>| s.and_then(|s| Uuid::parse_str(s).ok());
            let lifespan = Duration::from_millis(u64::try_from(row.get::<_, i64>(3)).unwrap_or(0));
            let remaining = Duration::try_from_secs_f64(row.get::<_, f64>(4).max(0.0) / 1000.0).unwrap_or(Duration::ZERO);
            let now = Instant::now();
            // The idle timer as if last renewed (lifespan - remaining) ago.
            let last_renew = now.checked_sub(lifespan.saturating_sub(remaining)).unwrap_or(now);
            Ok(Some(Endpoint {
                id,
                addr,
                owner: uuid(row.get(1)),
                capability: uuid(row.get(2)),
                lifespan,
                last_renew,
            }))
        })?;
        if found.is_none() {
            self.remember_miss(id);
        }
        Ok(found)
    }
}
