//! What a mutation did, fanned out: scene events on the one event stream,
//! endpoint datagrams for the touch and updated registrations (§4.8), and
//! motion handed to the write-behind.
//!
//! Handlers call [`fan_out`] with the scene changes while they still hold the
//! region's write lock, so callbacks leave in mutation order and before the
//! request's reply (§4.8, "SHOULD be sent before that request's reply").

use std::sync::{Arc, Weak};

use dispatcher_dispatch::SceneEvent;
use dispatcher_protocol::reply::Typed;
use dispatcher_protocol::WireUuid;
use dispatcher_scene::{Region, SceneChange, SceneError, SceneObject, Uuid, Vector3};

use crate::messages::event::{SurfaceTouchEventArgs, TouchCallback, UpdatedCallback};
use crate::messages::wire::WireVec3;
use crate::region_host::{RegionHost, Registrations};
use crate::RemoteControl;

/// Drop registrations whose endpoint closes or expires (RC-73).
pub(crate) fn watch_endpoints(rc: &Arc<RemoteControl>) {
    let weak: Weak<RemoteControl> = Arc::downgrade(rc);
    rc.services.endpoints.on_close(Arc::new(move |endpoint_id| {
        if let Some(rc) = weak.upgrade() {
            for host in rc.regions() {
                host.registrations.lock().drop_endpoint(endpoint_id);
            }
        }
    }));
}

fn updated_event(region: &str, object: &SceneObject) -> SceneEvent {
    let (p, q, v) = (object.position, object.rotation(), object.velocity());
    SceneEvent::Updated {
        region: region.to_string(),
        object_id: object.id(),
        position: [p.x, p.y, p.z],
        rotation: [q.x, q.y, q.z, q.w],
        velocity: [v.x, v.y, v.z],
    }
}

/// Publish, notify and mark dirty for `changes`, made to `region` (whose lock
/// the caller holds).
pub(crate) fn fan_out(rc: &RemoteControl, host: &RegionHost, region: &Region, changes: &[SceneChange]) {
    if changes.is_empty() {
        return;
    }
    let mut regs = host.registrations.lock();
    let mut dirty = host.dirty.lock();
    // One Updated event per object per request step, however many of its
    // attributes changed (a BulkDynamics entry can move, turn and accelerate).
    let mut last_updated: Option<Uuid> = None;
    for change in changes {
        match *change {
            SceneChange::ObjectMoved { object_id, to, .. } => {
                notify_updated(rc, &mut regs, object_id, to);
                publish_updated(rc, host, region, object_id, &mut last_updated);
                dirty.insert(object_id);
            }
            SceneChange::ObjectRotated { object_id } | SceneChange::ObjectMotionChanged { object_id } => {
                publish_updated(rc, host, region, object_id, &mut last_updated);
                dirty.insert(object_id);
            }
            SceneChange::ObjectAdded { object_id } => {
                if let Some(object) = region.object(object_id) {
                    let (p, q, v) = (object.position, object.rotation(), object.velocity());
                    rc.services.events.publish(SceneEvent::ObjectAdded {
                        region: host.name.clone(),
                        object_id,
                        position: [p.x, p.y, p.z],
                        rotation: [q.x, q.y, q.z, q.w],
                        velocity: [v.x, v.y, v.z],
                    });
                }
            }
            SceneChange::ScriptEventQueued { object_id } => {
                dirty.insert(object_id);
            }
            SceneChange::ObjectRemoved { object_id } => {
                regs.drop_object(object_id);
                dirty.remove(&object_id);
                rc.services.events.publish(SceneEvent::ObjectRemoved {
                    region: host.name.clone(),
                    object_id,
                });
                last_updated = None;
            }
            _ => {}
        }
    }
}

fn publish_updated(rc: &RemoteControl, host: &RegionHost, region: &Region, id: Uuid, last: &mut Option<Uuid>) {
    if *last == Some(id) {
        return;
    }
    *last = Some(id);
    if let Some(object) = region.object(id) {
        rc.services.events.publish(updated_event(&host.name, object));
    }
}

/// Publish an object's current motion state (changes outside [`fan_out`]).
pub(crate) fn publish_object_updated(rc: &RemoteControl, host: &RegionHost, object: &SceneObject) {
    rc.services.events.publish(updated_event(&host.name, object));
}

/// `UpdatedCallback`: one datagram per position registration when the position
/// differs (exactly) from the last one notified (§4.8.6, Q-31).
fn notify_updated(rc: &RemoteControl, regs: &mut Registrations, object_id: Uuid, to: Vector3) {
    let Some(list) = regs.updated.get(&object_id) else {
        return;
    };
    if regs.last_notified.get(&object_id) == Some(&to) {
        return;
    }
    for reg in list {
        let cb = UpdatedCallback {
            object_id: WireUuid(object_id),
            request_id: WireUuid(reg.request_id),
            position: WireVec3(to),
        };
        send(rc, reg.endpoint_id, &Typed(cb));
    }
    regs.last_notified.insert(object_id, to);
}

fn send<T: dispatcher_protocol::MessageType + serde::Serialize>(rc: &RemoteControl, endpoint_id: Uuid, cb: &Typed<T>) {
    match cb.to_json() {
        // A vanished endpoint is skipped; delivery continues (Q-25 fixed).
        Ok(datagram) => {
            rc.services.endpoints.send(endpoint_id, &datagram);
        }
        Err(e) => tracing::error!(error = %e, "cannot encode a callback"),
    }
}

/// A touch start on part `link_num` (0 = root) of an object (§3.11): the scene
/// event plus one `TouchCallback` per touch registration (RC-68..RC-71).
pub(crate) fn touch(
    rc: &RemoteControl,
    host: &RegionHost,
    region: &Region,
    object_id: Uuid,
    avatar_id: Uuid,
    link_num: i32,
    surface: Option<Vector3>,
) -> Result<(), SceneError> {
    let object = region.object(object_id).ok_or(SceneError::NoSuchObject(object_id))?;
    let part = object
        .part_by_link(link_num)
        .ok_or(SceneError::NoSuchPart { object_id, link_num })?;
    let is_root = part.id == object.id();
    let offset = if is_root { Vector3::ZERO } else { part.offset_position };
    let part_world = object.position.plus(object.rotation().rotate(offset));
    let point = surface.unwrap_or(part_world);
    rc.services.events.publish(SceneEvent::Touch {
        region: host.name.clone(),
        object_id,
        avatar_id,
        link_num: part.link_num,
        position: [point.x, point.y, point.z],
    });
    let touch_event = surface.map(|p| {
        Typed(SurfaceTouchEventArgs {
            position: WireVec3(p),
            ..SurfaceTouchEventArgs::default()
        })
    });
    let regs = host.registrations.lock();
    for reg in regs.touch_of(object_id) {
        let cb = TouchCallback {
            object_id: WireUuid(object_id),
            request_id: WireUuid(reg.request_id),
            avatar_id: WireUuid(avatar_id),
            offset_position: WireVec3(offset),
            touch_event: touch_event.clone(),
        };
        send(rc, reg.endpoint_id, &Typed(cb));
    }
    Ok(())
}
