//! The `Dispatcher` domain (dispatcher-core.md §6).

use dispatcher_protocol::{Done, MessageType, WireUuid};
use serde::{Deserialize, Serialize};

use crate::DISPATCHER_GRANT;

macro_rules! type_name {
    ($ty:ident, $name:literal) => {
        impl MessageType for $ty {
            const TYPE_NAME: &'static str = $name;
        }
    };
}

/// Default capability lifespan, in seconds.
pub const DEFAULT_CAPABILITY_LIFESPAN_S: i32 = 300;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InfoRequest {}
type_name!(InfoRequest, "Dispatcher.Messages.InfoRequest");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InfoResponse {
    #[serde(rename = "AsyncEndPoint")]
    pub async_end_point: String,
    #[serde(rename = "SynchEndPoint")]
    pub synch_end_point: String,
    #[serde(rename = "SceneList")]
    pub scene_list: Vec<String>,
    #[serde(rename = "MessageList")]
    pub message_list: Vec<String>,
}
type_name!(InfoResponse, "Dispatcher.Messages.InfoResponse");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MessageFormatRequest {
    /// Null in the default sample, as in the original.
    #[serde(rename = "MessageName")]
    pub message_name: Option<String>,
}
type_name!(MessageFormatRequest, "Dispatcher.Messages.MessageFormatRequest");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MessageFormatResponse {
    #[serde(rename = "SampleMessage")]
    pub sample_message: String,
}
type_name!(MessageFormatResponse, "Dispatcher.Messages.MessageFormatResponse");

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CreateCapabilityRequest {
    #[serde(rename = "UserID")]
    pub user_id: WireUuid,
    #[serde(rename = "HashedPasswd")]
    pub hashed_passwd: String,
    #[serde(rename = "LifeSpan")]
    pub life_span: i32,
    #[serde(rename = "FirstName")]
    pub first_name: String,
    #[serde(rename = "LastName")]
    pub last_name: String,
    #[serde(rename = "EmailAddress")]
    pub email_address: String,
    #[serde(rename = "DomainList")]
    pub domain_list: Vec<String>,
}
type_name!(CreateCapabilityRequest, "Dispatcher.Messages.CreateCapabilityRequest");

impl Default for CreateCapabilityRequest {
    fn default() -> Self {
        CreateCapabilityRequest {
            user_id: WireUuid::NIL,
            hashed_passwd: String::new(),
            life_span: DEFAULT_CAPABILITY_LIFESPAN_S,
            first_name: String::new(),
            last_name: String::new(),
            email_address: String::new(),
            domain_list: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CapabilityResponse {
    #[serde(rename = "Capability")]
    pub capability: WireUuid,
    #[serde(rename = "LifeSpan")]
    pub life_span: i32,
}
type_name!(CapabilityResponse, "Dispatcher.Messages.CapabilityResponse");

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RenewCapabilityRequest {
    #[serde(rename = "LifeSpan")]
    pub life_span: i32,
}
type_name!(RenewCapabilityRequest, "Dispatcher.Messages.RenewCapabilityRequest");

impl Default for RenewCapabilityRequest {
    fn default() -> Self {
        RenewCapabilityRequest {
            life_span: DEFAULT_CAPABILITY_LIFESPAN_S,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DestroyCapabilityRequest {}
type_name!(DestroyCapabilityRequest, "Dispatcher.Messages.DestroyCapabilityRequest");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CreateEndPointRequest {
    /// Milliseconds.
    #[serde(rename = "LifeSpan")]
    pub life_span: i32,
    #[serde(rename = "CallbackHost")]
    pub callback_host: String,
    /// Read as a wide integer so that out-of-range ports get a validation message.
    #[serde(rename = "CallbackPort")]
    pub callback_port: i64,
}
type_name!(CreateEndPointRequest, "Dispatcher.Messages.CreateEndPointRequest");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CreateEndPointResponse {
    #[serde(rename = "EndPointID")]
    pub end_point_id: WireUuid,
    /// Milliseconds.
    #[serde(rename = "LifeSpan")]
    pub life_span: i32,
}
type_name!(CreateEndPointResponse, "Dispatcher.Messages.CreateEndPointResponse");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RenewEndPointRequest {
    #[serde(rename = "EndPointID")]
    pub end_point_id: WireUuid,
    /// Milliseconds.
    #[serde(rename = "LifeSpan")]
    pub life_span: i32,
}
type_name!(RenewEndPointRequest, "Dispatcher.Messages.RenewEndPointRequest");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CloseEndPointRequest {
    #[serde(rename = "EndPointID")]
    pub end_point_id: WireUuid,
}
type_name!(CloseEndPointRequest, "Dispatcher.Messages.CloseEndPointRequest");

/// Subscribe to the live event stream (docs/live.md): sent as the first
/// text frame on `/Dispatcher/events`; over plain HTTP it only checks the
/// subscription and answers the same reply.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SubscribeRequest {
    /// `objects`, `touch`, `chat`, `scripts`, `script-logs`.
    #[serde(rename = "Topics")]
    pub topics: Vec<String>,
    /// Only these objects (empty: every object of the scene).
    #[serde(rename = "ObjectIDs")]
    pub object_ids: Vec<WireUuid>,
}
type_name!(SubscribeRequest, "Dispatcher.Messages.SubscribeRequest");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SubscribeResponse {
    /// The topics subscribed, each once, in the order of [`TOPICS`].
    #[serde(rename = "Topics")]
    pub topics: Vec<String>,
    #[serde(rename = "ObjectIDs")]
    pub object_ids: Vec<WireUuid>,
    /// The scene the stream follows.
    #[serde(rename = "Scene")]
    pub scene: String,
}
type_name!(SubscribeResponse, "Dispatcher.Messages.SubscribeResponse");

/// The topics of the event stream.
pub const TOPICS: [&str; 5] = ["objects", "touch", "chat", "scripts", "script-logs"];

/// Most object ids one subscription may name.
pub const MAX_SUBSCRIBED_OBJECTS: usize = 1000;

requests! {
    SubscribeRequest => SubscribeResponse, DISPATCHER_GRANT;
    InfoRequest => InfoResponse, "region:read";
    MessageFormatRequest => MessageFormatResponse, "region:read";
    CreateCapabilityRequest => CapabilityResponse, DISPATCHER_GRANT;
    RenewCapabilityRequest => CapabilityResponse, DISPATCHER_GRANT;
    DestroyCapabilityRequest => Done, DISPATCHER_GRANT;
    CreateEndPointRequest => CreateEndPointResponse, DISPATCHER_GRANT;
    RenewEndPointRequest => CreateEndPointResponse, DISPATCHER_GRANT;
    CloseEndPointRequest => Done, DISPATCHER_GRANT;
}

#[cfg(test)]
mod tests {
    use super::*;
    use dispatcher_protocol::messages::sample_json;

    fn check<T: MessageType + Serialize + Default>(expected: &str) {
        assert_eq!(sample_json::<T>(), expected);
    }

    // The sample table of dispatcher-core.md §6.2, verbatim.
    #[test]
    fn samples_match_the_spec() {
        check::<InfoRequest>(
            r#"{"$type":"Dispatcher.Messages.InfoRequest","_Scene":"","_Domain":"","_Capability":"00000000-0000-0000-0000-000000000000","_AsyncRequest":false}"#,
        );
        check::<MessageFormatRequest>(
            r#"{"$type":"Dispatcher.Messages.MessageFormatRequest","MessageName":null,"_Scene":"","_Domain":"","_Capability":"00000000-0000-0000-0000-000000000000","_AsyncRequest":false}"#,
        );
        check::<CreateCapabilityRequest>(
            r#"{"$type":"Dispatcher.Messages.CreateCapabilityRequest","UserID":"00000000-0000-0000-0000-000000000000","HashedPasswd":"","LifeSpan":300,"FirstName":"","LastName":"","EmailAddress":"","DomainList":[],"_Scene":"","_Domain":"","_Capability":"00000000-0000-0000-0000-000000000000","_AsyncRequest":false}"#,
        );
        check::<RenewCapabilityRequest>(
            r#"{"$type":"Dispatcher.Messages.RenewCapabilityRequest","LifeSpan":300,"_Scene":"","_Domain":"","_Capability":"00000000-0000-0000-0000-000000000000","_AsyncRequest":false}"#,
        );
        check::<DestroyCapabilityRequest>(
            r#"{"$type":"Dispatcher.Messages.DestroyCapabilityRequest","_Scene":"","_Domain":"","_Capability":"00000000-0000-0000-0000-000000000000","_AsyncRequest":false}"#,
        );
        check::<CreateEndPointRequest>(
            r#"{"$type":"Dispatcher.Messages.CreateEndPointRequest","LifeSpan":0,"CallbackHost":"","CallbackPort":0,"_Scene":"","_Domain":"","_Capability":"00000000-0000-0000-0000-000000000000","_AsyncRequest":false}"#,
        );
        check::<RenewEndPointRequest>(
            r#"{"$type":"Dispatcher.Messages.RenewEndPointRequest","EndPointID":"00000000-0000-0000-0000-000000000000","LifeSpan":0,"_Scene":"","_Domain":"","_Capability":"00000000-0000-0000-0000-000000000000","_AsyncRequest":false}"#,
        );
        check::<CloseEndPointRequest>(
            r#"{"$type":"Dispatcher.Messages.CloseEndPointRequest","EndPointID":"00000000-0000-0000-0000-000000000000","_Scene":"","_Domain":"","_Capability":"00000000-0000-0000-0000-000000000000","_AsyncRequest":false}"#,
        );
    }
}
