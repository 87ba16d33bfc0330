//! Callback endpoints (dispatcher-core.md §7): client UDP addresses that other
//! domains push callbacks to.
//!
//! Deliberate tightenings, documented in docs/protocol.md: an endpoint is bound to
//! the account that created it, and renew/close from another account reads as an
//! unknown endpoint (Q22); close notifications fire exactly once (Q21).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    pub lifespan: Duration,
    pub last_renew: Instant,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Unknown endpoint identifier; {0}")]
pub struct UnknownEndpoint(pub Uuid);

/// The endpoint table and the callback path.
pub struct EndpointRegistry {
    entries: Mutex<HashMap<Uuid, Endpoint>>,
    listeners: RwLock<Vec<CloseListener>>,
    sink: Arc<dyn CallbackSink>,
    min_lifespan: Duration,
}

impl EndpointRegistry {
    pub fn new(sink: Arc<dyn CallbackSink>, min_lifespan: Duration) -> Self {
        EndpointRegistry {
            entries: Mutex::new(HashMap::new()),
            listeners: RwLock::new(Vec::new()),
            sink,
            min_lifespan,
        }
    }

    /// The effective lifespan for a requested one: never below MaxInterPingTime.
    pub fn effective_lifespan(&self, requested_ms: i64) -> Duration {
        Duration::from_millis(requested_ms.max(0) as u64).max(self.min_lifespan)
    }

    pub fn create(&self, addr: SocketAddr, owner: Option<Uuid>, requested_ms: i64) -> Endpoint {
        let ep = Endpoint {
            id: Uuid::new_v4(),
            addr,
            owner,
            lifespan: self.effective_lifespan(requested_ms),
            last_renew: Instant::now(),
        };
        self.entries.lock().insert(ep.id, ep.clone());
        ep
    }

    fn owned<'a>(entries: &'a mut HashMap<Uuid, Endpoint>, id: Uuid, caller: Option<Uuid>) -> Option<&'a mut Endpoint> {
        entries
            .get_mut(&id)
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

    /// Remove endpoints idle for longer than their lifespan; returns their ids.
    pub fn sweep(&self) -> Vec<Uuid> {
        let now = Instant::now();
        let expired: Vec<Uuid> = {
            let mut entries = self.entries.lock();
            let ids: Vec<Uuid> = entries
                .values()
                .filter(|ep| now.saturating_duration_since(ep.last_renew) > ep.lifespan)
                .map(|ep| ep.id)
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

    pub fn get(&self, id: Uuid) -> Option<Endpoint> {
        self.entries.lock().get(&id).cloned()
    }

    pub fn exists(&self, id: Uuid) -> bool {
        self.entries.lock().contains_key(&id)
    }

    /// Send one callback datagram to a live endpoint. False if it is gone.
    pub fn send(&self, id: Uuid, datagram: &[u8]) -> bool {
        let addr = match self.entries.lock().get(&id) {
            Some(ep) => ep.addr,
            None => return false,
        };
        self.sink.send(addr, datagram);
        true
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
