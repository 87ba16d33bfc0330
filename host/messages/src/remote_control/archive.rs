//! Region archive messages (authoring.md §3): import and export an OpenSim
//! region archive (OAR) as bytes (base64 in JSON, binary in BSON, as asset
//! data). For the region's estate owner and gods only; never grantable to
//! scripts.

use serde::{Deserialize, Serialize};

use crate::rc_type_name;
use crate::remote_control::asset::AssetBytes;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImportOarRequest {
    /// The archive (a gzipped tar).
    #[serde(rename = "Archive")]
    pub archive: AssetBytes,
    /// Add objects and assets instead of replacing the region.
    #[serde(rename = "Merge")]
    pub merge: bool,
}
rc_type_name!(ImportOarRequest, "RemoteControl.Messages.ImportOarRequest");

/// What the import brought.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImportOarResponse {
    #[serde(rename = "Objects")]
    pub objects: u64,
    #[serde(rename = "Parts")]
    pub parts: u64,
    #[serde(rename = "Assets")]
    pub assets: u64,
    #[serde(rename = "Terrain")]
    pub terrain: bool,
    #[serde(rename = "Kept")]
    pub kept: u64,
}
rc_type_name!(ImportOarResponse, "ImportOarResponse");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExportOarRequest {}
rc_type_name!(ExportOarRequest, "RemoteControl.Messages.ExportOarRequest");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExportOarResponse {
    #[serde(rename = "Archive")]
    pub archive: AssetBytes,
    #[serde(rename = "Objects")]
    pub objects: u64,
    #[serde(rename = "Assets")]
    pub assets: u64,
}
rc_type_name!(ExportOarResponse, "ExportOarResponse");

requests! {
    ImportOarRequest => ImportOarResponse, crate::DISPATCHER_GRANT, commits;
    ExportOarRequest => ExportOarResponse, crate::DISPATCHER_GRANT;
}
