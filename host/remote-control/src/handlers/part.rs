//! Part handlers (§4.2): `LinkNum` 0 = the root. Changes are committed before
//! the reply; none of them moves the object, so none fires UpdatedCallback.

use dispatcher_dispatch::{HandlerError, RequestContext};
use dispatcher_protocol::Done;
use dispatcher_scene::{Region, SceneChange, SceneError, Uuid};

use super::object::{internal, scene_failure};
use crate::callbacks;
use crate::messages::part::*;
use crate::region_host::RegionHost;
use crate::RemoteControl;

/// Apply `f` to the region and commit the object; a failed commit puts the
/// previous object back so the scene matches the store.
fn apply_part_change(
    rc: &RemoteControl,
    host: &RegionHost,
    object_id: Uuid,
    f: impl FnOnce(&mut Region) -> Result<Vec<SceneChange>, SceneError>,
) -> Result<Done, HandlerError> {
    let mut region = host.region.write();
    let before = region
        .object(object_id)
        .cloned()
        .ok_or_else(|| scene_failure(SceneError::NoSuchObject(object_id)))?;
    f(&mut region).map_err(scene_failure)?;
    let Some(after) = region.object(object_id).cloned() else {
        return Err(internal("object vanished during a part change"));
    };
    if let Err(e) = rc.persist.save_objects(host.id, std::slice::from_ref(&after)) {
        // Rare path: the restored object moves to the end of the creation order.
        let _ = region.remove_object(object_id);
        let _ = region.add_object(before);
        return Err(internal(e));
    }
    // A root rotation turns the whole object: a motion change for subscribers.
    if after.rotation() != before.rotation() {
        callbacks::publish_object_updated(rc, host, &after);
    }
    Ok(Done::ok())
}

pub fn set_part_position(
    rc: &RemoteControl,
    host: &RegionHost,
    _ctx: &RequestContext,
    req: SetPartPositionRequest,
) -> Result<Done, HandlerError> {
    let (id, link, value) = (req.object_id.0, req.link_num, req.position());
    apply_part_change(rc, host, id, |r| r.set_part_position(id, link, value))
}

pub fn set_part_rotation(
    rc: &RemoteControl,
    host: &RegionHost,
    _ctx: &RequestContext,
    req: SetPartRotationRequest,
) -> Result<Done, HandlerError> {
    let (id, link, value) = (req.object_id.0, req.link_num, req.rotation());
    apply_part_change(rc, host, id, |r| r.set_part_rotation(id, link, value))
}

pub fn set_part_scale(
    rc: &RemoteControl,
    host: &RegionHost,
    _ctx: &RequestContext,
    req: SetPartScaleRequest,
) -> Result<Done, HandlerError> {
    let (id, link, value) = (req.object_id.0, req.link_num, req.scale());
    apply_part_change(rc, host, id, |r| r.set_part_scale(id, link, value))
}

pub fn set_part_color(
    rc: &RemoteControl,
    host: &RegionHost,
    _ctx: &RequestContext,
    req: SetPartColorRequest,
) -> Result<Done, HandlerError> {
    let (id, link, rgb, alpha) = (req.object_id.0, req.link_num, req.color(), req.alpha());
    apply_part_change(rc, host, id, |r| r.set_part_color(id, link, rgb, alpha))
}
