//! The RemoteControl message domain (spec remote-control.md): one [`RegionHost`]
//! per hosted region, the typed messages of every group, their handlers, the
//! touch/updated callback registrations and the dynamics tick.
//!
//! Codemap:
//! - [`messages`]: the serde types of every request, reply and callback, from
//!   the `dispatcher-messages` crate (re-exported here); all wire quirks of
//!   §2.3-2.4 and §7 live there, never in handlers.
//! - [`handlers`]: one file per message family; each handler is
//!   `fn(&RemoteControl, &RegionHost, &RequestContext, M) -> Result<M::Reply, HandlerError>`
//!   and is wired by [`handlers::Router`].
//! - [`region_host`]: a region's scene behind its lock plus its event registrations.
//! - [`callbacks`]: turning scene changes into scene events and endpoint datagrams.
//! - [`persist`]: the scene writes and the write-behind (avatar handlers read
//!   accounts from the store directly).
//! - [`tick`]: the region dynamics tick.
//!
//! Invariants: handlers lock a region once per request and check before they
//! change, so a refused request changes nothing; creates and deletes are
//! committed before the reply, high-rate motion goes through the write-behind;
//! this crate opens no sockets (datagrams leave through the endpoint registry).

pub mod callbacks;
pub mod config;
pub mod handlers;
pub mod persist;
pub mod region_host;
pub mod tick;

use std::collections::HashMap;
use std::sync::Arc;

use dispatcher_dispatch::{Registry, Services};
use dispatcher_scene::{SceneError, SceneLimits, TaskInventoryItem};
use dispatcher_store::{Region as RegionInfo, Store, StoreError};
use parking_lot::RwLock;
use uuid::Uuid;

pub use config::{RemoteControlConfig, RemoteControlLimits, DEFAULT_DOMAIN};
/// The RemoteControl messages (they live in `dispatcher-messages`).
pub use dispatcher_messages::remote_control as messages;
pub use persist::Persistence;
pub use region_host::RegionHost;
pub use tick::{start_tick, TickHandle};

/// Why the domain could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read regions from the store: {0}")]
    Store(#[from] StoreError),
    #[error("cannot restore region {region}: {reason}")]
    Region { region: String, reason: String },
}

/// Why an inventory item could not be added or removed.
#[derive(Debug, thiserror::Error)]
pub enum ItemError {
    #[error("no region named {0}")]
    NoRegion(String),
    #[error(transparent)]
    Scene(#[from] SceneError),
    #[error("cannot store the object: {0}")]
    Store(#[from] StoreError),
}

/// Which of the store's regions a host loads at start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionSelection {
    /// Every region (standalone).
    All,
    /// None; regions come and go with [`RemoteControl::add_region`] and
    /// [`RemoteControl::remove_region`] (grid mode: the regions this host leases).
    None,
}

/// The domain's shared state: every hosted region and what handlers share.
pub struct RemoteControl {
    /// Keyed by region name (`_Scene`). Standalone: fixed after
    /// [`RemoteControl::load`]; grid mode: changes as leases come and go.
    regions: RwLock<HashMap<String, Arc<RegionHost>>>,
    pub store: Arc<Store>,
    pub services: Arc<Services>,
    pub limits: SceneLimits,
    pub rc_limits: RemoteControlLimits,
    pub persist: Persistence,
}

impl RemoteControl {
    /// Load every region of the store with its persisted scene state.
    pub fn load(store: Arc<Store>, services: Arc<Services>, limits: SceneLimits) -> Result<Arc<Self>, LoadError> {
        Self::load_with(store, services, limits, RemoteControlLimits::default())
    }

    /// [`RemoteControl::load`] with explicit domain limits.
    pub fn load_with(
        store: Arc<Store>,
        services: Arc<Services>,
        limits: SceneLimits,
        rc_limits: RemoteControlLimits,
    ) -> Result<Arc<Self>, LoadError> {
        Self::load_selected(store, services, limits, rc_limits, RegionSelection::All)
    }

    /// [`RemoteControl::load_with`] loading only the `selection` of regions.
    pub fn load_selected(
        store: Arc<Store>,
        services: Arc<Services>,
        limits: SceneLimits,
        rc_limits: RemoteControlLimits,
        selection: RegionSelection,
    ) -> Result<Arc<Self>, LoadError> {
        let persist = Persistence::new(store.clone());
        let mut regions = HashMap::new();
        let infos = match selection {
            RegionSelection::All => store.list_regions()?,
            RegionSelection::None => Vec::new(),
        };
        for info in infos {
            let region = persist.load_region(info.id, &info.name, &limits).map_err(|e| LoadError::Region {
                region: info.name.clone(),
                reason: e.to_string(),
            })?;
            regions.insert(info.name.clone(), Arc::new(RegionHost::new(region)));
        }
        let rc = Arc::new(RemoteControl {
            regions: RwLock::new(regions),
            store,
            services,
            limits,
            rc_limits,
            persist,
        });
        callbacks::watch_endpoints(&rc);
        Ok(rc)
    }

    /// The region named `name` (exact match, as `_Scene`).
    pub fn region(&self, name: &str) -> Option<Arc<RegionHost>> {
        self.regions.read().get(name).cloned()
    }

    /// The hosted regions now (a snapshot).
    pub fn regions(&self) -> Vec<Arc<RegionHost>> {
        self.regions.read().values().cloned().collect()
    }

    /// Load `info`'s region from the store and start serving it: its handlers
    /// registered under `domain`, its objects in the tick. Refused when a
    /// region of that name is already hosted.
    pub fn add_region(self: &Arc<Self>, registry: &Registry, domain: &str, info: &RegionInfo) -> Result<Arc<RegionHost>, LoadError> {
        let region = self
            .persist
            .load_region(info.id, &info.name, &self.limits)
            .map_err(|e| LoadError::Region {
                region: info.name.clone(),
                reason: e.to_string(),
            })?;
        let host = Arc::new(RegionHost::new(region));
        {
            let mut regions = self.regions.write();
            if regions.contains_key(&info.name) {
                return Err(LoadError::Region {
                    region: info.name.clone(),
                    reason: "it is hosted already".into(),
                });
            }
            regions.insert(info.name.clone(), host.clone());
        }
        handlers::register_all(&handlers::Router::new(self, &host, registry, domain));
        Ok(host)
    }

    /// Stop serving the region `name`: its handlers unregistered, out of the
    /// tick. With `flush`, its pending motion is committed first (a graceful
    /// hand-over); without, it is dropped (the lease is lost: another host
    /// owns the region and this host's writes would be refused anyway).
    /// Requests already running finish on the detached region.
    pub fn remove_region(&self, registry: &Registry, domain: &str, name: &str, flush: bool) -> Option<Arc<RegionHost>> {
        let host = self.regions.write().remove(name)?;
        registry.unregister_scene(name, domain);
        if flush {
            let (ids, since) = host.dirty.lock().take();
            let region = host.region.read();
            self.persist
                .queue_dynamics(host.id, ids.iter().filter_map(|id| region.object(*id)), since);
            drop(region);
            self.persist.flush();
        } else {
            self.persist.forget_region(host.id);
        }
        Some(host)
    }

    /// Register every request type for every region under `domain`
    /// (default [`DEFAULT_DOMAIN`]), scene-specifically, so InfoResponse lists
    /// `<scene>::<domain>::RemoteControl.Messages.XRequest`.
    pub fn register(self: &Arc<Self>, registry: &Registry, domain: &str) {
        let mut hosts: Vec<(String, Arc<RegionHost>)> = self.regions.read().iter().map(|(n, h)| (n.clone(), h.clone())).collect();
        hosts.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, host) in &hosts {
            let router = handlers::Router::new(self, host, registry, domain);
            handlers::register_all(&router);
        }
    }

    /// Owner and position of the object with root id `object_id`.
    pub fn object_facts(&self, region: &str, object_id: Uuid) -> Option<(Uuid, [f32; 3])> {
        let host = self.region(region)?;
        let region = host.region.read();
        let object = region.object(object_id)?;
        let p = object.position;
        Some((object.owner_id(), [p.x, p.y, p.z]))
    }

    /// Put `item` into the object's root inventory and commit the object before
    /// returning (GetObjectInventory lists it, a restart keeps it).
    pub fn add_root_item(&self, region: &str, object_id: Uuid, item: TaskInventoryItem) -> Result<(), ItemError> {
        let host = self.region(region).ok_or_else(|| ItemError::NoRegion(region.to_owned()))?;
        let mut scene = host.region.write();
        scene.add_root_item(object_id, item)?;
        let object = scene.object(object_id).ok_or(SceneError::NoSuchObject(object_id))?;
        self.persist.save_objects(host.id, std::slice::from_ref(object))?;
        Ok(())
    }

    /// Remove the root inventory item `item_id` (or, when there is none, the
    /// items holding `asset_id`), committed. An object that is gone already
    /// has nothing to remove.
    pub fn remove_root_items(&self, region: &str, object_id: Uuid, item_id: Uuid, asset_id: Uuid) -> Result<(), ItemError> {
        let host = self.region(region).ok_or_else(|| ItemError::NoRegion(region.to_owned()))?;
        let mut scene = host.region.write();
        match scene.remove_root_items(object_id, item_id, asset_id) {
            Ok(0) | Err(SceneError::NoSuchObject(_)) => Ok(()),
            Ok(_) => {
                let object = scene.object(object_id).ok_or(SceneError::NoSuchObject(object_id))?;
                self.persist.save_objects(host.id, std::slice::from_ref(object))?;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Give the write-behind the current state of every object whose motion
    /// changed since the last hand-off (each cloned once, however often it moved).
    pub fn handoff_dirty(&self) {
        for host in self.regions() {
            let (ids, since) = host.dirty.lock().take();
            if ids.is_empty() {
                continue;
            }
            // Under the read lock: a delete (write lock) either precedes this and
            // the object is skipped, or follows it and forgets the queued state.
            let region = host.region.read();
            self.persist
                .queue_dynamics(host.id, ids.iter().filter_map(|id| region.object(*id)), since);
        }
    }

    /// The write-behind lag (how long the oldest motion change not yet
    /// committed has waited, whether still in a region's dirty set or queued
    /// in the writer; zero when all is written) and the objects waiting.
    pub fn write_behind(&self) -> (std::time::Duration, usize) {
        let (mut lag, mut waiting) = self.persist.write_behind();
        for host in self.regions() {
            let dirty = host.dirty.lock();
            waiting += dirty.len();
            if let Some(since) = dirty.since() {
                lag = lag.max(since.elapsed());
            }
        }
        (lag, waiting)
    }

    /// Commit everything the write-behind still holds (shutdown, tests).
    pub fn flush(&self) {
        self.handoff_dirty();
        self.persist.flush();
    }
}
