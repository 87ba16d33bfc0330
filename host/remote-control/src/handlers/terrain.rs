//! Terrain handlers (§4.7): one cell per request, no smoothing.

use dispatcher_dispatch::{HandlerError, RequestContext};

use crate::messages::terrain::{GetTerrainHeightRequest, SetTerrainHeightRequest, TerrainHeightResponse};
use crate::region_host::RegionHost;
use crate::RemoteControl;

fn height_reply(x: i32, y: i32, height_m: f32) -> TerrainHeightResponse {
    TerrainHeightResponse {
        x,
        y,
        height: f64::from(height_m),
    }
}

/// Out-of-range coordinates read as height 0 with success (Q-40, kept).
pub fn get_terrain_height(
    _rc: &RemoteControl,
    host: &RegionHost,
    _ctx: &RequestContext,
    req: GetTerrainHeightRequest,
) -> Result<TerrainHeightResponse, HandlerError> {
    let region = host.region.read();
    let height = region.terrain.height_or_zero(req.x.into(), req.y.into());
    Ok(height_reply(req.x, req.y, height))
}

/// Out-of-range coordinates fail with the scene's `"Fatal error; …"` text and
/// change nothing. The cell is committed before the reply; if the write
/// fails the cell is put back.
pub fn set_terrain_height(
    rc: &RemoteControl,
    host: &RegionHost,
    _ctx: &RequestContext,
    req: SetTerrainHeightRequest,
) -> Result<TerrainHeightResponse, HandlerError> {
    let (x, y) = (i64::from(req.x), i64::from(req.y));
    let mut region = host.region.write();
    let before = region.terrain.height_or_zero(x, y);
    let changes = region.set_terrain_height(x, y, req.height).map_err(super::object::scene_failure)?;
    if !changes.is_empty() {
        if let Err(e) = rc.persist.save_terrain(host.id, &region.terrain) {
            // Restoring a value the cell held a moment ago cannot fail.
            let _ = region.set_terrain_height(x, y, before);
            return Err(HandlerError::Internal(e.to_string()));
        }
    }
    let stored = region.terrain.height_or_zero(x, y);
    Ok(height_reply(req.x, req.y, stored))
}
