//! The one message path for host calls: every import that acts on the region
//! becomes a protocol request with `_Scene`, `_Domain` and `_Capability` filled
//! by the host, handled by the dispatcher with `Transport::Script`, exactly as
//! an HTTP request with the script's rights would be. The request is decoded
//! once and bound to its typed form; grants and scope are checked on that
//! bound value and the handler receives it re-encoded (see `scope.rs`), so no
//! repeated or case-varied member can make the check and the action disagree.

use std::net::{IpAddr, Ipv4Addr};

use std::collections::HashSet;

use dispatcher_dispatch::{HandlerError, Transport};
use dispatcher_protocol::{decode_request, DecodedRequest, Encoding, Envelope, Reply, Value};
use serde::de::DeserializeOwned;
use serde_json::Value as Json;
use uuid::Uuid;

use crate::bindings::opensim::dispatcher::types::Error as GuestError;
use crate::error::HostError;
use crate::grants::{self, Scope};
use crate::instance::HostState;
use crate::scope::{self, Reached};

/// Namespace of the RemoteControl messages.
pub const RC: &str = "RemoteControl.Messages.";

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

    /// A typed import's request: `body` holds the members, the type is ours.
    pub fn send_checked(&mut self, type_name: &str, body: Json) -> Result<Reply, HostError> {
        let Json::Object(mut members) = body else {
            return Err(HostError::invalid("a request must be a JSON object"));
        };
        members.insert("$type".into(), Json::String(type_name.to_owned()));
        let bytes = serde_json::to_vec(&Json::Object(members)).map_err(|e| HostError::invalid(e.to_string()))?;
        self.send_request(&bytes)
    }

    /// The one path of every script request (typed import or
    /// `messages.send`): decode once with the protocol's decoder, grant and
    /// rate checks, bind to the typed request, check the scope on the bound
    /// value, and dispatch the members re-encoded from that value, so the
    /// handler acts on exactly what was checked (scope.rs).
    pub fn send_request(&mut self, bytes: &[u8]) -> Result<Reply, HostError> {
        if bytes.len() > self.shared.limits.max_message_bytes {
            return Err(HostError::Guest(GuestError::TooLarge));
        }
        let dispatcher = self.shared.dispatcher.clone();
        let decoded = decode_request(bytes, Encoding::Json, dispatcher.limits()).map_err(|e| HostError::invalid(e.to_string()))?;
        let type_name = decoded.type_name.clone();
        let grant = grants::grant_for(&type_name)
            .ok_or_else(|| HostError::not_permitted(format!("{type_name} has no grant a script can hold")))?;
        self.require(grant)?;
        self.admit()?;
        self.admit_kind(&type_name)?;
        let bound = match scope::bind(&decoded) {
            None => return Err(HostError::not_permitted(format!("{type_name} has no scope rule"))),
            // The handler would refuse the same members with the same text.
            Some(Err(e)) => return Ok(HandlerError::from(e).into_reply()),
            Some(Ok(bound)) => bound,
        };
        let filter = match &bound.reached {
            Reached::NoObject | Reached::Scripts(None) => false,
            Reached::Objects(ids) => {
                let mut seen = HashSet::new();
                for id in ids {
                    if seen.insert(*id) {
                        self.check_scope(*id)?;
                    }
                }
                false
            }
            Reached::Scripts(Some(id)) => {
                self.check_scope(*id)?;
                false
            }
            Reached::AllObjects => {
                if self.script.info.grants.scope() != Scope::Region {
                    return Err(self.deny("scope:region not granted".to_owned()));
                }
                false
            }
            Reached::ListsObjects => self.script.info.grants.scope() != Scope::Region,
        };
        let mut root = Vec::with_capacity(bound.members.len() + 5);
        root.push(("$type".to_owned(), Value::String(type_name.clone())));
        root.extend(bound.members);
        let envelope = Envelope {
            scene: self.script.info.region.clone(),
            domain: domain_of_type(&type_name).to_owned(),
            capability: self.script.info.capability.into(),
            async_request: decoded.envelope.async_request,
        };
        for (k, v) in [
            ("_Scene", Value::String(envelope.scene.clone())),
            ("_Domain", Value::String(envelope.domain.clone())),
            ("_Capability", Value::String(envelope.capability.to_string())),
        ] {
            root.push((k.to_owned(), v));
        }
        let request = DecodedRequest {
            type_name,
            envelope,
            root: Value::Object(root),
            encoding: Encoding::Json,
        };
        let reply = dispatcher.handle_decoded(request, IpAddr::V4(Ipv4Addr::LOCALHOST), Transport::Script);
        let mut reply = reply.unwrap_or_else(Reply::queued);
        if filter {
            self.filter_listed(&mut reply);
        }
        Ok(reply)
    }

    /// Cut a listing reply's `Objects` down to the objects in scope.
    fn filter_listed(&self, reply: &mut Reply) {
        for (name, value) in &mut reply.fields {
            if !name.eq_ignore_ascii_case("Objects") {
                continue;
            }
            if let Value::Array(items) = value {
                items.retain(|item| match item {
                    Value::String(text) => Uuid::try_parse(text).is_ok_and(|id| self.allows(id)),
                    _ => false,
                });
            }
        }
    }

    /// Whether the script's scope reaches `object_id`.
    fn allows(&self, object_id: Uuid) -> bool {
        scope::in_scope(&*self.shared.scene, &self.script.info, object_id)
    }

    /// A refusal, counted.
    fn deny(&self, text: String) -> HostError {
        self.script.counters.denied_calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        HostError::not_permitted(text)
    }

    /// Whether the script may address `object_id` (scope grants).
    pub fn check_scope(&mut self, object_id: Uuid) -> Result<(), HostError> {
        if self.allows(object_id) {
            return Ok(());
        }
        let needed = scope::wider_scope(self.script.info.grants.scope());
        Err(self.deny(format!("object {object_id} is out of scope; {needed} not granted")))
    }

    /// Scope-check an id given as guest text, returning it parsed.
    pub fn scoped(&mut self, object_id: &str) -> Result<Uuid, HostError> {
        let id = parse_id(object_id)?;
        self.check_scope(id)?;
        Ok(id)
    }
}
