//! Object messages (§4.1): find, read, move, create, delete, message.
//!
//! Members that the spec gives a default for "when absent or null" are
//! `Option`s here, read through accessors that supply the default, so the
//! handlers never see a wire quirk. `Default` of each request is the spec's
//! default message (it is also the MessageFormat sample).

use dispatcher_protocol::reply::Typed;
use dispatcher_protocol::{Done, WireUuid};
use dispatcher_scene::object::{DEFAULT_OBJECT_DESCRIPTION, DEFAULT_OBJECT_NAME};
use dispatcher_scene::{DynamicsUpdate, Quaternion, Vector3};
use serde::{Deserialize, Serialize};

use super::wire::{quat_or, vec3_or, WireQuat, WireVec3};
use crate::rc_type_name;

/// `CreateObject`/`SetObjectPosition` default position (§4.1.6, §4.1.10).
pub const DEFAULT_POSITION: Vector3 = Vector3::new(128.0, 128.0, 20.0);
/// `CreateObject` default start parameter.
pub const DEFAULT_START_PARAMETER: &str = "{}";

// ----- FindObjects ---------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FindObjectsRequest {
    /// Unanchored, case-sensitive regex search in the name; empty = any name.
    #[serde(rename = "Pattern")]
    pub pattern: String,
    #[serde(rename = "CoordinateA")]
    pub coordinate_a: Option<WireVec3>,
    #[serde(rename = "CoordinateB")]
    pub coordinate_b: Option<WireVec3>,
    /// Zero = any owner.
    #[serde(rename = "OwnerID")]
    pub owner_id: WireUuid,
}
rc_type_name!(FindObjectsRequest, "RemoteControl.Messages.FindObjectsRequest");

const FAR_CORNER: Vector3 = Vector3::new(f32::MAX, f32::MAX, f32::MAX);
const NEAR_CORNER: Vector3 = Vector3::new(-f32::MAX, -f32::MAX, -f32::MAX);

impl Default for FindObjectsRequest {
    fn default() -> Self {
        FindObjectsRequest {
            pattern: String::new(),
            coordinate_a: Some(NEAR_CORNER.into()),
            coordinate_b: Some(FAR_CORNER.into()),
            owner_id: WireUuid::NIL,
        }
    }
}

impl FindObjectsRequest {
    /// One corner given alone leaves the other at its infinite default (RC-10).
    pub fn corners(&self) -> (Vector3, Vector3) {
        (vec3_or(self.coordinate_a, NEAR_CORNER), vec3_or(self.coordinate_b, FAR_CORNER))
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FindObjectsResponse {
    #[serde(rename = "Objects")]
    pub objects: Vec<WireUuid>,
}
rc_type_name!(FindObjectsResponse, "RemoteControl.Messages.FindObjectsResponse");

// ----- single-object reads -------------------------------------------------------

/// The requests that carry only `ObjectID`.
macro_rules! object_id_request {
    ($ty:ident, $name:literal) => {
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
        #[serde(default)]
        pub struct $ty {
            #[serde(rename = "ObjectID")]
            pub object_id: WireUuid,
        }
        rc_type_name!($ty, $name);
    };
}

object_id_request!(GetObjectDataRequest, "RemoteControl.Messages.GetObjectDataRequest");
object_id_request!(GetObjectPartsRequest, "RemoteControl.Messages.GetObjectPartsRequest");
object_id_request!(GetObjectInventoryRequest, "RemoteControl.Messages.GetObjectInventoryRequest");
object_id_request!(GetObjectPositionRequest, "RemoteControl.Messages.GetObjectPositionRequest");
object_id_request!(GetObjectRotationRequest, "RemoteControl.Messages.GetObjectRotationRequest");
object_id_request!(DeleteObjectRequest, "RemoteControl.Messages.DeleteObjectRequest");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetObjectDataResponse {
    #[serde(rename = "ObjectID")]
    pub object_id: WireUuid,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Position")]
    pub position: WireVec3,
    #[serde(rename = "Rotation")]
    pub rotation: WireQuat,
    #[serde(rename = "OwnerID")]
    pub owner_id: WireUuid,
}
rc_type_name!(GetObjectDataResponse, "RemoteControl.Messages.GetObjectDataResponse");

/// One entry of `GetObjectPartsResponse.Parts`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PartInformation {
    #[serde(rename = "LinkNum")]
    pub link_num: i32,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Description")]
    pub description: String,
    /// Prim type code (§5.2.3).
    #[serde(rename = "Type")]
    pub prim_type: i32,
    #[serde(rename = "OffsetPosition")]
    pub offset_position: WireVec3,
    #[serde(rename = "OffsetRotation")]
    pub offset_rotation: WireQuat,
}
rc_type_name!(PartInformation, "PartInformation");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetObjectPartsResponse {
    #[serde(rename = "Parts")]
    pub parts: Vec<Typed<PartInformation>>,
}
rc_type_name!(GetObjectPartsResponse, "RemoteControl.Messages.GetObjectPartsResponse");

/// One entry of `GetObjectInventoryResponse.Inventory`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ObjectInventoryInformation {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Description")]
    pub description: String,
    #[serde(rename = "AssetID")]
    pub asset_id: WireUuid,
    /// The item's asset type code (§5.1).
    #[serde(rename = "ItemType")]
    pub item_type: i32,
}
rc_type_name!(ObjectInventoryInformation, "ObjectInventoryInformation");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetObjectInventoryResponse {
    #[serde(rename = "Inventory")]
    pub inventory: Vec<Typed<ObjectInventoryInformation>>,
}
rc_type_name!(GetObjectInventoryResponse, "RemoteControl.Messages.GetObjectInventoryResponse");

// ----- position and rotation -----------------------------------------------------

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SetObjectPositionRequest {
    #[serde(rename = "ObjectID")]
    pub object_id: WireUuid,
    #[serde(rename = "Position")]
    pub position: Option<WireVec3>,
}
rc_type_name!(SetObjectPositionRequest, "RemoteControl.Messages.SetObjectPositionRequest");

impl Default for SetObjectPositionRequest {
    fn default() -> Self {
        SetObjectPositionRequest {
            object_id: WireUuid::NIL,
            position: Some(DEFAULT_POSITION.into()),
        }
    }
}

impl SetObjectPositionRequest {
    pub fn position(&self) -> Vector3 {
        vec3_or(self.position, DEFAULT_POSITION)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ObjectPositionResponse {
    #[serde(rename = "ObjectID")]
    pub object_id: WireUuid,
    #[serde(rename = "Position")]
    pub position: WireVec3,
}
rc_type_name!(ObjectPositionResponse, "RemoteControl.Messages.ObjectPositionResponse");

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SetObjectRotationRequest {
    #[serde(rename = "ObjectID")]
    pub object_id: WireUuid,
    #[serde(rename = "Rotation")]
    pub rotation: Option<WireQuat>,
}
rc_type_name!(SetObjectRotationRequest, "RemoteControl.Messages.SetObjectRotationRequest");

impl Default for SetObjectRotationRequest {
    fn default() -> Self {
        SetObjectRotationRequest {
            object_id: WireUuid::NIL,
            rotation: Some(WireQuat::IDENTITY),
        }
    }
}

impl SetObjectRotationRequest {
    pub fn rotation(&self) -> Quaternion {
        quat_or(self.rotation, Quaternion::IDENTITY)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ObjectRotationResponse {
    #[serde(rename = "ObjectID")]
    pub object_id: WireUuid,
    #[serde(rename = "Rotation")]
    pub rotation: WireQuat,
}
rc_type_name!(ObjectRotationResponse, "RemoteControl.Messages.ObjectRotationResponse");

// ----- BulkDynamics ----------------------------------------------------------------

/// One `BulkDynamics` entry, also `ObjectSpecification.ObjectData`. Absent or null
/// members are `None`: unchanged for `BulkDynamics` (Q-13 fixed), the §4.1.9
/// defaults for `CreateBulkObjects`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ObjectDynamicsData {
    #[serde(rename = "ObjectID")]
    pub object_id: WireUuid,
    #[serde(rename = "Position")]
    pub position: Option<WireVec3>,
    #[serde(rename = "Velocity")]
    pub velocity: Option<WireVec3>,
    #[serde(rename = "Acceleration")]
    pub acceleration: Option<WireVec3>,
    #[serde(rename = "Rotation")]
    pub rotation: Option<WireQuat>,
}

impl ObjectDynamicsData {
    /// As a `BulkDynamics` update: present members only.
    pub fn update(&self) -> DynamicsUpdate {
        DynamicsUpdate {
            object_id: self.object_id.0,
            position: self.position.map(|v| v.0),
            velocity: self.velocity.map(|v| v.0),
            acceleration: self.acceleration.map(|v| v.0),
            rotation: self.rotation.map(|q| q.0),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BulkDynamicsRequest {
    #[serde(rename = "Updates")]
    pub updates: Vec<ObjectDynamicsData>,
}
rc_type_name!(BulkDynamicsRequest, "RemoteControl.Messages.BulkDynamicsRequest");

// ----- creation --------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CreateObjectRequest {
    #[serde(rename = "AssetID")]
    pub asset_id: WireUuid,
    #[serde(rename = "Name")]
    pub name: Option<String>,
    #[serde(rename = "Description")]
    pub description: Option<String>,
    /// JSON text for scripts; `touch.pl` sends the number 0, read as "0".
    #[serde(rename = "StartParameter")]
    pub start_parameter: Option<String>,
    #[serde(rename = "Position")]
    pub position: Option<WireVec3>,
    #[serde(rename = "Rotation")]
    pub rotation: Option<WireQuat>,
    #[serde(rename = "Velocity")]
    pub velocity: Option<WireVec3>,
    /// Zero = the server chooses.
    #[serde(rename = "ObjectID")]
    pub object_id: WireUuid,
}
rc_type_name!(CreateObjectRequest, "RemoteControl.Messages.CreateObjectRequest");

impl Default for CreateObjectRequest {
    fn default() -> Self {
        CreateObjectRequest {
            asset_id: WireUuid::NIL,
            name: Some(DEFAULT_OBJECT_NAME.into()),
            description: Some(DEFAULT_OBJECT_DESCRIPTION.into()),
            start_parameter: Some(DEFAULT_START_PARAMETER.into()),
            position: Some(DEFAULT_POSITION.into()),
            rotation: Some(WireQuat::IDENTITY),
            velocity: Some(Vector3::ZERO.into()),
            object_id: WireUuid::NIL,
        }
    }
}

/// What one object to rez needs, from `CreateObject` or one `CreateBulkObjects` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct RezSpec {
    pub asset_id: WireUuid,
    pub object_id: WireUuid,
    pub name: String,
    pub description: String,
    pub start_parameter: String,
    pub position: Vector3,
    pub rotation: Quaternion,
    pub velocity: Vector3,
}

fn text_or(member: &Option<String>, default: &str) -> String {
    member.clone().unwrap_or_else(|| default.to_string())
}

impl CreateObjectRequest {
    pub fn spec(&self) -> RezSpec {
        RezSpec {
            asset_id: self.asset_id,
            object_id: self.object_id,
            name: text_or(&self.name, DEFAULT_OBJECT_NAME),
            description: text_or(&self.description, DEFAULT_OBJECT_DESCRIPTION),
            start_parameter: text_or(&self.start_parameter, DEFAULT_START_PARAMETER),
            position: vec3_or(self.position, DEFAULT_POSITION),
            rotation: quat_or(self.rotation, Quaternion::IDENTITY),
            velocity: vec3_or(self.velocity, Vector3::ZERO),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CreateObjectResponse {
    #[serde(rename = "ObjectID")]
    pub object_id: WireUuid,
}
rc_type_name!(CreateObjectResponse, "RemoteControl.Messages.CreateObjectResponse");

/// One `CreateBulkObjects` entry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ObjectSpecification {
    /// Required; `None` gives the "missing object specification" warning.
    #[serde(rename = "ObjectData")]
    pub object_data: Option<ObjectDynamicsData>,
    #[serde(rename = "Name")]
    pub name: Option<String>,
    #[serde(rename = "Description")]
    pub description: Option<String>,
    #[serde(rename = "StartParameter")]
    pub start_parameter: Option<String>,
    #[serde(rename = "AssetID")]
    pub asset_id: WireUuid,
}

impl ObjectSpecification {
    /// The rez spec, with the §4.1.9 defaults for absent dynamics (position
    /// `[0,0,0]`, unlike `CreateObject`); `None` without `ObjectData`.
    pub fn spec(&self) -> Option<RezSpec> {
        let data = self.object_data?;
        Some(RezSpec {
            asset_id: self.asset_id,
            object_id: data.object_id,
            name: text_or(&self.name, DEFAULT_OBJECT_NAME),
            description: text_or(&self.description, DEFAULT_OBJECT_DESCRIPTION),
            start_parameter: text_or(&self.start_parameter, DEFAULT_START_PARAMETER),
            position: vec3_or(data.position, Vector3::ZERO),
            rotation: quat_or(data.rotation, Quaternion::IDENTITY),
            velocity: vec3_or(data.velocity, Vector3::ZERO),
        })
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CreateBulkObjectsRequest {
    #[serde(rename = "Objects")]
    pub objects: Vec<ObjectSpecification>,
}
rc_type_name!(CreateBulkObjectsRequest, "RemoteControl.Messages.CreateBulkObjectsRequest");

// ----- deletion and messages ----------------------------------------------------------

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeleteBulkObjectsRequest {
    #[serde(rename = "ObjectIDs")]
    pub object_ids: Vec<WireUuid>,
}
rc_type_name!(DeleteBulkObjectsRequest, "RemoteControl.Messages.DeleteBulkObjectsRequest");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeleteAllObjectsRequest {}
rc_type_name!(DeleteAllObjectsRequest, "RemoteControl.Messages.DeleteAllObjectsRequest");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MessageObjectRequest {
    #[serde(rename = "ObjectID")]
    pub object_id: WireUuid,
    #[serde(rename = "Message")]
    pub message: String,
}
rc_type_name!(MessageObjectRequest, "RemoteControl.Messages.MessageObjectRequest");

// ----- replies and grants -----------------------------------------------------------

requests! {
    FindObjectsRequest => FindObjectsResponse, "objects:read";
    GetObjectDataRequest => GetObjectDataResponse, "objects:read";
    GetObjectPartsRequest => GetObjectPartsResponse, "objects:read";
    GetObjectInventoryRequest => GetObjectInventoryResponse, "objects:read";
    GetObjectPositionRequest => ObjectPositionResponse, "objects:read";
    GetObjectRotationRequest => ObjectRotationResponse, "objects:read";
    SetObjectPositionRequest => ObjectPositionResponse, "objects:write";
    SetObjectRotationRequest => ObjectRotationResponse, "objects:write";
    // Entries for unknown objects are skipped with a warning in `_Message`.
    BulkDynamicsRequest => Done, "objects:write";
    MessageObjectRequest => Done, "objects:write";
    CreateObjectRequest => CreateObjectResponse, "objects:create", commits;
    CreateBulkObjectsRequest => Done, "objects:create", commits;
    DeleteObjectRequest => Done, "objects:delete", commits;
    DeleteBulkObjectsRequest => Done, "objects:delete", commits;
    DeleteAllObjectsRequest => Done, "objects:delete", commits;
}

#[cfg(test)]
mod tests {
    use dispatcher_protocol::messages::sample_json;
    use dispatcher_protocol::{from_value, json};

    use super::*;

    fn bind<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
        let value = json::decode(text.as_bytes(), &Default::default())
            .map_err(|e| e.to_string())?
            .ok_or("empty")?;
        from_value::<T>(&value).map_err(|e| e.to_string())
    }

    #[test]
    fn samples_show_the_spec_defaults() {
        let sample = sample_json::<CreateObjectRequest>();
        assert!(sample.starts_with(r#"{"$type":"RemoteControl.Messages.CreateObjectRequest","AssetID":"00000000-0000-0000-0000-000000000000","Name":"RemoteControl Object","Description":"RemoteControl Generated Object","StartParameter":"{}","Position":[128.0,128.0,20.0],"Rotation":[0.0,0.0,0.0,1.0]"#), "{sample}");
    }

    #[test]
    fn create_object_defaults_apply_to_absent_and_null_members() {
        let req: CreateObjectRequest =
            bind(r#"{"AssetID":"a55e7000-0001-4b6c-9d8e-112233445566","Name":null,"StartParameter":0}"#).expect("binds");
        let spec = req.spec();
        assert_eq!(spec.name, DEFAULT_OBJECT_NAME);
        assert_eq!(spec.start_parameter, "0");
        assert_eq!(spec.position, DEFAULT_POSITION);
    }

    #[test]
    fn dynamics_entries_keep_absent_members_absent() {
        let req: BulkDynamicsRequest =
            bind(r#"{"updates":[{"$type":"X","objectid":"a55e7000-0001-4b6c-9d8e-112233445566","Velocity":[1,0,0],"Position":null}]}"#)
                .expect("binds");
        let u = req.updates[0].update();
        assert_eq!((u.position, u.rotation, u.acceleration), (None, None, None));
        assert_eq!(u.velocity, Some(Vector3::new(1.0, 0.0, 0.0)));
        // CreateBulkObjects reads the same entry with the §4.1.9 defaults.
        let spec = ObjectSpecification {
            object_data: Some(req.updates[0]),
            ..Default::default()
        };
        assert_eq!(spec.spec().map(|s| s.position), Some(Vector3::ZERO));
    }

    #[test]
    fn fractional_integers_and_short_vectors_fail() {
        assert!(bind::<crate::remote_control::part::SetPartScaleRequest>(r#"{"LinkNum":1.5}"#).is_err());
        assert!(bind::<SetObjectPositionRequest>(r#"{"Position":[]}"#).is_err());
    }
}
