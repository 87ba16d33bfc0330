//! Capabilities: time-limited grants bound to one account, one scene and a set
//! of domains (dispatcher-core.md §5.5). In memory only, as in the original.
//!
//! Lifetimes slide: each fully successful use refreshes the idle timer. Expiry is
//! checked on every lookup (quirk Q10 fixed) and a lookup whose domain or scene
//! check fails does not refresh (Q11 / CORE-104 fixed).

use std::collections::HashMap;
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

/// The capability table.
#[derive(Default)]
pub struct CapabilityStore {
    entries: Mutex<HashMap<Uuid, Capability, FastBuild>>,
    /// Expired entries a lookup removed, until the next [`CapabilityStore::purge`]
    /// reports them (so their endpoints can be closed).
    ended: Mutex<Vec<Uuid>>,
}

impl CapabilityStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Issue a new capability.
    pub fn create(&self, user_id: Uuid, user_name: String, scene: String, domains: Vec<String>, lifespan: Duration) -> Capability {
        let cap = Capability {
            id: Uuid::new_v4(),
            user_id,
            user_name,
            scene,
            domains,
            lifespan,
            last_refresh: Instant::now(),
        };
        self.entries.lock().insert(cap.id, cap.clone());
        cap
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
                self.ended.lock().push(id);
                return Err(AuthFailure::NoSuchCapability);
            }
            None => return Err(AuthFailure::NoSuchCapability),
        };
        if !cap.allows_domain(domain) {
            return Err(AuthFailure::Domain);
        }
        if !scene.is_empty() && scene != cap.scene {
            return Err(AuthFailure::Scene);
        }
        cap.last_refresh = now;
        Ok(read(cap))
    }

    /// Whether a capability exists and has not expired at `now`, without
    /// refreshing its idle timer (an event stream watching its capability
    /// must not keep it alive).
    pub fn is_live(&self, id: Uuid, now: Instant) -> bool {
        self.entries.lock().get(&id).is_some_and(|cap| !cap.expired(now))
    }

    /// Set a new lifespan and refresh. `None` if unknown or expired.
    pub fn renew(&self, id: Uuid, lifespan: Duration) -> Option<Capability> {
        let now = Instant::now();
        let mut entries = self.entries.lock();
        let cap = entries.get_mut(&id).filter(|c| !c.expired(now))?;
        cap.lifespan = lifespan;
        cap.last_refresh = now;
        Some(cap.clone())
    }

    /// Remove a capability; false if it was not there.
    pub fn destroy(&self, id: Uuid) -> bool {
        self.entries.lock().remove(&id).is_some()
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
