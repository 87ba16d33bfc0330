//! Part messages (§4.2): the part is chosen by `LinkNum` (0 = the root).

use dispatcher_protocol::{Done, WireUuid};
use dispatcher_scene::{Quaternion, Vector3};
use serde::{Deserialize, Serialize};

use super::wire::{quat_or, vec3_or, WireQuat, WireVec3};
use crate::rc_type_name;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SetPartPositionRequest {
    #[serde(rename = "ObjectID")]
    pub object_id: WireUuid,
    #[serde(rename = "LinkNum")]
    pub link_num: i32,
    /// Offset from the root, root-local frame.
    #[serde(rename = "Position")]
    pub position: Option<WireVec3>,
}
rc_type_name!(SetPartPositionRequest, "RemoteControl.Messages.SetPartPositionRequest");

impl Default for SetPartPositionRequest {
    fn default() -> Self {
        SetPartPositionRequest {
            object_id: WireUuid::NIL,
            link_num: 0,
            position: Some(Vector3::ZERO.into()),
        }
    }
}

impl SetPartPositionRequest {
    pub fn position(&self) -> Vector3 {
        vec3_or(self.position, Vector3::ZERO)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SetPartRotationRequest {
    #[serde(rename = "ObjectID")]
    pub object_id: WireUuid,
    #[serde(rename = "LinkNum")]
    pub link_num: i32,
    #[serde(rename = "Rotation")]
    pub rotation: Option<WireQuat>,
}
rc_type_name!(SetPartRotationRequest, "RemoteControl.Messages.SetPartRotationRequest");

impl Default for SetPartRotationRequest {
    fn default() -> Self {
        SetPartRotationRequest {
            object_id: WireUuid::NIL,
            link_num: 0,
            rotation: Some(WireQuat::IDENTITY),
        }
    }
}

impl SetPartRotationRequest {
    pub fn rotation(&self) -> Quaternion {
        quat_or(self.rotation, Quaternion::IDENTITY)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SetPartScaleRequest {
    #[serde(rename = "ObjectID")]
    pub object_id: WireUuid,
    #[serde(rename = "LinkNum")]
    pub link_num: i32,
    #[serde(rename = "Scale")]
    pub scale: Option<WireVec3>,
}
rc_type_name!(SetPartScaleRequest, "RemoteControl.Messages.SetPartScaleRequest");

impl Default for SetPartScaleRequest {
    fn default() -> Self {
        SetPartScaleRequest {
            object_id: WireUuid::NIL,
            link_num: 0,
            scale: Some(Vector3::ONE.into()),
        }
    }
}

impl SetPartScaleRequest {
    pub fn scale(&self) -> Vector3 {
        vec3_or(self.scale, Vector3::ONE)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SetPartColorRequest {
    #[serde(rename = "ObjectID")]
    pub object_id: WireUuid,
    #[serde(rename = "LinkNum")]
    pub link_num: i32,
    /// RGB, 0..1 (clamped by the model).
    #[serde(rename = "Color")]
    pub color: Option<WireVec3>,
    /// Absent = 0, fully transparent (Q-17, kept).
    #[serde(rename = "Alpha")]
    pub alpha: Option<f32>,
}
rc_type_name!(SetPartColorRequest, "RemoteControl.Messages.SetPartColorRequest");

impl Default for SetPartColorRequest {
    fn default() -> Self {
        SetPartColorRequest {
            object_id: WireUuid::NIL,
            link_num: 0,
            color: Some(Vector3::ZERO.into()),
            alpha: Some(0.0),
        }
    }
}

impl SetPartColorRequest {
    pub fn color(&self) -> Vector3 {
        vec3_or(self.color, Vector3::ZERO)
    }

    pub fn alpha(&self) -> f32 {
        self.alpha.unwrap_or(0.0)
    }
}

// Each part change is committed to the store before the reply.
requests! {
    SetPartPositionRequest => Done, "objects:write", commits;
    SetPartRotationRequest => Done, "objects:write", commits;
    SetPartScaleRequest => Done, "objects:write", commits;
    SetPartColorRequest => Done, "objects:write", commits;
}
