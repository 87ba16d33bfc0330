//! The adapter between this domain and the store's scene persistence: the only
//! file that names the store's scene API, so that API can change in one place.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dispatcher_scene::{Region, SceneLimits, SceneObject, Uuid};
use dispatcher_store::{DynamicsWriter, Store, StoreError};

/// How often the write-behind commits queued motion (queued motion is durable within 1 s).
pub const DYNAMICS_FLUSH_INTERVAL: Duration = Duration::from_millis(500);

/// Durable scene writes of the domain: synchronous for creates and deletes,
/// the store's coalescing write-behind for motion.
pub struct Persistence {
    store: Arc<Store>,
    writer: DynamicsWriter,
}

impl Persistence {
    pub fn new(store: Arc<Store>) -> Self {
        let writer = DynamicsWriter::start(store.clone(), DYNAMICS_FLUSH_INTERVAL);
        Persistence { store, writer }
    }

    /// A region with its persisted objects, terrain and sun. Objects that no
    /// longer fit the region (limits or ids changed) are skipped with a log line
    /// rather than keeping the whole host down.
    pub fn load_region(&self, id: Uuid, name: &str, limits: &SceneLimits) -> Result<Region, StoreError> {
        let mut region = Region::new(id, name);
        region.set_limits(limits.clone());
        self.restore_terrain_and_sun(&mut region)?;
        for object in self.store.load_objects(id)? {
            let object_id = object.id();
            if let Err(e) = region.add_object(object) {
                tracing::warn!(region = %dispatcher_dispatch::escape(name), object = %object_id, error = %dispatcher_dispatch::escape(&e.to_string()), "stored object not restored");
            }
        }
        Ok(region)
    }

    /// Committed before the caller replies (creates).
    pub fn save_objects(&self, region_id: Uuid, objects: &[SceneObject]) -> Result<(), StoreError> {
        self.store.save_objects(region_id, objects)
    }

    /// Committed before the caller replies (deletes). Pending motion of these
    /// objects is dropped first so a deleted object is never written back.
    pub fn delete_objects(&self, region_id: Uuid, ids: &[Uuid]) -> Result<(), StoreError> {
        self.writer.forget(region_id, ids);
        self.store.delete_objects(region_id, ids)
    }

    /// How long the oldest motion not yet committed has waited (zero when
    /// all is written), and how many objects wait.
    pub fn write_behind(&self) -> (Duration, usize) {
        (self.writer.lag(), self.writer.pending_len())
    }

    /// Drops the region's pending motion (an archive import replaces or adds
    /// objects in its own transaction; nothing queued before may write back).
    pub fn forget_region(&self, region_id: Uuid) {
        self.writer.forget_region(region_id);
    }

    pub fn delete_all_objects(&self, region_id: Uuid) -> Result<(), StoreError> {
        self.writer.forget_region(region_id);
        self.store.delete_all_objects(region_id)
    }

    /// High-rate motion: the objects' current states, coalesced by the writer
    /// and committed within [`DYNAMICS_FLUSH_INTERVAL`].
    pub fn queue_dynamics<'a>(&self, region_id: Uuid, objects: impl IntoIterator<Item = &'a SceneObject>, since: Option<Instant>) {
        for object in objects {
            self.writer.queue(region_id, object);
        }
        if let Some(since) = since {
            self.writer.changed_since(since);
        }
    }

    /// Write everything queued (shutdown).
    pub fn flush(&self) {
        if let Err(e) = self.writer.flush() {
            tracing::error!(error = %e, "flushing object dynamics failed");
        }
    }
}

/// Objects of one region whose motion changed since they were last handed to
/// the write-behind. Handlers only insert ids (cheap at any rate); the tick
/// clones each dirty object once per hand-off.
#[derive(Debug, Default)]
pub struct DirtySet {
    ids: HashSet<Uuid>,
    /// When the first of `ids` changed (the write-behind lag counts from it).
    since: Option<Instant>,
}

impl DirtySet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, id: Uuid) {
        self.since.get_or_insert_with(Instant::now);
        self.ids.insert(id);
    }

    pub fn remove(&mut self, id: &Uuid) {
        self.ids.remove(id);
        if self.ids.is_empty() {
            self.since = None;
        }
    }

    pub fn clear(&mut self) {
        self.ids.clear();
        self.since = None;
    }

    /// The ids, and when the first of them changed; leaves the set empty.
    pub fn take(&mut self) -> (Vec<Uuid>, Option<Instant>) {
        (self.ids.drain().collect(), self.since.take())
    }

    /// When the oldest change not yet handed off was made.
    pub fn since(&self) -> Option<Instant> {
        self.since
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// Assets, terrain, sun, appearance and the Current Outfit folder.
/// Every call commits before it returns, so a handler replies after it.
impl Persistence {
    pub fn put_asset(&self, asset: &dispatcher_scene::Asset) -> Result<(), StoreError> {
        self.store.put_asset(asset)
    }

    pub fn get_asset(&self, id: Uuid) -> Result<Option<dispatcher_scene::Asset>, StoreError> {
        self.store.get_asset(id)
    }

    pub fn asset_exists(&self, id: Uuid) -> Result<bool, StoreError> {
        self.store.asset_exists(id)
    }

    pub fn save_terrain(&self, region_id: Uuid, terrain: &dispatcher_scene::Terrain) -> Result<(), StoreError> {
        self.store.save_terrain(region_id, terrain)
    }

    pub fn save_sun(&self, region_id: Uuid, sun: &dispatcher_scene::Sun) -> Result<(), StoreError> {
        self.store.save_sun(region_id, sun)
    }

    /// Puts the stored terrain and sun (when there are any) into a freshly
    /// built region. A stored terrain of another size than the region's is
    /// left out: the region's size is configuration and wins.
    pub fn restore_terrain_and_sun(&self, region: &mut Region) -> Result<(), StoreError> {
        if let Some(terrain) = self.store.load_terrain(region.id)? {
            if terrain.size() == region.size() {
                region.terrain = terrain;
            }
        }
        if let Some(sun) = self.store.load_sun(region.id)? {
            region.sun = sun;
        }
        if let Some(water) = self.store.load_water_height(region.id)? {
            region.water_height_m = water;
        }
        Ok(())
    }

    pub fn load_appearance(&self, avatar_id: Uuid) -> Result<Option<dispatcher_scene::Appearance>, StoreError> {
        self.store.load_appearance(avatar_id)
    }

    pub fn save_appearance(&self, avatar_id: Uuid, appearance: &dispatcher_scene::Appearance) -> Result<(), StoreError> {
        self.store.save_appearance(avatar_id, appearance)
    }

    /// Empties the avatar's Current Outfit folder (SetAvatarAppearance step 3).
    /// An avatar without an inventory or without that folder has nothing to clear.
    pub fn clear_current_outfit(&self, avatar_id: Uuid) -> Result<(), StoreError> {
        let Some(before) = self.store.inventory(avatar_id)? else {
            return Ok(());
        };
        let mut after = before.clone();
        if after.clear_current_outfit().is_empty() {
            return Ok(());
        }
        self.store.save_inventory(&before, &after)
    }
}
