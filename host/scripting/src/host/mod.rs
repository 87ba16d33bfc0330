//! One module per WIT interface: the `Host` impls. Each function builds the
//! typed request, sends it through `HostState::call` (grant, rates, scope,
//! `Dispatcher::call`; see `crate::call`) and turns the typed reply into the
//! WIT record.

mod assets;
mod avatars;
mod chat;
mod log;
mod messages;
mod objects;
mod parts;
mod region;
mod self_;
mod storage;
mod terrain;
mod timers;
mod types;

use dispatcher_messages::remote_control::wire::{WireQuat, WireVec3};

use crate::bindings::opensim::dispatcher::types::{Quaternion, Vector3};

/// A protocol vector as the WIT record.
pub(crate) fn vector3(v: WireVec3) -> Vector3 {
    Vector3 {
        x: v.0.x,
        y: v.0.y,
        z: v.0.z,
    }
}

/// A protocol quaternion as the WIT record.
pub(crate) fn quaternion(q: WireQuat) -> Quaternion {
    Quaternion {
        x: q.0.x,
        y: q.0.y,
        z: q.0.z,
        w: q.0.w,
    }
}

/// A WIT vector as the protocol's.
pub(crate) fn wire_vec3(v: &Vector3) -> WireVec3 {
    WireVec3::new(v.x, v.y, v.z)
}

/// A WIT quaternion as the protocol's.
pub(crate) fn wire_quat(q: &Quaternion) -> WireQuat {
    WireQuat(dispatcher_scene::Quaternion {
        x: q.x,
        y: q.y,
        z: q.z,
        w: q.w,
    })
}
