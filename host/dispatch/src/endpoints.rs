//! Callback endpoints (dispatcher-core.md §7): client UDP addresses that other
//! domains push callbacks to.
//!
//! Deliberate tightenings, documented in docs/protocol.md: an endpoint is bound to
//! the account that created it, and renew/close from another account reads as an
//! unknown endpoint (Q22); close notifications fire exactly once (Q21).
//!
//! Amplification limits (docs/security.md): lifespans are clamped to
//! [`CallbackLimits::max_lifespan`]; an endpoint ends with the capability that
//! created it ([`EndpointRegistry::close_for_capability`]); each endpoint has a
//! datagram and a byte rate, and each request a byte budget proportional to its
//! own size ([`with_request_budget`]). What does not fit is dropped and counted.

use std::cell::Cell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use dispatcher_guard::TokenBucket;
use parking_lot::{Mutex, RwLock};
use uuid::Uuid;

/// Where callback datagrams go. The server implements it with one UDP socket;
/// this crate never opens sockets itself.
pub trait CallbackSink: Send + Sync {
    /// Send one datagram; failures are the sink's to log, never retried.
    fn send(&self, to: SocketAddr, datagram: &[u8]);
}

/// A sink that drops everything (for a host without callbacks, and unit tests).
pub struct NullSink;

impl CallbackSink for NullSink {
    fn send(&self, _to: SocketAddr, _datagram: &[u8]) {}
}

/// Called with the id of each endpoint that is closed or expires.
pub type CloseListener = Arc<dyn Fn(Uuid) + Send + Sync>;

#[derive(Clone, Debug)]
pub struct Endpoint {
    pub id: Uuid,
    pub addr: SocketAddr,
    /// The account that created it; `None` when authentication is off.
    pub owner: Option<Uuid>,
    /// The capability it was created with; the endpoint ends with it.
    pub capability: Option<Uuid>,
    pub lifespan: Duration,
    pub last_renew: Instant,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Unknown endpoint identifier; {0}")]
pub struct UnknownEndpoint(pub Uuid);

/// A grid-wide write or read of an endpoint failed (the database is
/// unreachable, …). The handler answers with a Failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("grid endpoint store: {0}")]
pub struct EndpointBackingError(pub String);

/// Why a create, renew or close with a backing failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error(transparent)]
    Unknown(#[from] UnknownEndpoint),
    #[error(transparent)]
    Backing(#[from] EndpointBackingError),
}

/// Where endpoints live beyond this host (grid mode): create, renew and close
/// are written through before the caller is answered, and a use that misses
/// the local table asks the backing. The backing keeps the local table true by
/// evicting entries another host renewed or closed ([`EndpointCache::evict`]).
/// Standalone hosts set no backing and pay nothing for the hook.
pub trait EndpointBacking: Send + Sync {
    /// Called once by [`EndpointRegistry::set_backing`] with a handle on the
    /// local table, for evictions on change notices and loads on takeover.
    fn attach(&self, cache: EndpointCache) {
        let _ = cache;
    }
    /// A new or renewed endpoint, refreshed now (write-through; other hosts are told).
    fn stored(&self, ep: &Endpoint) -> Result<(), EndpointBackingError>;
    /// Closed (write-through; other hosts are told); whether the backing had it.
    fn closed(&self, id: Uuid) -> Result<bool, EndpointBackingError>;
    /// Every endpoint created with `capability` closed (capability destroyed or expired).
    fn closed_for_capability(&self, capability: Uuid) -> Result<(), EndpointBackingError>;
    /// The endpoint as the backing knows it, `None` if unknown or expired.
    fn lookup(&self, id: Uuid) -> Result<Option<Endpoint>, EndpointBackingError>;
}

type Table = Mutex<HashMap<Uuid, Entry>>;

/// A handle on an [`EndpointRegistry`]'s local table for its backing.
#[derive(Clone)]
pub struct EndpointCache {
    entries: Arc<Table>,
    limits: CallbackLimits,
}

impl EndpointCache {
    /// Drop the local copy of `id` (no close notification: it lives on
    /// elsewhere or was closed elsewhere); the next use looks it up again.
    pub fn evict(&self, id: Uuid) {
        self.entries.lock().remove(&id);
    }

    /// Drop every local copy (after change notices may have been missed).
    pub fn evict_all(&self) {
        self.entries.lock().clear();
    }

    /// Put a copy the backing holds into the local table (a region taken
    /// over: its endpoints keep receiving callbacks). An entry already here is kept.
    pub fn load(&self, ep: Endpoint) {
        let limits = &self.limits;
        self.entries.lock().entry(ep.id).or_insert_with(|| new_entry(limits, ep));
    }

    pub fn contains(&self, id: Uuid) -> bool {
        self.entries.lock().contains_key(&id)
    }
}

/// The callback limits of one registry (from `DispatcherConfig`).
#[derive(Clone, Debug, PartialEq)]
pub struct CallbackLimits {
    /// Floor of every lifespan (MaxInterPingTime).
    pub min_lifespan: Duration,
    /// Ceiling of every lifespan.
    pub max_lifespan: Duration,
    pub datagrams_per_second: u32,
    pub bytes_per_second: u64,
    /// Callback bytes a request may cause per byte received.
    pub bytes_per_request_byte: u32,
}

impl CallbackLimits {
    /// Only the floor; no ceiling or rates (unit tests, embedders).
    pub fn unlimited(min_lifespan: Duration) -> Self {
        CallbackLimits {
            min_lifespan,
            max_lifespan: Duration::from_millis(i32::MAX as u64),
            datagrams_per_second: u32::MAX,
            bytes_per_second: u64::MAX / 4,
            bytes_per_request_byte: u32::MAX,
        }
    }
}

struct Entry {
    ep: Endpoint,
    datagrams: TokenBucket,
    bytes: TokenBucket,
    /// Logged once when the endpoint first hits its rate.
    warned: bool,
}

/// Callback counters for `dispatcher stats`.
#[derive(Default)]
pub struct CallbackCounters {
    pub sent_datagrams: AtomicU64,
    pub sent_bytes: AtomicU64,
    pub dropped_rate: AtomicU64,
    pub dropped_request_budget: AtomicU64,
}

fn new_entry(limits: &CallbackLimits, ep: Endpoint) -> Entry {
    let rate = f64::from(limits.datagrams_per_second);
    let bytes = limits.bytes_per_second as f64;
    Entry {
        ep,
        datagrams: TokenBucket::new(rate, rate.max(1.0)),
        bytes: TokenBucket::new(bytes, bytes.max(65_536.0)),
        warned: false,
    }
}

thread_local! {
    /// Callback bytes the request running on this thread may still cause.
    static REQUEST_BUDGET: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Run `f` (a request's handler) with a callback byte budget; `None` means no
/// budget (the tick, scripts). Restored afterwards, also on panic.
pub fn with_request_budget<R>(budget: Option<u64>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<u64>);
    impl Drop for Restore {
        fn drop(&mut self) {
            REQUEST_BUDGET.with(|b| b.set(self.0));
        }
    }
    let _restore = Restore(REQUEST_BUDGET.with(|b| b.replace(budget)));
    f()
}

/// Take `n` bytes from the running request's budget; false when it is spent.
fn take_request_budget(n: u64) -> bool {
    REQUEST_BUDGET.with(|b| match b.get() {
        None => true,
        Some(left) if left >= n => {
            b.set(Some(left - n));
            true
        }
        Some(_) => false,
    })
}

/// The endpoint table and the callback path.
pub struct EndpointRegistry {
    entries: Arc<Table>,
    backing: OnceLock<Arc<dyn EndpointBacking>>,
    listeners: RwLock<Vec<CloseListener>>,
    sink: Arc<dyn CallbackSink>,
    limits: CallbackLimits,
    pub counters: CallbackCounters,
}

impl EndpointRegistry {
    pub fn new(sink: Arc<dyn CallbackSink>, min_lifespan: Duration) -> Self {
        Self::with_limits(sink, CallbackLimits::unlimited(min_lifespan))
    }

    pub fn with_limits(sink: Arc<dyn CallbackSink>, limits: CallbackLimits) -> Self {
        EndpointRegistry {
            entries: Arc::new(Mutex::new(HashMap::new())),
            backing: OnceLock::new(),
            listeners: RwLock::new(Vec::new()),
            sink,
            limits,
            counters: CallbackCounters::default(),
        }
    }

    pub fn limits(&self) -> &CallbackLimits {
        &self.limits
    }

    /// The effective lifespan for a requested one: never below MaxInterPingTime,
    /// never above the configured ceiling.
    pub fn effective_lifespan(&self, requested_ms: i64) -> Duration {
        let ceiling = self.limits.max_lifespan.max(self.limits.min_lifespan);
        Duration::from_millis(requested_ms.max(0) as u64)
            .max(self.limits.min_lifespan)
            .min(ceiling)
    }

    /// Make endpoints grid-wide (grid mode); set once, before serving.
    pub fn set_backing(&self, backing: Arc<dyn EndpointBacking>) -> Result<(), EndpointBackingError> {
        backing.attach(EndpointCache {
            entries: Arc::clone(&self.entries),
            limits: self.limits.clone(),
        });
        self.backing
            .set(backing)
            .map_err(|_| EndpointBackingError("an endpoint backing is already set".into()))
    }

    fn entry(&self, ep: Endpoint) -> Entry {
        new_entry(&self.limits, ep)
    }

    /// On a local miss, the backing's live copy (cached here); `None` without a backing.
    fn fetch(&self, id: Uuid) -> Result<bool, EndpointBackingError> {
        let Some(backing) = self.backing.get() else {
            return Ok(false);
        };
        match backing.lookup(id)? {
            Some(ep) => {
                let entry = self.entry(ep);
                self.entries.lock().entry(id).or_insert(entry);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Make sure `id` is in the local table if the backing has it; errors are
    /// logged and read as a miss (for the callback path).
    fn fetch_quietly(&self, id: Uuid) {
        if self.backing.get().is_some() && !self.entries.lock().contains_key(&id) {
            if let Err(e) = self.fetch(id) {
                tracing::warn!(endpoint = %id, "endpoint lookup failed: {e}");
            }
        }
    }

    pub fn create(&self, addr: SocketAddr, owner: Option<Uuid>, requested_ms: i64) -> Endpoint {
        self.create_for(addr, owner, None, requested_ms)
    }

    /// Create an endpoint that ends with `capability`.
    pub fn create_for(&self, addr: SocketAddr, owner: Option<Uuid>, capability: Option<Uuid>, requested_ms: i64) -> Endpoint {
        let ep = Endpoint {
            id: Uuid::new_v4(),
            addr,
            owner,
            capability,
            lifespan: self.effective_lifespan(requested_ms),
            last_renew: Instant::now(),
        };
        let entry = self.entry(ep.clone());
        self.entries.lock().insert(ep.id, entry);
        ep
    }

    /// [`EndpointRegistry::create_for`], written through to the backing
    /// before it is returned; a failed write leaves no endpoint.
    pub fn try_create_for(
        &self,
        addr: SocketAddr,
        owner: Option<Uuid>,
        capability: Option<Uuid>,
        requested_ms: i64,
    ) -> Result<Endpoint, EndpointBackingError> {
        let ep = self.create_for(addr, owner, capability, requested_ms);
        if let Some(backing) = self.backing.get() {
            if let Err(e) = backing.stored(&ep) {
                self.entries.lock().remove(&ep.id);
                return Err(e);
            }
        }
        Ok(ep)
    }

    /// [`EndpointRegistry::renew`], looked up in the backing on a local miss
    /// and written through to it before it is returned.
    pub fn try_renew(&self, id: Uuid, caller: Option<Uuid>, requested_ms: i64) -> Result<Endpoint, EndpointError> {
        let Some(backing) = self.backing.get() else {
            return Ok(self.renew(id, caller, requested_ms)?);
        };
        if !self.entries.lock().contains_key(&id) {
            self.fetch(id)?;
        }
        let before = self.get(id);
        let ep = self.renew(id, caller, requested_ms)?;
        if let Err(e) = backing.stored(&ep) {
            // Put the old lifespan back: the renewal did not happen.
            if let Some(old) = before {
                if let Some(entry) = self.entries.lock().get_mut(&id) {
                    entry.ep.lifespan = old.lifespan;
                    entry.ep.last_renew = old.last_renew;
                }
            }
            return Err(e.into());
        }
        Ok(ep)
    }

    /// [`EndpointRegistry::close`], looked up in the backing on a local miss
    /// and written through to it before it is returned.
    pub fn try_close(&self, id: Uuid, caller: Option<Uuid>) -> Result<(), EndpointError> {
        let Some(backing) = self.backing.get() else {
            return Ok(self.close(id, caller)?);
        };
        if !self.entries.lock().contains_key(&id) {
            self.fetch(id)?;
        }
        {
            let mut entries = self.entries.lock();
            Self::owned(&mut entries, id, caller).ok_or(UnknownEndpoint(id))?;
        }
        backing.closed(id)?;
        // Closed here too, unless a concurrent close got there first.
        match self.close(id, caller) {
            Ok(()) | Err(UnknownEndpoint(_)) => Ok(()),
        }
    }

    fn owned(entries: &mut HashMap<Uuid, Entry>, id: Uuid, caller: Option<Uuid>) -> Option<&mut Endpoint> {
        entries
            .get_mut(&id)
            .map(|e| &mut e.ep)
            .filter(|ep| ep.owner.is_none() || caller.is_none() || ep.owner == caller)
    }

    pub fn renew(&self, id: Uuid, caller: Option<Uuid>, requested_ms: i64) -> Result<Endpoint, UnknownEndpoint> {
        let lifespan = self.effective_lifespan(requested_ms);
        let mut entries = self.entries.lock();
        let ep = Self::owned(&mut entries, id, caller).ok_or(UnknownEndpoint(id))?;
        ep.lifespan = lifespan;
        ep.last_renew = Instant::now();
        Ok(ep.clone())
    }

    pub fn close(&self, id: Uuid, caller: Option<Uuid>) -> Result<(), UnknownEndpoint> {
        {
            let mut entries = self.entries.lock();
            Self::owned(&mut entries, id, caller).ok_or(UnknownEndpoint(id))?;
            entries.remove(&id);
        }
        self.notify_closed(id);
        Ok(())
    }

    /// Close every endpoint created with `capability` (destroyed or expired);
    /// their registrations go with them. Returns their ids.
    pub fn close_for_capability(&self, capability: Uuid) -> Vec<Uuid> {
        if let Some(backing) = self.backing.get() {
            // Grid-wide: other hosts drop their copies on the notice. A failed
            // write leaves the rows to expire with their lifespan.
            if let Err(e) = backing.closed_for_capability(capability) {
                tracing::warn!(%capability, "endpoints of a closed capability not closed grid-wide: {e}");
            }
        }
        let closed: Vec<Uuid> = {
            let mut entries = self.entries.lock();
            let ids: Vec<Uuid> = entries
                .values()
                .filter(|e| e.ep.capability == Some(capability))
                .map(|e| e.ep.id)
                .collect();
            for id in &ids {
                entries.remove(id);
            }
            ids
        };
        for id in &closed {
            tracing::debug!(endpoint = %id, %capability, "endpoint closed with its capability");
            self.notify_closed(*id);
        }
        closed
    }

    /// Remove endpoints idle for longer than their lifespan; returns their ids.
    pub fn sweep(&self) -> Vec<Uuid> {
        let now = Instant::now();
        let expired: Vec<Uuid> = {
            let mut entries = self.entries.lock();
            let ids: Vec<Uuid> = entries
                .values()
                .filter(|e| now.saturating_duration_since(e.ep.last_renew) > e.ep.lifespan)
                .map(|e| e.ep.id)
                .collect();
            for id in &ids {
                entries.remove(id);
            }
            ids
        };
        for id in &expired {
            tracing::debug!(endpoint = %id, "endpoint expired");
            self.notify_closed(*id);
        }
        expired
    }

    fn notify_closed(&self, id: Uuid) {
        let listeners = self.listeners.read().clone();
        for listener in listeners {
            // A failing listener must not stop the others or the caller.
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| listener(id))).is_err() {
                tracing::error!(endpoint = %id, "endpoint close listener panicked");
            }
        }
    }

    /// Subscribe to endpoint closes and expiries.
    pub fn on_close(&self, listener: CloseListener) {
        self.listeners.write().push(listener);
    }

    /// The local copy of `id` (no lookup in the backing).
    pub fn get(&self, id: Uuid) -> Option<Endpoint> {
        self.entries.lock().get(&id).map(|e| e.ep.clone())
    }

    /// Whether `id` is a live endpoint (here, or in the backing).
    pub fn exists(&self, id: Uuid) -> bool {
        self.fetch_quietly(id);
        self.entries.lock().contains_key(&id)
    }

    /// Send one callback datagram to a live endpoint. False if it is gone. A
    /// datagram over the endpoint's rate or the running request's budget is
    /// dropped and counted (still true: the endpoint exists).
    pub fn send(&self, id: Uuid, datagram: &[u8]) -> bool {
        let len = datagram.len() as u64;
        self.fetch_quietly(id);
        let now = Instant::now();
        let addr = {
            let mut entries = self.entries.lock();
            let Some(entry) = entries.get_mut(&id) else {
                return false;
            };
            if !take_request_budget(len) {
                self.counters.dropped_request_budget.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            if !(entry.datagrams.try_take(1.0, now) && entry.bytes.try_take(len as f64, now)) {
                self.counters.dropped_rate.fetch_add(1, Ordering::Relaxed);
                if !entry.warned {
                    entry.warned = true;
                    tracing::warn!(endpoint = %id, to = %entry.ep.addr, "endpoint over its callback rate; dropping (counted in dispatcher stats)");
                }
                return true;
            }
            entry.ep.addr
        };
        self.counters.sent_datagrams.fetch_add(1, Ordering::Relaxed);
        self.counters.sent_bytes.fetch_add(len, Ordering::Relaxed);
        self.sink.send(addr, datagram);
        true
    }

    /// The callback lines of `dispatcher stats`.
    pub fn report(&self) -> String {
        let c = &self.counters;
        format!(
            "Callbacks sent {} datagrams, {} bytes; dropped {} over endpoint rate, {} over request budget; {} endpoints\n",
            c.sent_datagrams.load(Ordering::Relaxed),
            c.sent_bytes.load(Ordering::Relaxed),
            c.dropped_rate.load(Ordering::Relaxed),
            c.dropped_request_budget.load(Ordering::Relaxed),
            self.len()
        )
    }

    /// True while no callback has been sent or dropped (since the last reset).
    pub fn counters_are_zero(&self) -> bool {
        let c = &self.counters;
        [&c.sent_datagrams, &c.dropped_rate, &c.dropped_request_budget]
            .iter()
            .all(|a| a.load(Ordering::Relaxed) == 0)
    }

    pub fn reset_counters(&self) {
        let c = &self.counters;
        for a in [&c.sent_datagrams, &c.sent_bytes, &c.dropped_rate, &c.dropped_request_budget] {
            a.store(0, Ordering::Relaxed);
        }
    }

    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn registry() -> EndpointRegistry {
        EndpointRegistry::new(Arc::new(NullSink), Duration::from_millis(3000))
    }

    fn addr() -> SocketAddr {
        "127.0.0.1:5000".parse().expect("addr")
    }

    #[test]
    fn lifespan_has_a_floor() {
        let r = registry();
        assert_eq!(r.create(addr(), None, 1000).lifespan, Duration::from_millis(3000));
        assert_eq!(r.create(addr(), None, 5000).lifespan, Duration::from_millis(5000));
    }

    struct Counting(AtomicUsize);
    impl CallbackSink for Counting {
        fn send(&self, _to: SocketAddr, _datagram: &[u8]) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn limited(datagrams_per_second: u32, bytes_per_request_byte: u32) -> (Arc<Counting>, EndpointRegistry) {
        let sink = Arc::new(Counting(AtomicUsize::new(0)));
        let limits = CallbackLimits {
            min_lifespan: Duration::from_millis(3000),
            max_lifespan: Duration::from_millis(60_000),
            datagrams_per_second,
            bytes_per_second: 1 << 30,
            bytes_per_request_byte,
        };
        (sink.clone(), EndpointRegistry::with_limits(sink, limits))
    }

    #[test]
    fn lifespan_has_a_ceiling() {
        let (_, r) = limited(10, 10);
        assert_eq!(r.create(addr(), None, i64::from(i32::MAX)).lifespan, Duration::from_millis(60_000));
    }

    #[test]
    fn rate_and_request_budget_drop_and_count() {
        let (sink, r) = limited(10, 2);
        let ep = r.create(addr(), None, 0);
        for _ in 0..100 {
            assert!(r.send(ep.id, b"0123456789"));
        }
        assert_eq!(sink.0.load(Ordering::SeqCst), 10);
        assert_eq!(r.counters.dropped_rate.load(Ordering::SeqCst), 90);
        let (sink, r) = limited(1000, 2);
        let ep = r.create(addr(), None, 0);
        // A 25-byte request may cause 50 bytes: five 10-byte datagrams.
        with_request_budget(Some(50), || {
            for _ in 0..20 {
                r.send(ep.id, b"0123456789");
            }
        });
        assert_eq!(sink.0.load(Ordering::SeqCst), 5);
        assert_eq!(r.counters.dropped_request_budget.load(Ordering::SeqCst), 15);
    }

    #[test]
    fn endpoints_end_with_their_capability() {
        let r = registry();
        let cap = Uuid::new_v4();
        let a = r.create_for(addr(), None, Some(cap), 0);
        let b = r.create_for(addr(), None, Some(Uuid::new_v4()), 0);
        assert_eq!(r.close_for_capability(cap), vec![a.id]);
        assert!(!r.exists(a.id) && r.exists(b.id));
    }

    #[test]
    fn close_fires_once_and_respects_owner() {
        let r = registry();
        let fired = Arc::new(AtomicUsize::new(0));
        let f = fired.clone();
        r.on_close(Arc::new(move |_| {
            f.fetch_add(1, Ordering::SeqCst);
        }));
        let owner = Uuid::new_v4();
        let ep = r.create(addr(), Some(owner), 0);
        assert_eq!(r.close(ep.id, Some(Uuid::new_v4())), Err(UnknownEndpoint(ep.id)));
        assert_eq!(r.close(ep.id, Some(owner)), Ok(()));
        assert_eq!(r.close(ep.id, Some(owner)), Err(UnknownEndpoint(ep.id)));
        assert_eq!(fired.load(Ordering::SeqCst), 1);
    }
}
