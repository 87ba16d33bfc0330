//! `terrain`: one height per cell.

use serde::Deserialize;
use serde_json::json;

use crate::bindings::opensim::dispatcher::terrain::Host;
use crate::call::RC;
use crate::error::HostError;
use crate::instance::HostState;

#[derive(Deserialize, Default)]
#[serde(default)]
struct HeightReply {
    #[serde(rename = "Height")]
    height: f64,
}

impl Host for HostState {
    fn get_height(&mut self, x: i32, y: i32) -> Result<f32, HostError> {
        let r: HeightReply = self.call_as(&format!("{RC}GetTerrainHeightRequest"), json!({ "X": x, "Y": y }))?;
        Ok(r.height as f32)
    }

    fn set_height(&mut self, x: i32, y: i32, height: f32) -> Result<f32, HostError> {
        if !height.is_finite() {
            return Err(HostError::invalid("height must be finite"));
        }
        let body = json!({ "X": x, "Y": y, "Height": height });
        let r: HeightReply = self.call_as(&format!("{RC}SetTerrainHeightRequest"), body)?;
        Ok(r.height as f32)
    }
}
