//! Region leases: renewal, loss, claims and takeover.
//!
//! One task per host. Each pass (every `LeaseSeconds / 3`, or at once on a
//! lease change notice):
//! 1. heartbeat `grid_hosts`;
//! 2. renew every held lease by (region, host, epoch); a lease whose row no
//!    longer matches was taken over: [`LeaseEvent::Lost`];
//! 3. refresh the owner cache;
//! 4. claim regions with no lease, an expired one, or a stale one of this
//!    host's name, preferred regions first, up to `MaxRegions`: an INSERT, or
//!    on conflict an UPDATE of the row that bumps its epoch
//!    ([`LeaseEvent::Acquired`]). A region this host released because it
//!    could not load it (`Grid::release_failed`) is skipped until its
//!    backoff ends.
//!
//! Between passes, and whether or not the database answers, a lease not
//! renewed within `LeaseSeconds` of its last renewal being *sent* is dropped
//! by this host's own clock ([`LeaseEvent::Lost`]), so a host cut off from
//! the database stops acting as owner no later than the database lets
//! another host take over.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::Object;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::error::GridError;
use crate::{hosts, Held, Inner};

/// A region the grid knows (from the store's regions table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionRef {
    pub id: Uuid,
    pub name: String,
}

/// Lists the grid's regions for the lease task (called off the reactor, on a
/// blocking thread, once per pass).
pub trait RegionSource: Send + Sync + 'static {
    fn regions(&self) -> Result<Vec<RegionRef>, String>;
}

impl<F> RegionSource for F
where
    F: Fn() -> Result<Vec<RegionRef>, String> + Send + Sync + 'static,
{
    fn regions(&self) -> Result<Vec<RegionRef>, String> {
        self()
    }
}

/// A change in what this host owns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseEvent {
    /// This host now owns the region under `epoch`: load it, start its scripts,
    /// fence its writes with `epoch`.
    Acquired { region_id: Uuid, name: String, epoch: i64 },
    /// This host no longer owns the region (taken over, or not renewed in
    /// time): stop it at once and write nothing more to it.
    Lost { region_id: Uuid, epoch: i64 },
}

/// The running lease task and its events.
pub struct LeaseTask {
    pub events: mpsc::UnboundedReceiver<LeaseEvent>,
    pub handle: tokio::task::JoinHandle<()>,
}

impl LeaseTask {
    /// The next event (`None` once the task has ended).
    pub async fn next(&mut self) -> Option<LeaseEvent> {
        self.events.recv().await
    }

    /// Stop the task without releasing anything (as a crash would).
    pub fn abort(&self) {
        self.handle.abort();
    }
}

pub(crate) fn spawn(inner: Arc<Inner>, source: Arc<dyn RegionSource>) -> LeaseTask {
    let (tx, events) = mpsc::unbounded_channel();
    let handle = tokio::spawn(run(inner, source, tx));
    LeaseTask { events, handle }
}

type Events = mpsc::UnboundedSender<LeaseEvent>;

async fn run(inner: Arc<Inner>, source: Arc<dyn RegionSource>, tx: Events) {
    let interval = inner.config.renew_interval();
    let mut free_since: HashMap<Uuid, Instant> = HashMap::new();
    let mut failures: u32 = 0;
    loop {
        if inner.stopped.load(Ordering::SeqCst) {
            return;
        }
        // Leases that ran out by this host's clock go first, whatever the database does.
        expire_local(&inner, &tx);
        let outcome = {
            let _pass = inner.pass_lock.lock().await;
            if inner.stopped.load(Ordering::SeqCst) {
                return;
            }
            // A pass may not outlast the renewal interval: local expiry must stay on time.
            match tokio::time::timeout(interval, pass(&inner, &source, &tx, &mut free_since)).await {
                Ok(r) => r,
                Err(_) => Err(GridError::Timeout(interval.as_millis() as u64)),
            }
        };
        match outcome {
            Ok(()) => {
                if failures > 0 {
                    tracing::info!("grid: database reachable again after {failures} failed lease pass(es)");
                }
                failures = 0;
            }
            Err(GridError::Evicted(name)) => {
                tracing::error!("{}; this host stops claiming regions", GridError::Evicted(name));
                drop_all(&inner, &tx);
                return;
            }
            Err(e) => {
                failures += 1;
                if failures == 1 || failures.is_multiple_of(10) {
                    let held = inner.held.lock().len();
                    tracing::error!(
                        "grid: lease renewal failed ({failures} in a row): {e}; {held} region lease(s) are dropped \
                         when they run out ({} s after their last renewal)",
                        inner.config.lease_seconds
                    );
                }
            }
        }
        expire_local(&inner, &tx);
        let now = Instant::now();
        let next_expiry = inner.held.lock().values().map(|h| h.valid_until).min();
        let wait = next_expiry.map_or(interval, |t| t.saturating_duration_since(now).min(interval));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = inner.wake.notified() => {}
        }
    }
}

/// Drop every held lease whose local validity has passed.
fn expire_local(inner: &Inner, tx: &Events) {
    let now = Instant::now();
    let mut held = inner.held.lock();
    let gone: Vec<(Uuid, Held)> = held
        .iter()
        .filter(|(_, h)| h.valid_until <= now)
        .map(|(id, h)| (*id, h.clone()))
        .collect();
    for (id, h) in gone {
        held.remove(&id);
        tracing::warn!(
            "grid: lease of region {} ({id}, epoch {}) not renewed within {} s; this host no longer owns it",
            h.name,
            h.epoch,
            inner.config.lease_seconds
        );
        let _ = tx.send(LeaseEvent::Lost {
            region_id: id,
            epoch: h.epoch,
        });
    }
}

fn drop_all(inner: &Inner, tx: &Events) {
    for (id, h) in inner.held.lock().drain() {
        let _ = tx.send(LeaseEvent::Lost {
            region_id: id,
            epoch: h.epoch,
        });
    }
}

async fn pass(
    inner: &Inner,
    source: &Arc<dyn RegionSource>,
    tx: &Events,
    free_since: &mut HashMap<Uuid, Instant>,
) -> Result<(), GridError> {
    let lease = inner.config.lease();
    let lease_s = inner.config.lease_seconds as f64;
    let client = inner.client().await?;
    let sent = Instant::now();
    if !hosts::heartbeat(&client, &inner.config, &inner.name, &inner.advertise_url, inner.incarnation).await? {
        return Err(GridError::Evicted(inner.name.clone()));
    }
    renew(inner, &client, tx, sent, lease_s, lease).await?;
    inner.refresh_owners(&client).await?;
    if inner.stopped.load(Ordering::SeqCst) {
        return Ok(());
    }
    let source = Arc::clone(source);
    let regions = tokio::task::spawn_blocking(move || source.regions())
        .await
        .map_err(|e| GridError::Database(format!("region list: {e}")))?
        .map_err(|e| GridError::Database(format!("region list: {e}")))?;
    claim(inner, &client, tx, regions, free_since, lease_s, lease).await
}

async fn renew(inner: &Inner, client: &Object, tx: &Events, sent: Instant, lease_s: f64, lease: Duration) -> Result<(), GridError> {
    let held: Vec<(Uuid, i64)> = inner.held.lock().iter().map(|(id, h)| (*id, h.epoch)).collect();
    if held.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = held.iter().map(|(id, _)| id.to_string()).collect();
    let epochs: Vec<i64> = held.iter().map(|(_, e)| *e).collect();
    let rows = client
        .query(
            "UPDATE grid_leases AS l SET expires = now() + make_interval(secs => $2) \
             FROM unnest($3::text[], $4::int8[]) AS o(region_id, epoch) \
             WHERE l.region_id = o.region_id AND l.epoch = o.epoch AND l.host = $1 \
             RETURNING l.region_id",
            &[&inner.name, &lease_s, &ids, &epochs],
        )
        .await?;
    let renewed: HashSet<String> = rows.iter().map(|r| r.get::<_, String>(0)).collect();
    let mut table = inner.held.lock();
    for (id, epoch) in held {
        if renewed.contains(&id.to_string()) {
            if let Some(h) = table.get_mut(&id).filter(|h| h.epoch == epoch) {
                h.valid_until = sent + lease;
            }
        } else if let Some(h) = table.remove(&id) {
            tracing::warn!("grid: lease of region {} ({id}, epoch {epoch}) was taken over by another host; dropping it", h.name);
            let _ = tx.send(LeaseEvent::Lost { region_id: id, epoch });
        }
    }
    Ok(())
}

async fn claim(
    inner: &Inner,
    client: &Object,
    tx: &Events,
    regions: Vec<RegionRef>,
    free_since: &mut HashMap<Uuid, Instant>,
    lease_s: f64,
    lease: Duration,
) -> Result<(), GridError> {
    let config = &inner.config;
    let max = config.max_regions as usize;
    let held_now: HashSet<Uuid> = inner.held.lock().keys().copied().collect();
    let mut room = if max == 0 { usize::MAX } else { max.saturating_sub(held_now.len()) };
    let now = Instant::now();
    // Claimable: not held here, not in a backoff after failing to load
    // here, and no live lease of another host.
    let backoff: HashSet<Uuid> = inner
        .backoff
        .lock()
        .iter()
        .filter(|(_, (until, _))| *until > now)
        .map(|(id, _)| *id)
        .collect();
    let mut candidates: Vec<RegionRef> = {
        let owners = inner.owners.read();
        regions
            .into_iter()
            .filter(|r| !held_now.contains(&r.id) && !backoff.contains(&r.id))
            .filter(|r| owners.get(&r.id).is_none_or(|o| o.expires <= now || o.host == inner.name))
            .collect()
    };
    let ids: HashSet<Uuid> = candidates.iter().map(|r| r.id).collect();
    free_since.retain(|id, _| ids.contains(id));
    if candidates.is_empty() || room == 0 {
        return Ok(());
    }
    // Preferred regions first (in the configured order), then the rest by name.
    let rank = |r: &RegionRef| {
        config
            .preferred_regions
            .iter()
            .position(|p| p.eq_ignore_ascii_case(&r.name))
            .unwrap_or(usize::MAX)
    };
    candidates.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.name.cmp(&b.name)));
    let preferred_elsewhere = preferred_by_other_hosts(inner, client, lease_s).await?;
    let interval = config.renew_interval();
    for region in candidates {
        if room == 0 {
            break;
        }
        let since = *free_since.entry(region.id).or_insert(now);
        // A region another live host prefers is left to it for one renewal period.
        if !config.prefers(&region.name)
            && preferred_elsewhere.contains(&region.name.to_lowercase())
            && now.saturating_duration_since(since) < interval
        {
            continue;
        }
        let sent = Instant::now();
        let row = client
            .query_opt(
                "INSERT INTO grid_leases (region_id, host, epoch, expires) \
                 VALUES ($1, $2, 1, now() + make_interval(secs => $3)) \
                 ON CONFLICT (region_id) DO UPDATE \
                     SET host = EXCLUDED.host, epoch = grid_leases.epoch + 1, expires = EXCLUDED.expires \
                     WHERE grid_leases.expires < now() OR grid_leases.host = EXCLUDED.host \
                 RETURNING epoch",
                &[&region.id.to_string(), &inner.name, &lease_s],
            )
            .await?;
        let Some(row) = row else { continue };
        let epoch: i64 = row.get(0);
        free_since.remove(&region.id);
        inner.held.lock().insert(
            region.id,
            Held {
                name: region.name.clone(),
                epoch,
                valid_until: sent + lease,
            },
        );
        tracing::info!("grid: acquired region {} ({}) with epoch {epoch}", region.name, region.id);
        let _ = tx.send(LeaseEvent::Acquired {
            region_id: region.id,
            name: region.name,
            epoch,
        });
        room -= 1;
    }
    Ok(())
}

/// Region names (lowercase) that other live hosts list in `PreferredRegions`.
async fn preferred_by_other_hosts(inner: &Inner, client: &Object, lease_s: f64) -> Result<HashSet<String>, GridError> {
    let rows = client
        .query(
            "SELECT unnest(preferred) FROM grid_hosts \
             WHERE name <> $1 AND heartbeat > now() - make_interval(secs => $2)",
            &[&inner.name, &lease_s],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
}
