//! `region`: sun parameters and scene facts.

use dispatcher_messages::remote_control::region::{GetSunParametersRequest, SetSunParametersRequest, SunParametersResponse};

use crate::bindings::opensim::dispatcher::region::Host;
use crate::bindings::opensim::dispatcher::types::{SceneInfo, SunParameters};
use crate::error::HostError;
use crate::instance::HostState;

fn to_params(r: SunParametersResponse) -> SunParameters {
    SunParameters {
        year_length: r.year_length,
        day_length: r.day_length,
        horizon_shift: r.horizon_shift,
        day_time_sun_hour_scale: r.day_time_sun_hour_scale,
        current_time: r.current_time,
    }
}

/// Region size until the scene exposes its own (the protocol default).
const DEFAULT_REGION_SIZE_M: u32 = 256;

impl Host for HostState {
    fn get_sun_parameters(&mut self) -> Result<SunParameters, HostError> {
        Ok(to_params(self.call(GetSunParametersRequest {})?))
    }

    fn set_sun_parameters(&mut self, p: SunParameters) -> Result<SunParameters, HostError> {
        let request = SetSunParametersRequest {
            year_length: p.year_length,
            day_length: p.day_length,
            horizon_shift: p.horizon_shift,
            day_time_sun_hour_scale: p.day_time_sun_hour_scale,
            current_time: p.current_time,
        };
        Ok(to_params(self.call(request)?))
    }

    fn get_scene_info(&mut self) -> Result<SceneInfo, HostError> {
        self.require("region:read")?;
        self.admit()?;
        Ok(SceneInfo {
            name: self.acting.region.clone(),
            size_x: DEFAULT_REGION_SIZE_M,
            size_y: DEFAULT_REGION_SIZE_M,
        })
    }
}
