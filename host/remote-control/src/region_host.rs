//! One hosted region: its scene behind a lock, and its callback registrations.

use std::collections::HashMap;

use dispatcher_scene::{Region, Uuid, Vector3};
use parking_lot::{Mutex, RwLock};

use crate::persist::DirtySet;

/// A touch or updated registration: where its datagrams go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registration {
    pub request_id: Uuid,
    pub endpoint_id: Uuid,
}

/// The callback registrations of one region (§3.9), keyed by object id.
#[derive(Debug, Default)]
pub struct Registrations {
    pub touch: HashMap<Uuid, Vec<Registration>>,
    pub updated: HashMap<Uuid, Vec<Registration>>,
    /// The position last reported by `UpdatedCallback`, per watched object.
    pub last_notified: HashMap<Uuid, Vector3>,
}

impl Registrations {
    /// Registrations held in total (touch + updated), for the region cap.
    pub fn len(&self) -> usize {
        self.touch.values().map(Vec::len).sum::<usize>() + self.updated.values().map(Vec::len).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.touch.is_empty() && self.updated.is_empty()
    }

    /// An object is gone: its registrations go silently (RC-74).
    pub fn drop_object(&mut self, object_id: Uuid) {
        self.touch.remove(&object_id);
        self.updated.remove(&object_id);
        self.last_notified.remove(&object_id);
    }

    /// An endpoint closed or expired: everything that sent to it goes (RC-73).
    pub fn drop_endpoint(&mut self, endpoint_id: Uuid) {
        for map in [&mut self.touch, &mut self.updated] {
            map.retain(|_, regs| {
                regs.retain(|r| r.endpoint_id != endpoint_id);
                !regs.is_empty()
            });
        }
        let updated = &self.updated;
        self.last_notified.retain(|id, _| updated.contains_key(id));
    }
}

impl Registrations {
    /// Touch registrations of an object (empty slice when none).
    pub fn touch_of(&self, object_id: Uuid) -> &[Registration] {
        self.touch.get(&object_id).map_or(&[], Vec::as_slice)
    }

    /// Whether the object has any registration of either kind.
    pub fn has_any(&self, object_id: Uuid) -> bool {
        self.touch.contains_key(&object_id) || self.updated.contains_key(&object_id)
    }
}

/// A region served by this host.
pub struct RegionHost {
    pub id: Uuid,
    pub name: String,
    pub region: RwLock<Region>,
    pub registrations: Mutex<Registrations>,
    /// Objects whose motion the write-behind has not been given yet.
    pub dirty: Mutex<DirtySet>,
    /// How long this region's last integration step took (microseconds),
    /// read by the host's metrics.
    pub last_tick_micros: std::sync::atomic::AtomicU64,
}

impl RegionHost {
    pub fn new(region: Region) -> Self {
        RegionHost {
            id: region.id,
            name: region.name.clone(),
            region: RwLock::new(region),
            registrations: Mutex::new(Registrations::default()),
            dirty: Mutex::new(DirtySet::new()),
            last_tick_micros: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(request: u128, endpoint: u128) -> Registration {
        Registration {
            request_id: Uuid::from_u128(request),
            endpoint_id: Uuid::from_u128(endpoint),
        }
    }

    #[test]
    fn closing_an_endpoint_drops_it_from_every_index() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let mut regs = Registrations::default();
        regs.touch.insert(a, vec![reg(10, 100), reg(11, 200)]);
        regs.updated.insert(b, vec![reg(12, 100)]);
        regs.last_notified.insert(b, Vector3::ZERO);
        regs.drop_endpoint(Uuid::from_u128(100));
        assert_eq!(regs.touch_of(a), &[reg(11, 200)]);
        assert!(!regs.has_any(b));
        assert!(regs.last_notified.is_empty(), "Q-28: no stale entries");
        assert_eq!(regs.len(), 1);
    }

    #[test]
    fn deleting_an_object_drops_its_registrations() {
        let a = Uuid::from_u128(1);
        let mut regs = Registrations::default();
        regs.touch.insert(a, vec![reg(10, 100)]);
        regs.updated.insert(a, vec![reg(11, 100)]);
        regs.drop_object(a);
        assert!(regs.is_empty());
    }
}
