//! The `Extensions` domain messages (extensions spec §3): install, list,
//! inspect, start, stop, update and remove third-party message domains.

use dispatcher_protocol::{Done, MessageType, WireUuid};
use serde::{Deserialize, Serialize};

pub use crate::scripting::{ComponentBytes, LogLineRecord, ScriptLogResponse};

macro_rules! type_name {
    ($ty:ident, $name:literal) => {
        impl MessageType for $ty {
            const TYPE_NAME: &'static str = $name;
        }
    };
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstallExtensionRequest {
    #[serde(rename = "Component")]
    pub component: ComponentBytes,
    /// A region name, or empty for the whole host.
    #[serde(rename = "Scope")]
    pub scope: String,
    #[serde(rename = "Grants")]
    pub grants: Vec<String>,
    #[serde(rename = "Config")]
    pub config: String,
    #[serde(rename = "Start")]
    pub start: bool,
}
type_name!(InstallExtensionRequest, "Extensions.Messages.InstallExtensionRequest");

impl Default for InstallExtensionRequest {
    fn default() -> Self {
        InstallExtensionRequest {
            component: ComponentBytes::default(),
            scope: String::new(),
            grants: Vec::new(),
            config: String::new(),
            start: true,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstallExtensionResponse {
    #[serde(rename = "ExtensionID")]
    pub extension_id: WireUuid,
    #[serde(rename = "Domain")]
    pub domain: String,
    #[serde(rename = "Version")]
    pub version: String,
    #[serde(rename = "MessageTypes")]
    pub message_types: Vec<String>,
    #[serde(rename = "Hash")]
    pub hash: String,
    /// The effective grants.
    #[serde(rename = "Grants")]
    pub grants: Vec<String>,
    #[serde(rename = "State")]
    pub state: String,
}
type_name!(InstallExtensionResponse, "Extensions.Messages.InstallExtensionResponse");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpdateExtensionRequest {
    #[serde(rename = "ExtensionID")]
    pub extension_id: WireUuid,
    #[serde(rename = "Component")]
    pub component: ComponentBytes,
    /// Empty keeps the current grants.
    #[serde(rename = "Grants")]
    pub grants: Option<Vec<String>>,
    /// Absent keeps the current config.
    #[serde(rename = "Config")]
    pub config: Option<String>,
}
type_name!(UpdateExtensionRequest, "Extensions.Messages.UpdateExtensionRequest");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListExtensionsRequest {}
type_name!(ListExtensionsRequest, "Extensions.Messages.ListExtensionsRequest");

/// One extension's status record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExtensionStatus {
    #[serde(rename = "ExtensionID")]
    pub extension_id: WireUuid,
    #[serde(rename = "Domain")]
    pub domain: String,
    #[serde(rename = "Version")]
    pub version: String,
    /// A region name, or empty for the whole host.
    #[serde(rename = "Scope")]
    pub scope: String,
    #[serde(rename = "Hash")]
    pub hash: String,
    #[serde(rename = "State")]
    pub state: String,
    /// Effective grants; `act-as-installer` shows here when held.
    #[serde(rename = "Grants")]
    pub grants: Vec<String>,
    #[serde(rename = "FaultReason")]
    pub fault_reason: String,
    #[serde(rename = "RequestsHandled")]
    pub requests_handled: u64,
    #[serde(rename = "RequestsFailed")]
    pub requests_failed: u64,
    #[serde(rename = "CpuMicros")]
    pub cpu_micros: u64,
    #[serde(rename = "MemoryBytes")]
    pub memory_bytes: u64,
    #[serde(rename = "Restarts")]
    pub restarts: u32,
    #[serde(rename = "InstalledBy")]
    pub installed_by: WireUuid,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListExtensionsResponse {
    #[serde(rename = "Extensions")]
    pub extensions: Vec<ExtensionStatus>,
}
type_name!(ListExtensionsResponse, "Extensions.Messages.ListExtensionsResponse");

/// One status record as a reply of its own.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ExtensionStatusResponse(pub ExtensionStatus);
type_name!(ExtensionStatusResponse, "Extensions.Messages.ExtensionStatusResponse");

macro_rules! extension_id_request {
    ($ty:ident, $name:literal) => {
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
        #[serde(default)]
        pub struct $ty {
            #[serde(rename = "ExtensionID")]
            pub extension_id: WireUuid,
        }
        type_name!($ty, $name);
    };
}

extension_id_request!(GetExtensionStatusRequest, "Extensions.Messages.GetExtensionStatusRequest");
extension_id_request!(StartExtensionRequest, "Extensions.Messages.StartExtensionRequest");
extension_id_request!(StopExtensionRequest, "Extensions.Messages.StopExtensionRequest");
extension_id_request!(RemoveExtensionRequest, "Extensions.Messages.RemoveExtensionRequest");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetExtensionLogRequest {
    #[serde(rename = "ExtensionID")]
    pub extension_id: WireUuid,
    #[serde(rename = "Since")]
    pub since: u64,
}
type_name!(GetExtensionLogRequest, "Extensions.Messages.GetExtensionLogRequest");

/// The grant of every Extensions-domain message: `dispatcher`, the grant no
/// script is given (a script cannot install or manage extensions).
pub const EXTENSIONS_GRANT: &str = "dispatcher";

requests! {
    InstallExtensionRequest => InstallExtensionResponse, EXTENSIONS_GRANT, commits;
    UpdateExtensionRequest => InstallExtensionResponse, EXTENSIONS_GRANT, commits;
    ListExtensionsRequest => ListExtensionsResponse, EXTENSIONS_GRANT;
    GetExtensionStatusRequest => ExtensionStatusResponse, EXTENSIONS_GRANT;
    StartExtensionRequest => Done, EXTENSIONS_GRANT, commits;
    StopExtensionRequest => Done, EXTENSIONS_GRANT, commits;
    RemoveExtensionRequest => Done, EXTENSIONS_GRANT, commits;
    GetExtensionLogRequest => ScriptLogResponse, EXTENSIONS_GRANT;
}
