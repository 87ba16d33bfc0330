//! Sun messages (§4.6). Every value is a double on the wire, `YearLength` too.

use serde::{Deserialize, Serialize};

use crate::rc_type_name;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetSunParametersRequest {}
rc_type_name!(GetSunParametersRequest, "RemoteControl.Messages.GetSunParametersRequest");

/// `SetSunParameters`: a tunable that is not strictly positive means "keep";
/// `CurrentTime` is always applied, absent = 0 = midnight.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SetSunParametersRequest {
    #[serde(rename = "YearLength")]
    pub year_length: f64,
    #[serde(rename = "DayLength")]
    pub day_length: f64,
    #[serde(rename = "HorizonShift")]
    pub horizon_shift: f64,
    #[serde(rename = "DayTimeSunHourScale")]
    pub day_time_sun_hour_scale: f64,
    #[serde(rename = "CurrentTime")]
    pub current_time: f64,
}
rc_type_name!(SetSunParametersRequest, "RemoteControl.Messages.SetSunParametersRequest");

/// Reply of both sun messages; bare `$type`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SunParametersResponse {
    #[serde(rename = "YearLength")]
    pub year_length: f64,
    #[serde(rename = "DayLength")]
    pub day_length: f64,
    #[serde(rename = "HorizonShift")]
    pub horizon_shift: f64,
    #[serde(rename = "DayTimeSunHourScale")]
    pub day_time_sun_hour_scale: f64,
    /// Hours, `0 <= t < 24`.
    #[serde(rename = "CurrentTime")]
    pub current_time: f64,
}
rc_type_name!(SunParametersResponse, "SunParametersResponse");

requests! {
    GetSunParametersRequest => SunParametersResponse, "region:read";
    SetSunParametersRequest => SunParametersResponse, "region:write", commits;
}
