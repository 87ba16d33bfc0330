//! Event messages and callbacks (§4.8), and the touch injection extension
//! `TouchObjectRequest` (scripting.md §3).

use dispatcher_protocol::reply::Typed;
use dispatcher_protocol::{Done, Warned, WireUuid};
use dispatcher_scene::Vector3;
use serde::{Deserialize, Serialize};

use super::wire::WireVec3;
use crate::rc_type_name;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegisterTouchCallbackRequest {
    #[serde(rename = "ObjectID")]
    pub object_id: WireUuid,
    #[serde(rename = "EndPointID")]
    pub end_point_id: WireUuid,
}
rc_type_name!(RegisterTouchCallbackRequest, "RemoteControl.Messages.RegisterTouchCallbackRequest");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegisterTouchCallbackResponse {
    #[serde(rename = "RequestID")]
    pub request_id: WireUuid,
}
rc_type_name!(RegisterTouchCallbackResponse, "RemoteControl.Messages.RegisterTouchCallbackResponse");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UnregisterTouchCallbackRequest {
    #[serde(rename = "ObjectID")]
    pub object_id: WireUuid,
    #[serde(rename = "RequestID")]
    pub request_id: WireUuid,
}
rc_type_name!(UnregisterTouchCallbackRequest, "RemoteControl.Messages.UnregisterTouchCallbackRequest");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegisterUpdatedCallbackRequest {
    #[serde(rename = "ObjectIDs")]
    pub object_ids: Vec<WireUuid>,
    #[serde(rename = "EndPointID")]
    pub end_point_id: WireUuid,
}
rc_type_name!(RegisterUpdatedCallbackRequest, "RemoteControl.Messages.RegisterUpdatedCallbackRequest");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegisterUpdatedCallbackResponse {
    #[serde(rename = "RequestID")]
    pub request_id: WireUuid,
}
rc_type_name!(RegisterUpdatedCallbackResponse, "RemoteControl.Messages.RegisterUpdatedCallbackResponse");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UnregisterUpdatedCallbackRequest {
    #[serde(rename = "ObjectIDs")]
    pub object_ids: Vec<WireUuid>,
    #[serde(rename = "RequestID")]
    pub request_id: WireUuid,
}
rc_type_name!(UnregisterUpdatedCallbackRequest, "RemoteControl.Messages.UnregisterUpdatedCallbackRequest");

/// Surface details of a touch (nested `"$type":"SurfaceTouchEventArgs"`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SurfaceTouchEventArgs {
    #[serde(rename = "Binormal")]
    pub binormal: WireVec3,
    #[serde(rename = "FaceIndex")]
    pub face_index: i32,
    #[serde(rename = "Normal")]
    pub normal: WireVec3,
    /// Region coordinates of the touch point.
    #[serde(rename = "Position")]
    pub position: WireVec3,
    #[serde(rename = "STCoord")]
    pub st_coord: WireVec3,
    #[serde(rename = "UVCoord")]
    pub uv_coord: WireVec3,
}
rc_type_name!(SurfaceTouchEventArgs, "SurfaceTouchEventArgs");

/// Server → endpoint, one datagram per touch registration (§4.8.5).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TouchCallback {
    #[serde(rename = "ObjectID")]
    pub object_id: WireUuid,
    #[serde(rename = "RequestID")]
    pub request_id: WireUuid,
    #[serde(rename = "AvatarID")]
    pub avatar_id: WireUuid,
    /// Offset of the touched part from the root (`[0,0,0]` for the root).
    #[serde(rename = "OffsetPosition")]
    pub offset_position: WireVec3,
    /// `null` when no surface information came with the touch.
    #[serde(rename = "TouchEvent")]
    pub touch_event: Option<Typed<SurfaceTouchEventArgs>>,
}
rc_type_name!(TouchCallback, "RemoteControl.Messages.TouchCallback");

/// Server → endpoint, one datagram per position registration (§4.8.6).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpdatedCallback {
    #[serde(rename = "ObjectID")]
    pub object_id: WireUuid,
    #[serde(rename = "RequestID")]
    pub request_id: WireUuid,
    #[serde(rename = "Position")]
    pub position: WireVec3,
}
rc_type_name!(UpdatedCallback, "RemoteControl.Messages.UpdatedCallback");

/// Extension: inject "avatar `AvatarID` starts touching part `LinkNum` of
/// `ObjectID`" (scripting.md §3). `TouchPosition`, when given, becomes the
/// callback's surface `Position`; without it `TouchEvent` is `null`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TouchObjectRequest {
    #[serde(rename = "ObjectID")]
    pub object_id: WireUuid,
    /// Zero = the caller's own avatar.
    #[serde(rename = "AvatarID")]
    pub avatar_id: WireUuid,
    /// 0 = the root, as for the part messages.
    #[serde(rename = "LinkNum")]
    pub link_num: i32,
    #[serde(rename = "TouchPosition")]
    pub touch_position: Option<WireVec3>,
}
rc_type_name!(TouchObjectRequest, "RemoteControl.Messages.TouchObjectRequest");

impl TouchObjectRequest {
    pub fn touch_position(&self) -> Option<Vector3> {
        self.touch_position.map(|v| v.0)
    }
}

requests! {
    RegisterTouchCallbackRequest => RegisterTouchCallbackResponse, "objects:read";
    UnregisterTouchCallbackRequest => Done, "objects:read";
    // Objects that do not exist are skipped with a warning in `_Message`.
    RegisterUpdatedCallbackRequest => Warned<RegisterUpdatedCallbackResponse>, "objects:read";
    UnregisterUpdatedCallbackRequest => Done, "objects:read";
    TouchObjectRequest => Done, "objects:write";
}
