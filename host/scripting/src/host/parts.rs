//! `parts`: the part messages of RemoteControl, typed end to end.

use dispatcher_messages::remote_control::part::{SetPartColorRequest, SetPartPositionRequest, SetPartRotationRequest, SetPartScaleRequest};
use dispatcher_protocol::WireUuid;

use super::{wire_quat, wire_vec3};
use crate::bindings::opensim::dispatcher::parts::Host;
use crate::bindings::opensim::dispatcher::types::{Quaternion, Vector3};
use crate::call::parse_id;
use crate::error::HostError;
use crate::instance::HostState;

impl Host for HostState {
    fn set_position(&mut self, object_id: String, link_num: i32, position: Vector3) -> Result<(), HostError> {
        let object_id = WireUuid(parse_id(&object_id)?);
        self.call(SetPartPositionRequest {
            object_id,
            link_num,
            position: Some(wire_vec3(&position)),
        })
        .map(drop)
    }

    fn set_rotation(&mut self, object_id: String, link_num: i32, rotation: Quaternion) -> Result<(), HostError> {
        let object_id = WireUuid(parse_id(&object_id)?);
        self.call(SetPartRotationRequest {
            object_id,
            link_num,
            rotation: Some(wire_quat(&rotation)),
        })
        .map(drop)
    }

    fn set_scale(&mut self, object_id: String, link_num: i32, scale: Vector3) -> Result<(), HostError> {
        let object_id = WireUuid(parse_id(&object_id)?);
        self.call(SetPartScaleRequest {
            object_id,
            link_num,
            scale: Some(wire_vec3(&scale)),
        })
        .map(drop)
    }

    fn set_color(&mut self, object_id: String, link_num: i32, color: Vector3, alpha: f32) -> Result<(), HostError> {
        let object_id = WireUuid(parse_id(&object_id)?);
        self.call(SetPartColorRequest {
            object_id,
            link_num,
            color: Some(wire_vec3(&color)),
            alpha: Some(alpha),
        })
        .map(drop)
    }
}
