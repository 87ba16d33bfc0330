//! Sun handlers (§4.6). The model takes "now" from here; it never reads a clock.

use std::time::{SystemTime, UNIX_EPOCH};

use dispatcher_dispatch::{HandlerError, RequestContext};
use dispatcher_scene::{Sun, SunUpdate};

use crate::messages::region::{GetSunParametersRequest, SetSunParametersRequest, SunParametersResponse};
use crate::region_host::RegionHost;
use crate::RemoteControl;

/// Wall-clock Unix seconds; a clock before 1970 reads as 0 (any monotonic
/// second counter is acceptable for the sun, §3.8).
fn unix_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn sun_reply(sun: &Sun, now: i64) -> SunParametersResponse {
    SunParametersResponse {
        year_length: f64::from(sun.year_length_days),
        day_length: sun.day_length_hours,
        horizon_shift: sun.horizon_shift,
        day_time_sun_hour_scale: sun.day_time_sun_hour_scale,
        current_time: sun.current_time_hours(now),
    }
}

pub fn get_sun_parameters(
    _rc: &RemoteControl,
    host: &RegionHost,
    _ctx: &RequestContext,
    _req: GetSunParametersRequest,
) -> Result<SunParametersResponse, HandlerError> {
    let region = host.region.read();
    Ok(sun_reply(&region.sun, unix_seconds()))
}

/// Applies the update to a copy, commits it, then installs it: a failed write
/// leaves the region's sun as it was.
pub fn set_sun_parameters(
    rc: &RemoteControl,
    host: &RegionHost,
    _ctx: &RequestContext,
    req: SetSunParametersRequest,
) -> Result<SunParametersResponse, HandlerError> {
    let now = unix_seconds();
    let mut region = host.region.write();
    let mut next = region.sun.clone();
    let changes = next.apply(
        SunUpdate {
            year_length_days: req.year_length,
            day_length_hours: req.day_length,
            horizon_shift: req.horizon_shift,
            day_time_sun_hour_scale: req.day_time_sun_hour_scale,
            current_time_hours: req.current_time,
        },
        now,
    );
    if !changes.is_empty() {
        rc.persist
            .save_sun(host.id, &next)
            .map_err(|e| HandlerError::Internal(e.to_string()))?;
        region.sun = next;
    }
    Ok(sun_reply(&region.sun, now))
}
