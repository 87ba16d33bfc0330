//! `terrain`: one height per cell.

use dispatcher_messages::remote_control::terrain::{GetTerrainHeightRequest, SetTerrainHeightRequest};

use crate::bindings::opensim::dispatcher::terrain::Host;
use crate::error::HostError;
use crate::instance::HostState;

impl Host for HostState {
    fn get_height(&mut self, x: i32, y: i32) -> Result<f32, HostError> {
        Ok(self.call(GetTerrainHeightRequest { x, y })?.height as f32)
    }

    fn set_height(&mut self, x: i32, y: i32, height: f32) -> Result<f32, HostError> {
        if !height.is_finite() {
            return Err(HostError::invalid("height must be finite"));
        }
        Ok(self.call(SetTerrainHeightRequest { x, y, height })?.height as f32)
    }
}
