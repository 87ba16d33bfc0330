//! The one message path for host calls: every import that acts on the region
//! becomes a protocol request with `_Scene`, `_Domain` and `_Capability` filled
//! by the host, handled by `Dispatcher::handle` with `Transport::Script`, exactly
//! as an HTTP request with the script's rights would be.

use std::net::{IpAddr, Ipv4Addr};

use dispatcher_dispatch::Transport;
use dispatcher_protocol::{Encoding, Reply, Value};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json};
use uuid::Uuid;

use crate::bindings::opensim::dispatcher::types::Error as GuestError;
use crate::error::HostError;
use crate::grants::{self, Scope};
use crate::instance::HostState;

/// Namespace of the RemoteControl messages.
pub const RC: &str = "RemoteControl.Messages.";

/// Envelope members the host owns; guest values are dropped.
const HOST_OWNED: [&str; 3] = ["_scene", "_domain", "_capability"];

/// A failure reply as the guest's error: "does not exist" texts are `not-found`.
pub fn failure_error(message: &str) -> GuestError {
    if message.starts_with("no such ") || message.starts_with("cannot find user") {
        GuestError::NotFound(message.to_owned())
    } else {
        GuestError::Failed(message.to_owned())
    }
}

/// The domain of a type name: its first dotted segment (`RemoteControl` for
/// `RemoteControl.Messages.ChatRequest`).
fn domain_of_type(type_name: &str) -> &str {
    type_name.split('.').next().unwrap_or("")
}

/// Parse a guest UUID.
pub fn parse_id(text: &str) -> Result<Uuid, HostError> {
    Uuid::try_parse(text.trim()).map_err(|_| HostError::invalid(format!("not a UUID: {text:?}")))
}

pub fn vec3(v: &crate::bindings::opensim::dispatcher::types::Vector3) -> Json {
    serde_json::json!([v.x, v.y, v.z])
}

pub fn quat(q: &crate::bindings::opensim::dispatcher::types::Quaternion) -> Json {
    serde_json::json!([q.x, q.y, q.z, q.w])
}

impl HostState {
    /// Typed call: grant, rate, dispatch; a failure reply becomes the error.
    /// Returns the reply's members (and the `_Message` text).
    pub fn call(&mut self, type_name: &str, body: Json) -> Result<(Value, String), HostError> {
        self.timed(|h| {
            let reply = h.send_checked(type_name, body)?;
            if !reply.is_success() {
                return Err(HostError::Guest(failure_error(&reply.message)));
            }
            Ok((Value::Object(reply.fields), reply.message))
        })
    }

    /// Typed call binding the reply to `T`.
    pub fn call_as<T: DeserializeOwned>(&mut self, type_name: &str, body: Json) -> Result<T, HostError> {
        self.timed(|h| {
            let (value, _) = h.call(type_name, body)?;
            dispatcher_protocol::from_value(&value).map_err(|e| HostError::failed(format!("unexpected reply: {e}")))
        })
    }

    /// Grant check, rate check, then dispatch.
    pub fn send_checked(&mut self, type_name: &str, body: Json) -> Result<Reply, HostError> {
        let grant = grants::grant_for(type_name)
            .ok_or_else(|| HostError::not_permitted(format!("{type_name} has no grant a script can hold")))?;
        self.require(grant)?;
        self.admit()?;
        self.admit_kind(type_name)?;
        let Json::Object(members) = body else {
            return Err(HostError::invalid("a request must be a JSON object"));
        };
        self.dispatch(type_name, members)
    }

    /// Fill the envelope and run the request through the dispatcher.
    fn dispatch(&self, type_name: &str, mut members: Map<String, Json>) -> Result<Reply, HostError> {
        members.retain(|k, _| !HOST_OWNED.contains(&k.to_ascii_lowercase().as_str()));
        members.insert("$type".into(), Json::String(type_name.to_owned()));
        members.insert("_Scene".into(), Json::String(self.script.info.region.clone()));
        members.insert("_Domain".into(), Json::String(domain_of_type(type_name).to_owned()));
        members.insert("_Capability".into(), Json::String(self.script.info.capability.to_string()));
        let bytes = serde_json::to_vec(&Json::Object(members)).map_err(|e| HostError::invalid(e.to_string()))?;
        if bytes.len() > self.shared.limits.max_message_bytes {
            return Err(HostError::Guest(GuestError::TooLarge));
        }
        let reply = self.shared.dispatcher.handle(&bytes, Encoding::Json, IpAddr::V4(Ipv4Addr::LOCALHOST), Transport::Script);
        Ok(reply.unwrap_or_else(Reply::queued))
    }

    /// Whether the script may address `object_id` (scope grants).
    pub fn check_scope(&mut self, object_id: Uuid) -> Result<(), HostError> {
        let info = &self.script.info;
        let allowed = match info.grants.scope() {
            Scope::Region => true,
            Scope::SelfObject => object_id == info.object_id,
            Scope::Owner => {
                object_id == info.object_id
                    || self
                        .shared
                        .scene
                        .object_owner(&info.region, object_id)
                        .is_none_or(|owner| owner == info.owner_id)
            }
        };
        if allowed {
            return Ok(());
        }
        self.script.counters.denied_calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let needed = if info.grants.scope() == Scope::SelfObject { "scope:owner" } else { "scope:region" };
        Err(HostError::not_permitted(format!("object {object_id} is out of scope; {needed} not granted")))
    }

    /// Scope-check an id given as guest text, returning it parsed.
    pub fn scoped(&mut self, object_id: &str) -> Result<Uuid, HostError> {
        let id = parse_id(object_id)?;
        self.check_scope(id)?;
        Ok(id)
    }
}
