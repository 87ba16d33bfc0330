//! Terrain messages (§4.7). Coordinates are integer cell indices: a fractional
//! number fails the request (Q-41, enforced by the protocol's integer binding).

use serde::{Deserialize, Serialize};

use crate::rc_type_name;

/// `SetTerrainHeight`'s default height, in metres.
pub const DEFAULT_SET_HEIGHT_M: f32 = 20.0;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetTerrainHeightRequest {
    #[serde(rename = "X")]
    pub x: i32,
    #[serde(rename = "Y")]
    pub y: i32,
}
rc_type_name!(GetTerrainHeightRequest, "RemoteControl.Messages.GetTerrainHeightRequest");

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SetTerrainHeightRequest {
    #[serde(rename = "X")]
    pub x: i32,
    #[serde(rename = "Y")]
    pub y: i32,
    /// Metres.
    #[serde(rename = "Height")]
    pub height: f32,
}
rc_type_name!(SetTerrainHeightRequest, "RemoteControl.Messages.SetTerrainHeightRequest");

impl Default for SetTerrainHeightRequest {
    fn default() -> Self {
        SetTerrainHeightRequest {
            x: 0,
            y: 0,
            height: DEFAULT_SET_HEIGHT_M,
        }
    }
}

/// Reply of both terrain messages; bare `$type` (Q-01). `Height` is the stored
/// f32 widened to double (20.3 reads back as 20.299999237060547).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TerrainHeightResponse {
    #[serde(rename = "X")]
    pub x: i32,
    #[serde(rename = "Y")]
    pub y: i32,
    #[serde(rename = "Height")]
    pub height: f64,
}
rc_type_name!(TerrainHeightResponse, "TerrainHeightResponse");

requests! {
    GetTerrainHeightRequest => TerrainHeightResponse, "terrain:read";
    SetTerrainHeightRequest => TerrainHeightResponse, "terrain:write", commits;
}

#[cfg(test)]
mod tests {
    use super::*;
    use dispatcher_protocol::{json, DecodeLimits};

    fn bind<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, dispatcher_protocol::DeError> {
        let value = json::decode(text.as_bytes(), &DecodeLimits::default())
            .expect("json")
            .expect("value");
        dispatcher_protocol::from_value(&value)
    }

    #[test]
    fn rc_65_integers_strings_fractions_and_defaults() {
        assert!(bind::<SetTerrainHeightRequest>(r#"{"X":128.5}"#).is_err());
        let r: SetTerrainHeightRequest = bind(r#"{"x":"128"}"#).expect("bind");
        assert_eq!((r.x, r.y, r.height), (128, 0, 20.0));
        let g: GetTerrainHeightRequest = bind("{}").expect("bind");
        assert_eq!((g.x, g.y), (0, 0));
    }
}
