//! `objects`: the object messages of RemoteControl, scope-checked.

use dispatcher_protocol::WireUuid;
use serde::Deserialize;
use serde_json::{json, Value as Json};

use super::WireVec;
use crate::bindings::opensim::dispatcher::objects::Host;
use crate::bindings::opensim::dispatcher::types::{
    InventoryItem, ObjectData, ObjectDynamics, ObjectSpec, PartInfo, PrimType, Quaternion, Vector3,
};
use crate::call::{parse_id, quat, vec3, RC};
use crate::error::HostError;
use crate::instance::HostState;

#[derive(Deserialize, Default)]
#[serde(default)]
struct FindReply {
    #[serde(rename = "Objects")]
    objects: Vec<WireUuid>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DataReply {
    #[serde(rename = "ObjectID")]
    object_id: WireUuid,
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Position")]
    position: WireVec,
    #[serde(rename = "Rotation")]
    rotation: WireVec,
    #[serde(rename = "OwnerID")]
    owner_id: WireUuid,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PartWire {
    #[serde(rename = "LinkNum")]
    link_num: i32,
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Description")]
    description: String,
    #[serde(rename = "Type")]
    prim_type: i32,
    #[serde(rename = "OffsetPosition")]
    offset_position: WireVec,
    #[serde(rename = "OffsetRotation")]
    offset_rotation: WireVec,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PartsReply {
    #[serde(rename = "Parts")]
    parts: Vec<PartWire>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ItemWire {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Description")]
    description: String,
    #[serde(rename = "AssetID")]
    asset_id: WireUuid,
    #[serde(rename = "ItemType")]
    item_type: i32,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InventoryReply {
    #[serde(rename = "Inventory")]
    inventory: Vec<ItemWire>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PositionReply {
    #[serde(rename = "Position")]
    position: WireVec,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RotationReply {
    #[serde(rename = "Rotation")]
    rotation: WireVec,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CreateReply {
    #[serde(rename = "ObjectID")]
    object_id: WireUuid,
}

fn prim_type(code: i32) -> PrimType {
    match code {
        1 => PrimType::Cylinder,
        2 => PrimType::Prism,
        3 => PrimType::Sphere,
        4 => PrimType::Torus,
        5 => PrimType::Tube,
        6 => PrimType::Ring,
        7 => PrimType::Sculpt,
        _ => PrimType::Box,
    }
}

fn id_body(id: uuid::Uuid) -> Json {
    json!({ "ObjectID": id.to_string() })
}

/// The request members of one object spec (`CreateObjectRequest` shape).
pub(crate) fn spec_body(spec: &ObjectSpec) -> Result<Json, HostError> {
    let mut body = json!({
        "AssetID": parse_id(&spec.asset_id)?.to_string(),
        "Position": vec3(&spec.position),
        "Rotation": quat(&spec.rotation),
        "Velocity": vec3(&spec.velocity),
    });
    let fields = [
        ("Name", spec.name.clone()),
        ("Description", spec.description.clone()),
        ("StartParameter", spec.start_parameter.clone()),
    ];
    for (key, value) in fields {
        if let Some(v) = value {
            body[key] = Json::String(v);
        }
    }
    if let Some(id) = &spec.object_id {
        body["ObjectID"] = Json::String(parse_id(id)?.to_string());
    }
    Ok(body)
}

impl Host for HostState {
    fn find(&mut self, pattern: String, corner_a: Option<Vector3>, corner_b: Option<Vector3>, owner_id: Option<String>) -> Result<Vec<String>, HostError> {
        let mut body = json!({ "Pattern": pattern });
        if let Some(a) = corner_a {
            body["CoordinateA"] = vec3(&a);
        }
        if let Some(b) = corner_b {
            body["CoordinateB"] = vec3(&b);
        }
        if let Some(owner) = owner_id {
            body["OwnerID"] = Json::String(parse_id(&owner)?.to_string());
        }
        // The message path cuts the reply down to the scope (scope.rs), for
        // this import and `messages.send` alike.
        let reply: FindReply = self.call_as(&format!("{RC}FindObjectsRequest"), body)?;
        Ok(reply.objects.into_iter().map(|id| id.to_string()).collect())
    }

    fn get_data(&mut self, object_id: String) -> Result<ObjectData, HostError> {
        let id = self.scoped(&object_id)?;
        let r: DataReply = self.call_as(&format!("{RC}GetObjectDataRequest"), id_body(id))?;
        Ok(ObjectData {
            object_id: r.object_id.to_string(),
            name: r.name,
            position: r.position.vector3(),
            rotation: r.rotation.quaternion(),
            owner_id: r.owner_id.to_string(),
        })
    }

    fn get_parts(&mut self, object_id: String) -> Result<Vec<PartInfo>, HostError> {
        let id = self.scoped(&object_id)?;
        let r: PartsReply = self.call_as(&format!("{RC}GetObjectPartsRequest"), id_body(id))?;
        Ok(r.parts
            .into_iter()
            .map(|p| PartInfo {
                link_num: p.link_num,
                name: p.name,
                description: p.description,
                prim_type: prim_type(p.prim_type),
                offset_position: p.offset_position.vector3(),
                offset_rotation: p.offset_rotation.quaternion(),
            })
            .collect())
    }

    fn get_inventory(&mut self, object_id: String) -> Result<Vec<InventoryItem>, HostError> {
        let id = self.scoped(&object_id)?;
        let r: InventoryReply = self.call_as(&format!("{RC}GetObjectInventoryRequest"), id_body(id))?;
        Ok(r.inventory
            .into_iter()
            .map(|i| InventoryItem {
                name: i.name,
                description: i.description,
                asset_id: i.asset_id.to_string(),
                item_type: i.item_type,
            })
            .collect())
    }

    fn get_position(&mut self, object_id: String) -> Result<Vector3, HostError> {
        let id = self.scoped(&object_id)?;
        let r: PositionReply = self.call_as(&format!("{RC}GetObjectPositionRequest"), id_body(id))?;
        Ok(r.position.vector3())
    }

    fn set_position(&mut self, object_id: String, position: Vector3) -> Result<Vector3, HostError> {
        let id = self.scoped(&object_id)?;
        let body = json!({ "ObjectID": id.to_string(), "Position": vec3(&position) });
        let r: PositionReply = self.call_as(&format!("{RC}SetObjectPositionRequest"), body)?;
        Ok(r.position.vector3())
    }

    fn get_rotation(&mut self, object_id: String) -> Result<Quaternion, HostError> {
        let id = self.scoped(&object_id)?;
        let r: RotationReply = self.call_as(&format!("{RC}GetObjectRotationRequest"), id_body(id))?;
        Ok(r.rotation.quaternion())
    }

    fn set_rotation(&mut self, object_id: String, rotation: Quaternion) -> Result<Quaternion, HostError> {
        let id = self.scoped(&object_id)?;
        let body = json!({ "ObjectID": id.to_string(), "Rotation": quat(&rotation) });
        let r: RotationReply = self.call_as(&format!("{RC}SetObjectRotationRequest"), body)?;
        Ok(r.rotation.quaternion())
    }

    fn bulk_dynamics(&mut self, updates: Vec<ObjectDynamics>) -> Result<String, HostError> {
        let mut entries = Vec::with_capacity(updates.len());
        for u in &updates {
            let mut entry = json!({ "ObjectID": self.scoped(&u.object_id)?.to_string() });
            if let Some(p) = &u.position {
                entry["Position"] = vec3(p);
            }
            if let Some(v) = &u.velocity {
                entry["Velocity"] = vec3(v);
            }
            if let Some(a) = &u.acceleration {
                entry["Acceleration"] = vec3(a);
            }
            if let Some(r) = &u.rotation {
                entry["Rotation"] = quat(r);
            }
            entries.push(entry);
        }
        let (_, message) = self.call(&format!("{RC}BulkDynamicsRequest"), json!({ "Updates": entries }))?;
        Ok(message)
    }

    fn create(&mut self, spec: ObjectSpec) -> Result<String, HostError> {
        let r: CreateReply = self.call_as(&format!("{RC}CreateObjectRequest"), spec_body(&spec)?)?;
        Ok(r.object_id.to_string())
    }

    fn create_bulk(&mut self, objects: Vec<ObjectSpec>) -> Result<String, HostError> {
        let mut entries = Vec::with_capacity(objects.len());
        for spec in &objects {
            let body = spec_body(spec)?;
            let mut data = json!({ "Position": body["Position"], "Rotation": body["Rotation"], "Velocity": body["Velocity"] });
            if let Some(id) = body.get("ObjectID") {
                data["ObjectID"] = id.clone();
            }
            let mut entry = json!({ "AssetID": body["AssetID"], "ObjectData": data });
            for key in ["Name", "Description", "StartParameter"] {
                if let Some(v) = body.get(key) {
                    entry[key] = v.clone();
                }
            }
            entries.push(entry);
        }
        let (_, message) = self.call(&format!("{RC}CreateBulkObjectsRequest"), json!({ "Objects": entries }))?;
        Ok(message)
    }

    fn delete(&mut self, object_id: String) -> Result<(), HostError> {
        let id = self.scoped(&object_id)?;
        self.call(&format!("{RC}DeleteObjectRequest"), id_body(id)).map(drop)
    }

    fn delete_bulk(&mut self, object_ids: Vec<String>) -> Result<String, HostError> {
        let ids = object_ids
            .iter()
            .map(|id| self.scoped(id).map(|u| u.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        let (_, message) = self.call(&format!("{RC}DeleteBulkObjectsRequest"), json!({ "ObjectIDs": ids }))?;
        Ok(message)
    }

    fn delete_all(&mut self) -> Result<(), HostError> {
        // Grant, then `scope:region` (it reaches every object): scope.rs.
        self.call(&format!("{RC}DeleteAllObjectsRequest"), json!({})).map(drop)
    }

    fn message(&mut self, object_id: String, text: String) -> Result<(), HostError> {
        let id = self.scoped(&object_id)?;
        let body = json!({ "ObjectID": id.to_string(), "Message": text });
        self.call(&format!("{RC}MessageObjectRequest"), body).map(drop)
    }
}
