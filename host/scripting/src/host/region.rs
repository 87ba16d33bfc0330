//! `region`: sun parameters and scene facts.

use serde::Deserialize;
use serde_json::json;

use crate::bindings::opensim::dispatcher::region::Host;
use crate::bindings::opensim::dispatcher::types::{SceneInfo, SunParameters};
use crate::call::RC;
use crate::error::HostError;
use crate::instance::HostState;

#[derive(Deserialize, Default)]
#[serde(default)]
struct SunReply {
    #[serde(rename = "YearLength")]
    year_length: f64,
    #[serde(rename = "DayLength")]
    day_length: f64,
    #[serde(rename = "HorizonShift")]
    horizon_shift: f64,
    #[serde(rename = "DayTimeSunHourScale")]
    day_time_sun_hour_scale: f64,
    #[serde(rename = "CurrentTime")]
    current_time: f64,
}

fn to_params(r: SunReply) -> SunParameters {
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
        let r: SunReply = self.call_as(&format!("{RC}GetSunParametersRequest"), json!({}))?;
        Ok(to_params(r))
    }

    fn set_sun_parameters(&mut self, p: SunParameters) -> Result<SunParameters, HostError> {
        let body = json!({
            "YearLength": p.year_length,
            "DayLength": p.day_length,
            "HorizonShift": p.horizon_shift,
            "DayTimeSunHourScale": p.day_time_sun_hour_scale,
            "CurrentTime": p.current_time,
        });
        let r: SunReply = self.call_as(&format!("{RC}SetSunParametersRequest"), body)?;
        Ok(to_params(r))
    }

    fn get_scene_info(&mut self) -> Result<SceneInfo, HostError> {
        self.require("region:read")?;
        self.admit()?;
        Ok(SceneInfo {
            name: self.script.info.region.clone(),
            size_x: DEFAULT_REGION_SIZE_M,
            size_y: DEFAULT_REGION_SIZE_M,
        })
    }
}
