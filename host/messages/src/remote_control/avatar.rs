//! Avatar appearance messages (§4.4). The appearance travels as JSON *text*
//! inside a string member, never as a nested object (§5.4).

use dispatcher_protocol::{Done, WireUuid};
use serde::{Deserialize, Serialize};

use crate::rc_type_name;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetAvatarAppearanceRequest {
    /// Zero = the caller.
    #[serde(rename = "AvatarID")]
    pub avatar_id: WireUuid,
}
rc_type_name!(GetAvatarAppearanceRequest, "RemoteControl.Messages.GetAvatarAppearanceRequest");

/// Not registered in the original's type registry, so its `$type` is bare.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AvatarAppearanceResponse {
    #[serde(rename = "SerializedAppearance")]
    pub serialized_appearance: String,
}
rc_type_name!(AvatarAppearanceResponse, "AvatarAppearanceResponse");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SetAvatarAppearanceRequest {
    /// Zero = the caller.
    #[serde(rename = "AvatarID")]
    pub avatar_id: WireUuid,
    #[serde(rename = "SerializedAppearance")]
    pub serialized_appearance: String,
}
rc_type_name!(SetAvatarAppearanceRequest, "RemoteControl.Messages.SetAvatarAppearanceRequest");

requests! {
    GetAvatarAppearanceRequest => AvatarAppearanceResponse, "avatars:read";
    SetAvatarAppearanceRequest => Done, "avatars:write", commits;
}
