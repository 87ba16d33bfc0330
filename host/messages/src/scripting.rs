//! The `Scripting` domain messages (scripting spec §3), typed for the lenient
//! binding of `dispatcher-protocol`.

use dispatcher_protocol::{Done, MessageType, WireUuid};
use serde::{Deserialize, Serialize};

macro_rules! type_name {
    ($ty:ident, $name:literal) => {
        impl MessageType for $ty {
            const TYPE_NAME: &'static str = $name;
        }
    };
}

/// The component bytes: BSON binary or base64 text in JSON.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ComponentBytes(pub Vec<u8>);

impl Serialize for ComponentBytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for ComponentBytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ComponentBytes;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("binary data or base64 text")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<ComponentBytes, E> {
                Ok(ComponentBytes(v.to_vec()))
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<ComponentBytes, E> {
                Ok(ComponentBytes(v))
            }
        }
        d.deserialize_byte_buf(V)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UploadScriptRequest {
    #[serde(rename = "ObjectID")]
    pub object_id: WireUuid,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Component")]
    pub component: ComponentBytes,
    #[serde(rename = "Grants")]
    pub grants: Vec<String>,
    #[serde(rename = "StartParameter")]
    pub start_parameter: String,
    #[serde(rename = "Start")]
    pub start: bool,
}
type_name!(UploadScriptRequest, "Scripting.Messages.UploadScriptRequest");

impl Default for UploadScriptRequest {
    fn default() -> Self {
        UploadScriptRequest {
            object_id: WireUuid::NIL,
            name: String::new(),
            component: ComponentBytes::default(),
            grants: Vec::new(),
            start_parameter: String::new(),
            start: true,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UploadScriptResponse {
    #[serde(rename = "ScriptID")]
    pub script_id: WireUuid,
    #[serde(rename = "AssetID")]
    pub asset_id: WireUuid,
    #[serde(rename = "Hash")]
    pub hash: String,
    #[serde(rename = "Grants")]
    pub grants: Vec<String>,
    #[serde(rename = "State")]
    pub state: String,
}
type_name!(UploadScriptResponse, "Scripting.Messages.UploadScriptResponse");

/// Replace a script's component in place (authoring spec §2): same
/// `ScriptID`, object and storage. `Grants` and `StartParameter` keep the
/// script's current values when absent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpdateScriptRequest {
    #[serde(rename = "ScriptID")]
    pub script_id: WireUuid,
    #[serde(rename = "Component")]
    pub component: ComponentBytes,
    #[serde(rename = "Grants", skip_serializing_if = "Option::is_none")]
    pub grants: Option<Vec<String>>,
    #[serde(rename = "StartParameter", skip_serializing_if = "Option::is_none")]
    pub start_parameter: Option<String>,
}
type_name!(UpdateScriptRequest, "Scripting.Messages.UpdateScriptRequest");

/// The outcome of an update: the script's component now (`Hash`, `AssetID`),
/// its grants and state, and whether the new component was rolled back
/// (`RolledBack`, with the reason in `Message`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpdateScriptResponse {
    #[serde(rename = "ScriptID")]
    pub script_id: WireUuid,
    #[serde(rename = "AssetID")]
    pub asset_id: WireUuid,
    #[serde(rename = "Hash")]
    pub hash: String,
    #[serde(rename = "Grants")]
    pub grants: Vec<String>,
    #[serde(rename = "State")]
    pub state: String,
    #[serde(rename = "RolledBack")]
    pub rolled_back: bool,
    #[serde(rename = "Message")]
    pub message: String,
}
type_name!(UpdateScriptResponse, "Scripting.Messages.UpdateScriptResponse");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListScriptsRequest {
    #[serde(rename = "ObjectID")]
    pub object_id: WireUuid,
}
type_name!(ListScriptsRequest, "Scripting.Messages.ListScriptsRequest");

/// One status record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScriptStatus {
    #[serde(rename = "ScriptID")]
    pub script_id: WireUuid,
    #[serde(rename = "ObjectID")]
    pub object_id: WireUuid,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Hash")]
    pub hash: String,
    #[serde(rename = "State")]
    pub state: String,
    #[serde(rename = "Grants")]
    pub grants: Vec<String>,
    #[serde(rename = "FaultReason")]
    pub fault_reason: String,
    #[serde(rename = "EventsHandled")]
    pub events_handled: u64,
    #[serde(rename = "EventsDropped")]
    pub events_dropped: u64,
    #[serde(rename = "CpuMicros")]
    pub cpu_micros: u64,
    #[serde(rename = "FuelConsumed")]
    pub fuel_consumed: u64,
    #[serde(rename = "MemoryBytes")]
    pub memory_bytes: u64,
    #[serde(rename = "Restarts")]
    pub restarts: u32,
    /// Calls refused with `not-permitted` (this host's addition).
    #[serde(rename = "DeniedCalls")]
    pub denied_calls: u64,
    /// Calls refused with `rate-limited` (this host's addition).
    #[serde(rename = "RateLimitedCalls")]
    pub rate_limited_calls: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListScriptsResponse {
    #[serde(rename = "Scripts")]
    pub scripts: Vec<ScriptStatus>,
}
type_name!(ListScriptsResponse, "Scripting.Messages.ListScriptsResponse");

macro_rules! script_id_request {
    ($ty:ident, $name:literal) => {
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
        #[serde(default)]
        pub struct $ty {
            #[serde(rename = "ScriptID")]
            pub script_id: WireUuid,
        }
        type_name!($ty, $name);
    };
}

script_id_request!(GetScriptStatusRequest, "Scripting.Messages.GetScriptStatusRequest");
script_id_request!(StartScriptRequest, "Scripting.Messages.StartScriptRequest");
script_id_request!(StopScriptRequest, "Scripting.Messages.StopScriptRequest");
script_id_request!(ResetScriptRequest, "Scripting.Messages.ResetScriptRequest");
script_id_request!(RemoveScriptRequest, "Scripting.Messages.RemoveScriptRequest");

/// One status record as a reply of its own.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ScriptStatusResponse(pub ScriptStatus);
type_name!(ScriptStatusResponse, "Scripting.Messages.ScriptStatusResponse");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetScriptLogRequest {
    #[serde(rename = "ScriptID")]
    pub script_id: WireUuid,
    #[serde(rename = "Since")]
    pub since: u64,
}
type_name!(GetScriptLogRequest, "Scripting.Messages.GetScriptLogRequest");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogLineRecord {
    #[serde(rename = "Seq")]
    pub seq: u64,
    /// Unix milliseconds.
    #[serde(rename = "Time")]
    pub time: u64,
    #[serde(rename = "Level")]
    pub level: String,
    #[serde(rename = "Text")]
    pub text: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScriptLogResponse {
    #[serde(rename = "Lines")]
    pub lines: Vec<LogLineRecord>,
    /// Lines refused by the rate limit so far.
    #[serde(rename = "Dropped")]
    pub dropped: u64,
}
type_name!(ScriptLogResponse, "Scripting.Messages.ScriptLogResponse");

/// The grant of every Scripting-domain message.
pub const SCRIPTS_GRANT: &str = "scripts";

// Uploads, removals and state changes are committed to the store.
requests! {
    UploadScriptRequest => UploadScriptResponse, SCRIPTS_GRANT, commits;
    UpdateScriptRequest => UpdateScriptResponse, SCRIPTS_GRANT, commits;
    ListScriptsRequest => ListScriptsResponse, SCRIPTS_GRANT;
    GetScriptStatusRequest => ScriptStatusResponse, SCRIPTS_GRANT;
    StartScriptRequest => Done, SCRIPTS_GRANT, commits;
    StopScriptRequest => Done, SCRIPTS_GRANT, commits;
    ResetScriptRequest => Done, SCRIPTS_GRANT, commits;
    RemoveScriptRequest => Done, SCRIPTS_GRANT, commits;
    GetScriptLogRequest => ScriptLogResponse, SCRIPTS_GRANT;
}
