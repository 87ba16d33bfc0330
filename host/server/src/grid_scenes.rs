//! Where a scene is served, for the pipeline's routing step in grid mode:
//! [`GridScenes`] implements `RemoteScenes` on the grid's lease cache
//! (`Grid::owner_of`, kept fresh by lease passes and change notices) and the
//! store's shared regions table (names to ids, cached; re-read at most once a
//! second when a name is not in it, so a region created on another host is
//! found).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dispatcher_dispatch::{RemoteOwner, RemoteScenes, SceneHome};
use dispatcher_grid::Grid;
use dispatcher_store::Store;
use parking_lot::{Mutex, RwLock};
use uuid::Uuid;

/// Whether a scene is loaded on this host now.
pub type LocalScenes = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// How often the names are re-read for a name not among them.
const NAMES_REFRESH: Duration = Duration::from_secs(1);

pub struct GridScenes {
    grid: Grid,
    store: Arc<Store>,
    local: LocalScenes,
    names: RwLock<HashMap<String, Uuid>>,
    last_read: Mutex<Option<Instant>>,
}

impl GridScenes {
    pub fn new(grid: Grid, store: Arc<Store>, local: LocalScenes) -> Self {
        GridScenes {
            grid,
            store,
            local,
            names: RwLock::new(HashMap::new()),
            last_read: Mutex::new(None),
        }
    }

    /// The region id of `scene`, re-reading the regions table when it is
    /// unknown and was not read within [`NAMES_REFRESH`].
    fn region_id(&self, scene: &str) -> Option<Uuid> {
        if let Some(id) = self.names.read().get(scene) {
            return Some(*id);
        }
        {
            let mut last = self.last_read.lock();
            if last.is_some_and(|t| t.elapsed() < NAMES_REFRESH) {
                return None;
            }
            *last = Some(Instant::now());
        }
        match self.store.list_regions() {
            Ok(regions) => {
                let fresh: HashMap<String, Uuid> = regions.into_iter().map(|r| (r.name, r.id)).collect();
                let id = fresh.get(scene).copied();
                *self.names.write() = fresh;
                id
            }
            Err(e) => {
                tracing::warn!(error = %e, "grid: cannot read the regions table");
                None
            }
        }
    }
}

impl RemoteScenes for GridScenes {
    fn locate(&self, scene: &str) -> SceneHome {
        if (self.local)(scene) {
            return SceneHome::Here;
        }
        let Some(id) = self.region_id(scene) else {
            return SceneHome::Here;
        };
        match self.grid.owner_of(id) {
            // Leased here but not loaded yet (the acquire is in progress):
            // wait for it like for a takeover.
            Some(owner) if owner.host == self.grid.host_name() => SceneHome::Unowned,
            Some(owner) => SceneHome::Remote(RemoteOwner {
                host: owner.host,
                url: owner.advertise_url,
                epoch: owner.epoch,
            }),
            None => SceneHome::Unowned,
        }
    }
}

/// Make `dispatcher` a member of `grid`'s request routing: regions that
/// `local` does not serve are located through the grid, and requests for
/// them forwarded. Returns the forwarder for the HTTP and UDP listeners.
pub fn install(
    dispatcher: &dispatcher_dispatch::Dispatcher,
    grid: &Grid,
    store: Arc<Store>,
    local: LocalScenes,
) -> Arc<crate::forward::Forwarder> {
    let scenes = Arc::new(GridScenes::new(grid.clone(), store, local));
    dispatcher.set_remote_scenes(scenes.clone());
    // validate() made Secret required in grid mode.
    let secret = grid.config().secret.clone().unwrap_or_default();
    Arc::new(crate::forward::Forwarder::new(secret, scenes, grid.config().lease()))
}
