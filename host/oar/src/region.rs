//! A region as the store holds it (objects, terrain, sun, water), for the
//! command line, which works on the data directory without a running host.

use dispatcher_scene::{Region, SceneLimits};
use dispatcher_store::Store;
use uuid::Uuid;

use crate::OarError;

/// Loads the region's stored scene. An object the region refuses (limits
/// changed since it was stored) is an error here: an export must not drop
/// content silently.
pub fn load_region(store: &Store, id: Uuid, name: &str, limits: &SceneLimits) -> Result<Region, OarError> {
    let mut region = Region::new(id, name);
    region.set_limits(limits.clone());
    if let Some(terrain) = store.load_terrain(id)? {
        if terrain.size() == region.size() {
            region.terrain = terrain;
        }
    }
    if let Some(sun) = store.load_sun(id)? {
        region.sun = sun;
    }
    if let Some(w) = store.load_water_height(id)? {
        region.water_height_m = w;
    }
    for object in store.load_objects(id)? {
        let object_id = object.id();
        region
            .add_object(object)
            .map_err(|e| OarError::Region(format!("stored object {object_id}: {e}")))?;
    }
    Ok(region)
}
