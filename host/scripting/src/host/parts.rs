//! `parts`: the part messages of RemoteControl, scope-checked.

use serde_json::json;

use crate::bindings::opensim::dispatcher::parts::Host;
use crate::bindings::opensim::dispatcher::types::{Quaternion, Vector3};
use crate::call::{quat, vec3, RC};
use crate::error::HostError;
use crate::instance::HostState;

impl Host for HostState {
    fn set_position(&mut self, object_id: String, link_num: i32, position: Vector3) -> Result<(), HostError> {
        let id = self.scoped(&object_id)?;
        let body = json!({ "ObjectID": id.to_string(), "LinkNum": link_num, "Position": vec3(&position) });
        self.call(&format!("{RC}SetPartPositionRequest"), body).map(drop)
    }

    fn set_rotation(&mut self, object_id: String, link_num: i32, rotation: Quaternion) -> Result<(), HostError> {
        let id = self.scoped(&object_id)?;
        let body = json!({ "ObjectID": id.to_string(), "LinkNum": link_num, "Rotation": quat(&rotation) });
        self.call(&format!("{RC}SetPartRotationRequest"), body).map(drop)
    }

    fn set_scale(&mut self, object_id: String, link_num: i32, scale: Vector3) -> Result<(), HostError> {
        let id = self.scoped(&object_id)?;
        let body = json!({ "ObjectID": id.to_string(), "LinkNum": link_num, "Scale": vec3(&scale) });
        self.call(&format!("{RC}SetPartScaleRequest"), body).map(drop)
    }

    fn set_color(&mut self, object_id: String, link_num: i32, color: Vector3, alpha: f32) -> Result<(), HostError> {
        let id = self.scoped(&object_id)?;
        let body = json!({ "ObjectID": id.to_string(), "LinkNum": link_num, "Color": vec3(&color), "Alpha": alpha });
        self.call(&format!("{RC}SetPartColorRequest"), body).map(drop)
    }
}
