//! Capabilities: time-limited grants bound to one account, one scene and a set
//! of domains (dispatcher-core.md §5.5). In memory only, as in the original.
//!
//! Lifetimes slide: each fully successful use refreshes the idle timer. Expiry is
//! checked on every lookup (quirk Q10 fixed) and a lookup whose domain or scene
//! check fails does not refresh (Q11 / CORE-104 fixed).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use uuid::Uuid;

use crate::fasthash::FastBuild;

/// The domain of the core's own messages; fixed, not configurable.
pub const DISPATCHER_DOMAIN: &str = "Dispatcher";
/// The capability domain that grants every domain.
pub const MASTER_DOMAIN: &str = "MASTER";

/// One issued capability.
#[derive(Clone, Debug)]
pub struct Capability {
    pub id: Uuid,
    pub user_id: Uuid,
    pub user_name: String,
    pub scene: String,
    pub domains: Vec<String>,
    /// Zero means never expires (internal capabilities only).
    pub lifespan: Duration,
    pub last_refresh: Instant,
}

impl Capability {
    fn expired(&self, now: Instant) -> bool {
        !self.lifespan.is_zero() && now.saturating_duration_since(self.last_refresh) > self.lifespan
    }

    /// Whether this capability may address `domain` (`Dispatcher` always may).
    pub fn allows_domain(&self, domain: &str) -> bool {
        domain == DISPATCHER_DOMAIN || self.domains.iter().any(|d| d == domain || d == MASTER_DOMAIN)
    }

    /// The wall-clock-free expiry instant, if it expires.
    pub fn expires_at(&self) -> Option<Instant> {
        (!self.lifespan.is_zero()).then(|| self.last_refresh + self.lifespan)
    }
}

/// Why a capability did not authorise a request. `Display` is the wire text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("Unauthorized invocation; no such capability")]
    NoSuchCapability,
    #[error("Unauthorized invocation; capability does not authorize access to message domain")]
    Domain,
    #[error("Unauthorized invocation; capability does not authorize access to scene")]
    Scene,
}

/// A grid-wide write or read of a capability failed (the database is
/// unreachable, …). The handler answers with an internal failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("grid capability store: {0}")]
pub struct BackingError(pub String);

/// Where capabilities live beyond this host (grid mode): every create, renew
/// and destroy is written through before the caller is answered, and a lookup
/// that misses the local table (or finds its entry expired) asks the backing.
/// The backing keeps the local table true by evicting entries another host
/// renewed or destroyed ([`CapabilityCache::evict`]). Standalone hosts set no
/// backing and pay nothing for the hook.
pub trait CapabilityBacking: Send + Sync {
    /// Called once by [`CapabilityStore::set_backing`] with a handle on the
    /// local table, for evictions on change notices.
    fn attach(&self, cache: CapabilityCache) {
        let _ = cache;
    }
    /// A new capability (write-through).
    fn created(&self, cap: &Capability) -> Result<(), BackingError>;
    /// A new lifespan, refreshed now (write-through; other hosts are told).
    fn renewed(&self, cap: &Capability) -> Result<(), BackingError>;
    /// Gone (write-through; other hosts are told); whether the backing had it.
    fn destroyed(&self, id: Uuid) -> Result<bool, BackingError>;
    /// A successful use refreshed the idle timer; best effort, must not block.
    fn used(&self, id: Uuid, lifespan: Duration);
    /// The capability as the backing knows it, `None` if unknown or expired.
    fn lookup(&self, id: Uuid) -> Result<Option<Capability>, BackingError>;
}

type Table = Mutex<HashMap<Uuid, Capability, FastBuild>>;

/// A handle on a [`CapabilityStore`]'s local table for its backing.
#[derive(Clone)]
pub struct CapabilityCache(Arc<Table>);

impl CapabilityCache {
    /// Drop the local copy of `id`; the next use looks it up in the backing.
    pub fn evict(&self, id: Uuid) {
        self.0.lock().remove(&id);
    }

    /// Drop every local copy (after change notices may have been missed).
    pub fn evict_all(&self) {
        self.0.lock().clear();
    }

    pub fn contains(&self, id: Uuid) -> bool {
        self.0.lock().contains_key(&id)
    }
}

/// The capability table.
#[derive(Default)]
pub struct CapabilityStore {
    entries: Arc<Table>,
    /// Expired entries a lookup removed, until the next [`CapabilityStore::purge`]
    /// reports them (so their endpoints can be closed).
    ended: Mutex<Vec<Uuid>>,
    /// Grid mode's write-through and shared lookups; unset when standalone.
    backing: OnceLock<Arc<dyn CapabilityBacking>>,
}

impl CapabilityStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Back this table with a grid-wide store (once; later calls are refused).
    pub fn set_backing(&self, backing: Arc<dyn CapabilityBacking>) -> Result<(), BackingError> {
        backing.attach(CapabilityCache(Arc::clone(&self.entries)));
        self.backing
            .set(backing)
            .map_err(|_| BackingError("a capability backing is already set".into()))
    }

    /// Issue a new capability. With a backing whose write fails, the
    /// capability still works on this host (internal capabilities of scripts
    /// and extensions); requests use [`CapabilityStore::try_create`].
    pub fn create(&self, user_id: Uuid, user_name: String, scene: String, domains: Vec<String>, lifespan: Duration) -> Capability {
        let cap = Self::new_capability(user_id, user_name, scene, domains, lifespan);
        self.entries.lock().insert(cap.id, cap.clone());
        if let Some(backing) = self.backing.get() {
            if let Err(e) = backing.created(&cap) {
                tracing::warn!("capability {} is valid on this host only: {e}", cap.id);
            }
        }
        cap
    }

    /// Issue a new capability, written through to the backing before it is
    /// returned; nothing is issued when that write fails.
    pub fn try_create(
        &self,
        user_id: Uuid,
        user_name: String,
        scene: String,
        domains: Vec<String>,
        lifespan: Duration,
    ) -> Result<Capability, BackingError> {
        let cap = Self::new_capability(user_id, user_name, scene, domains, lifespan);
        if let Some(backing) = self.backing.get() {
            backing.created(&cap)?;
        }
        self.entries.lock().insert(cap.id, cap.clone());
        Ok(cap)
    }

    fn new_capability(user_id: Uuid, user_name: String, scene: String, domains: Vec<String>, lifespan: Duration) -> Capability {
        Capability {
            id: Uuid::new_v4(),
            user_id,
            user_name,
            scene,
            domains,
            lifespan,
            last_refresh: Instant::now(),
        }
    }

    /// Check a request's capability, domain and scene. An empty `scene` stands for
    /// the capability's own scene (quirk Q12 relaxed); the scene actually bound is
    /// returned in the capability. Refreshes the idle timer on success only.
    pub fn authorize(&self, id: Uuid, domain: &str, scene: &str) -> Result<Capability, AuthFailure> {
        self.authorize_with(id, domain, scene, Instant::now(), Capability::clone)
    }

    /// [`CapabilityStore::authorize`] at `now` (a clock read the caller has
    /// made anyway), reading what the caller needs from the capability under
    /// the lock instead of cloning all of it.
    pub fn authorize_with<R>(
        &self,
        id: Uuid,
        domain: &str,
        scene: &str,
        now: Instant,
        read: impl FnOnce(&Capability) -> R,
    ) -> Result<R, AuthFailure> {
        let mut entries = self.entries.lock();
        let cap = match entries.get_mut(&id) {
            Some(cap) if !cap.expired(now) => cap,
            Some(_) => {
                entries.remove(&id);
                drop(entries);
                if self.backing.get().is_some() {
                    // Another host may have kept it alive or renewed it.
                    return self.authorize_from_backing(id, domain, scene, now, read);
                }
                self.ended.lock().push(id);
                return Err(AuthFailure::NoSuchCapability);
            }
            None => {
                drop(entries);
                return self.authorize_from_backing(id, domain, scene, now, read);
            }
        };
        if !cap.allows_domain(domain) {
            return Err(AuthFailure::Domain);
        }
        if !scene.is_empty() && scene != cap.scene {
            return Err(AuthFailure::Scene);
        }
        cap.last_refresh = now;
        let out = read(cap);
        if let Some(backing) = self.backing.get() {
            let lifespan = cap.lifespan;
            drop(entries);
            backing.used(id, lifespan);
        }
        Ok(out)
    }

    /// The miss path of [`CapabilityStore::authorize_with`]: fetch from the
    /// backing (outside the lock), cache, check.
    #[cold]
    fn authorize_from_backing<R>(
        &self,
        id: Uuid,
        domain: &str,
        scene: &str,
        now: Instant,
        read: impl FnOnce(&Capability) -> R,
    ) -> Result<R, AuthFailure> {
        let Some(mut cap) = self.fetch(id, now) else {
            return Err(AuthFailure::NoSuchCapability);
        };
        if !cap.allows_domain(domain) {
            return Err(AuthFailure::Domain);
        }
        if !scene.is_empty() && scene != cap.scene {
            return Err(AuthFailure::Scene);
        }
        cap.last_refresh = cap.last_refresh.max(now);
        let out = read(&cap);
        let lifespan = cap.lifespan;
        self.entries.lock().insert(id, cap);
        if let Some(backing) = self.backing.get() {
            backing.used(id, lifespan);
        }
        Ok(out)
    }

    /// The backing's live copy of `id`, if there is a backing and it has one.
    fn fetch(&self, id: Uuid, now: Instant) -> Option<Capability> {
        let backing = self.backing.get()?;
        match backing.lookup(id) {
            Ok(Some(cap)) if !cap.expired(now) => Some(cap),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!("capability {id}: lookup failed: {e}");
                None
            }
        }
    }

    /// Whether a capability exists and has not expired at `now`, without
    /// refreshing its idle timer (an event stream watching its capability
    /// must not keep it alive).
    pub fn is_live(&self, id: Uuid, now: Instant) -> bool {
        if self.entries.lock().get(&id).is_some_and(|cap| !cap.expired(now)) {
            return true;
        }
        match self.fetch(id, now) {
            Some(cap) => {
                self.entries.lock().insert(id, cap);
                true
            }
            None => false,
        }
    }

    /// Set a new lifespan and refresh. `None` if unknown or expired (or the
    /// backing's write failed: see [`CapabilityStore::try_renew`]).
    pub fn renew(&self, id: Uuid, lifespan: Duration) -> Option<Capability> {
        self.try_renew(id, lifespan).unwrap_or_else(|e| {
            tracing::warn!("capability {id} not renewed: {e}");
            None
        })
    }

    /// [`CapabilityStore::renew`], written through to the backing first.
    pub fn try_renew(&self, id: Uuid, lifespan: Duration) -> Result<Option<Capability>, BackingError> {
        let now = Instant::now();
        let mut entries = self.entries.lock();
        let Some(backing) = self.backing.get() else {
            let Some(cap) = entries.get_mut(&id).filter(|c| !c.expired(now)) else {
                return Ok(None);
            };
            cap.lifespan = lifespan;
            cap.last_refresh = now;
            return Ok(Some(cap.clone()));
        };
        let local = entries.get(&id).filter(|c| !c.expired(now)).cloned();
        drop(entries);
        let Some(mut cap) = local.or_else(|| self.fetch(id, now)) else {
            return Ok(None);
        };
        cap.lifespan = lifespan;
        cap.last_refresh = now;
        backing.renewed(&cap)?;
        self.entries.lock().insert(id, cap.clone());
        Ok(Some(cap))
    }

    /// Remove a capability; false if it was not there.
    pub fn destroy(&self, id: Uuid) -> bool {
        self.try_destroy(id).unwrap_or_else(|e| {
            tracing::warn!("capability {id}: destroy not written through: {e}");
            true
        })
    }

    /// [`CapabilityStore::destroy`], written through to the backing.
    pub fn try_destroy(&self, id: Uuid) -> Result<bool, BackingError> {
        let local = self.entries.lock().remove(&id).is_some();
        match self.backing.get() {
            Some(backing) => Ok(backing.destroyed(id)? || local),
            None => Ok(local),
        }
    }

    /// Drop every expired entry; returns the ids of every capability that
    /// expired since the last call (also those a lookup found expired).
    pub fn purge(&self) -> Vec<Uuid> {
        let now = Instant::now();
        let mut gone = std::mem::take(&mut *self.ended.lock());
        let mut entries = self.entries.lock();
        entries.retain(|id, c| {
            let keep = !c.expired(now);
            if !keep {
                gone.push(*id);
            }
            keep
        });
        gone
    }

    /// A snapshot for the console, sorted by expiry.
    pub fn list(&self) -> Vec<Capability> {
        let mut all: Vec<Capability> = self.entries.lock().values().cloned().collect();
        all.sort_by_key(|c| c.expires_at());
        all
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
    use super::*;

    fn store_with(domains: &[&str], lifespan: Duration) -> (CapabilityStore, Uuid) {
        let store = CapabilityStore::new();
        let cap = store.create(
            Uuid::new_v4(),
            "A B".into(),
            "Region".into(),
            domains.iter().map(|s| s.to_string()).collect(),
            lifespan,
        );
        (store, cap.id)
    }

    #[test]
    fn checks_domain_then_scene() {
        let (store, id) = store_with(&["RemoteControl"], Duration::from_secs(60));
        assert!(store.authorize(id, "RemoteControl", "Region").is_ok());
        assert!(store.authorize(id, "Dispatcher", "Region").is_ok());
        assert!(store.authorize(id, "Region", "").is_err());
        assert_eq!(store.authorize(id, "Other", "Region").err(), Some(AuthFailure::Domain));
        assert_eq!(store.authorize(id, "remotecontrol", "Region").err(), Some(AuthFailure::Domain));
        assert_eq!(store.authorize(id, "RemoteControl", "region").err(), Some(AuthFailure::Scene));
        assert_eq!(store.authorize(Uuid::nil(), "Dispatcher", "Region").err(), Some(AuthFailure::NoSuchCapability));
    }

    #[test]
    fn master_grants_everything() {
        let (store, id) = store_with(&["MASTER"], Duration::from_secs(60));
        assert!(store.authorize(id, "Anything", "Region").is_ok());
    }

    #[test]
    fn expiry_is_checked_on_lookup() {
        let (store, id) = store_with(&[], Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(store.authorize(id, "Dispatcher", "Region").err(), Some(AuthFailure::NoSuchCapability));
        assert!(store.is_empty());
    }
}
