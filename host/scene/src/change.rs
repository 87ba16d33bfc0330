//! What a mutation did, for the caller to persist and to fan out.
//!
//! The model never writes to disk or sends a datagram; every mutating operation
//! returns the list of [`SceneChange`]s it made instead. An empty list means the
//! operation was accepted but changed nothing (e.g. a move outside the region,
//! Q-46, or a position equal to the current one), which is exactly the case in
//! which no `UpdatedCallback` may fire.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::math::Vector3;

/// Which attribute of a part changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartField {
    OffsetPosition,
    Rotation,
    Scale,
    Color,
}

/// One change made to a region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SceneChange {
    ObjectAdded {
        object_id: Uuid,
    },
    /// The object is gone; callers drop its event registrations (§4.1.12).
    ObjectRemoved {
        object_id: Uuid,
    },
    /// The object's absolute position changed: the trigger for `UpdatedCallback`
    /// (§4.8.6), which compares `to` with the last notified position.
    ObjectMoved {
        object_id: Uuid,
        from: Vector3,
        to: Vector3,
    },
    ObjectRotated {
        object_id: Uuid,
    },
    /// Velocity and/or acceleration changed.
    ObjectMotionChanged {
        object_id: Uuid,
    },
    PartChanged {
        object_id: Uuid,
        link_num: i32,
        field: PartField,
    },
    /// A script event was queued on the object (`MessageObject`).
    ScriptEventQueued {
        object_id: Uuid,
    },
    TerrainChanged {
        x: u32,
        y: u32,
        height: f32,
    },
    SunChanged,
}
