//! `objects`: the object messages of RemoteControl, typed end to end.

use dispatcher_messages::remote_control::object::{
    BulkDynamicsRequest, CreateBulkObjectsRequest, CreateObjectRequest, DeleteAllObjectsRequest, DeleteBulkObjectsRequest,
    DeleteObjectRequest, FindObjectsRequest, GetObjectDataRequest, GetObjectInventoryRequest, GetObjectPartsRequest,
    GetObjectPositionRequest, GetObjectRotationRequest, MessageObjectRequest, ObjectDynamicsData, ObjectSpecification,
    SetObjectPositionRequest, SetObjectRotationRequest,
};
use dispatcher_protocol::WireUuid;
use dispatcher_scene::PrimType as ScenePrimType;

use super::{quaternion, vector3, wire_quat, wire_vec3};
use crate::bindings::opensim::dispatcher::objects::Host;
use crate::bindings::opensim::dispatcher::types::{
    InventoryItem, ObjectData, ObjectDynamics, ObjectSpec, PartInfo, PrimType, Quaternion, Vector3,
};
use crate::call::parse_id;
use crate::error::HostError;
use crate::instance::HostState;
use crate::scope::Reach;

/// The scene's prim type as the WIT enum; a code the scene does not define
/// (none is sent today) reads as a box, the scene's own fallback.
fn prim_type(code: i32) -> PrimType {
    match ScenePrimType::from_code(code).unwrap_or(ScenePrimType::Box) {
        ScenePrimType::Box => PrimType::Box,
        ScenePrimType::Cylinder => PrimType::Cylinder,
        ScenePrimType::Prism => PrimType::Prism,
        ScenePrimType::Sphere => PrimType::Sphere,
        ScenePrimType::Torus => PrimType::Torus,
        ScenePrimType::Tube => PrimType::Tube,
        ScenePrimType::Ring => PrimType::Ring,
        ScenePrimType::Sculpt => PrimType::Sculpt,
    }
}

fn object_id(text: &str) -> Result<WireUuid, HostError> {
    parse_id(text).map(WireUuid)
}

/// One object spec as the `CreateObject` request (every dynamics member
/// given, the texts and the id only when the guest gave them).
fn create_request(spec: &ObjectSpec) -> Result<CreateObjectRequest, HostError> {
    Ok(CreateObjectRequest {
        asset_id: object_id(&spec.asset_id)?,
        name: spec.name.clone(),
        description: spec.description.clone(),
        start_parameter: spec.start_parameter.clone(),
        position: Some(wire_vec3(&spec.position)),
        rotation: Some(wire_quat(&spec.rotation)),
        velocity: Some(wire_vec3(&spec.velocity)),
        object_id: spec.object_id.as_deref().map(object_id).transpose()?.unwrap_or(WireUuid::NIL),
    })
}

/// One object spec as a `CreateBulkObjects` entry.
fn bulk_entry(spec: &ObjectSpec) -> Result<ObjectSpecification, HostError> {
    let one = create_request(spec)?;
    Ok(ObjectSpecification {
        object_data: Some(ObjectDynamicsData {
            object_id: one.object_id,
            position: one.position,
            velocity: one.velocity,
            acceleration: None,
            rotation: one.rotation,
        }),
        name: one.name,
        description: one.description,
        start_parameter: one.start_parameter,
        asset_id: one.asset_id,
    })
}

impl Host for HostState {
    fn find(
        &mut self,
        pattern: String,
        corner_a: Option<Vector3>,
        corner_b: Option<Vector3>,
        owner_id: Option<String>,
    ) -> Result<Vec<String>, HostError> {
        let request = FindObjectsRequest {
            pattern,
            coordinate_a: corner_a.as_ref().map(wire_vec3),
            coordinate_b: corner_b.as_ref().map(wire_vec3),
            owner_id: owner_id.as_deref().map(object_id).transpose()?.unwrap_or(WireUuid::NIL),
        };
        let reached = request.reach();
        let mut reply = self.call(request)?;
        // A listing is cut down to the scope, as `messages.send`'s is (scope.rs).
        if self.check_reach(&reached)? {
            reply.objects.retain(|id| self.allows(id.0));
        }
        Ok(reply.objects.into_iter().map(|id| id.to_string()).collect())
    }

    fn get_data(&mut self, object_id_text: String) -> Result<ObjectData, HostError> {
        let r = self.call_with(|| {
            Ok(GetObjectDataRequest {
                object_id: object_id(&object_id_text)?,
            })
        })?;
        Ok(ObjectData {
            object_id: r.object_id.to_string(),
            name: r.name,
            position: vector3(r.position),
            rotation: quaternion(r.rotation),
            owner_id: r.owner_id.to_string(),
        })
    }

    fn get_parts(&mut self, object_id_text: String) -> Result<Vec<PartInfo>, HostError> {
        let r = self.call_with(|| {
            Ok(GetObjectPartsRequest {
                object_id: object_id(&object_id_text)?,
            })
        })?;
        Ok(r.parts
            .into_iter()
            .map(|p| p.0)
            .map(|p| PartInfo {
                link_num: p.link_num,
                name: p.name,
                description: p.description,
                prim_type: prim_type(p.prim_type),
                offset_position: vector3(p.offset_position),
                offset_rotation: quaternion(p.offset_rotation),
            })
            .collect())
    }

    fn get_inventory(&mut self, object_id_text: String) -> Result<Vec<InventoryItem>, HostError> {
        let r = self.call_with(|| {
            Ok(GetObjectInventoryRequest {
                object_id: object_id(&object_id_text)?,
            })
        })?;
        Ok(r.inventory
            .into_iter()
            .map(|i| i.0)
            .map(|i| InventoryItem {
                name: i.name,
                description: i.description,
                asset_id: i.asset_id.to_string(),
                item_type: i.item_type,
            })
            .collect())
    }

    fn get_position(&mut self, object_id_text: String) -> Result<Vector3, HostError> {
        let r = self.call_with(|| {
            Ok(GetObjectPositionRequest {
                object_id: object_id(&object_id_text)?,
            })
        })?;
        Ok(vector3(r.position))
    }

    fn set_position(&mut self, object_id_text: String, position: Vector3) -> Result<Vector3, HostError> {
        let request = SetObjectPositionRequest {
            object_id: object_id(&object_id_text)?,
            position: Some(wire_vec3(&position)),
        };
        Ok(vector3(self.call(request)?.position))
    }

    fn get_rotation(&mut self, object_id_text: String) -> Result<Quaternion, HostError> {
        let r = self.call_with(|| {
            Ok(GetObjectRotationRequest {
                object_id: object_id(&object_id_text)?,
            })
        })?;
        Ok(quaternion(r.rotation))
    }

    fn set_rotation(&mut self, object_id_text: String, rotation: Quaternion) -> Result<Quaternion, HostError> {
        let request = SetObjectRotationRequest {
            object_id: object_id(&object_id_text)?,
            rotation: Some(wire_quat(&rotation)),
        };
        Ok(quaternion(self.call(request)?.rotation))
    }

    fn bulk_dynamics(&mut self, updates: Vec<ObjectDynamics>) -> Result<String, HostError> {
        let updates = updates
            .iter()
            .map(|u| {
                Ok(ObjectDynamicsData {
                    object_id: object_id(&u.object_id)?,
                    position: u.position.as_ref().map(wire_vec3),
                    velocity: u.velocity.as_ref().map(wire_vec3),
                    acceleration: u.acceleration.as_ref().map(wire_vec3),
                    rotation: u.rotation.as_ref().map(wire_quat),
                })
            })
            .collect::<Result<Vec<_>, HostError>>()?;
        Ok(self.call(BulkDynamicsRequest { updates })?.message)
    }

    fn create(&mut self, spec: ObjectSpec) -> Result<String, HostError> {
        Ok(self.call(create_request(&spec)?)?.object_id.to_string())
    }

    fn create_bulk(&mut self, objects: Vec<ObjectSpec>) -> Result<String, HostError> {
        let objects = objects.iter().map(bulk_entry).collect::<Result<Vec<_>, _>>()?;
        Ok(self.call(CreateBulkObjectsRequest { objects })?.message)
    }

    fn delete(&mut self, object_id_text: String) -> Result<(), HostError> {
        self.call_with(|| {
            Ok(DeleteObjectRequest {
                object_id: object_id(&object_id_text)?,
            })
        })
        .map(drop)
    }

    fn delete_bulk(&mut self, object_ids: Vec<String>) -> Result<String, HostError> {
        let object_ids = object_ids.iter().map(|id| object_id(id)).collect::<Result<Vec<_>, _>>()?;
        Ok(self.call(DeleteBulkObjectsRequest { object_ids })?.message)
    }

    fn delete_all(&mut self) -> Result<(), HostError> {
        // The grant, then `scope:region` (it reaches every object): scope.rs.
        self.call(DeleteAllObjectsRequest {}).map(drop)
    }

    fn message(&mut self, object_id_text: String, text: String) -> Result<(), HostError> {
        self.call(MessageObjectRequest {
            object_id: object_id(&object_id_text)?,
            message: text,
        })
        .map(drop)
    }
}
