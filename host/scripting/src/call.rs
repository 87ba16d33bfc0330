//! The message path of host calls. Every import that acts on the region is a
//! protocol request handled by the dispatcher with the script's own internal
//! capability and `Transport::Script`, exactly as a client with the script's
//! rights would be handled; grants, rates and scope are checked on the typed
//! request value (scope.rs's [`Reach`]), the very value the handler acts on.
//!
//! - A typed import builds its request struct and goes through
//!   [`HostState::call`]: `Request::GRANT` (a bit, see grants.rs), the call
//!   rates, the scope of the typed value, then `Dispatcher::call::<M>`: no
//!   JSON is built or parsed; the typed reply is turned into the WIT record by
//!   the import, a failure's kind into the guest's error.
//! - `messages.send` keeps the byte entry ([`HostState::send_request`]):
//!   decode once, the grant the registry holds for the type, the rates, bind
//!   to the typed request, the same scope check on the bound value, and
//!   `Dispatcher::handle_decoded` with the members re-encoded from that value,
//!   so no repeated or case-varied member can make the check and the action
//!   disagree.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use dispatcher_dispatch::{Caller, Failure, FailureKind, HandlerError, Transport};
use dispatcher_protocol::{decode_request, DecodedRequest, Encoding, Envelope, Reply, Request, Value};
use uuid::Uuid;

use crate::bindings::opensim::dispatcher::types::Error as GuestError;
use crate::error::HostError;
use crate::grants::{GrantBit, Scope};
use crate::instance::HostState;
use crate::scope::{self, Reach, Reached};

/// A failure of the pipeline or the handler as the guest's error, by the
/// kind set where it was raised; the text is the protocol's `_Message`.
pub fn guest_error(failure: Failure) -> HostError {
    let text = failure.message;
    HostError::Guest(match failure.kind {
        FailureKind::NotFound => GuestError::NotFound(text),
        FailureKind::NotPermitted => GuestError::NotPermitted(text),
        FailureKind::Invalid => GuestError::InvalidArgument(text),
        FailureKind::Limited => GuestError::TooLarge,
        FailureKind::Failed | FailureKind::Internal => GuestError::Failed(text),
    })
}

/// The domain of a type name: its first dotted segment (`RemoteControl` for
/// `RemoteControl.Messages.ChatRequest`).
fn domain_of_type(type_name: &str) -> &str {
    type_name.split('.').next().unwrap_or("")
}

/// The members of a request to an extension, without the envelope members
/// (the host sets those from the script).
fn extension_members(decoded: &DecodedRequest) -> Vec<(String, Value)> {
    let Value::Object(members) = &decoded.root else {
        return Vec::new();
    };
    members
        .iter()
        .filter(|(k, _)| !(k.starts_with('_') || k.starts_with('$')))
        .cloned()
        .collect()
}

/// Parse a guest UUID.
pub fn parse_id(text: &str) -> Result<Uuid, HostError> {
    Uuid::try_parse(text.trim()).map_err(|_| HostError::invalid(format!("not a UUID: {text:?}")))
}

impl HostState {
    /// A typed import's request: its grant, the call rates, the scope of the
    /// typed value, then `Dispatcher::call` (no encoding); a failure becomes
    /// the guest's error by its kind.
    pub fn call<M: Request + Reach>(&mut self, request: M) -> Result<M::Reply, HostError> {
        self.call_with(|| Ok(request))
    }

    /// [`HostState::call`] with the request built (its ids parsed) only
    /// once the grant is known to be held: a refused call costs a bit test.
    pub fn call_with<M: Request + Reach>(&mut self, build: impl FnOnce() -> Result<M, HostError>) -> Result<M::Reply, HostError> {
        if !self.acting.grants.has_bit(M::GRANT_BIT) {
            return Err(self.deny([M::GRANT, " not granted"].concat()));
        }
        let request = build()?;
        // One clock read for the rates and the host time of the call.
        let now = Instant::now();
        self.admit_at(now)?;
        self.admit_kind_at(M::TYPE_NAME, now)?;
        self.check_reach(&request.reach())?;
        self.timed_from(now, |h| {
            let caller = Caller {
                scene: h.acting.region.clone(),
                capability: h.acting.capability,
                source: IpAddr::V4(Ipv4Addr::LOCALHOST),
                transport: Transport::Script,
            };
            let dispatcher = &h.shared.dispatcher;
            // An extension's guest runs on the reactor worker that read the
            // HTTP request: a handler that commits is announced as blocking
            // work there, as HTTP itself does. Scripts run on runner threads.
            if h.ext.is_some() && dispatcher.commits(M::TYPE_NAME) {
                crate::reactor::off_reactor(|| dispatcher.call::<M>(caller, request))
            } else {
                dispatcher.call::<M>(caller, request)
            }
            .map_err(guest_error)
        })
    }

    /// The one scope check of both paths, on what a typed request reaches.
    /// `Ok(true)`: the request lists objects and its reply must be cut down
    /// to the scope ([`HostState::allows`]).
    pub fn check_reach(&mut self, reached: &Reached) -> Result<bool, HostError> {
        match reached {
            Reached::NoObject | Reached::Scripts(None) => Ok(false),
            Reached::Objects(ids) => {
                if let [id] = ids.as_slice() {
                    self.check_scope(*id)?;
                } else {
                    let mut seen = HashSet::new();
                    for id in ids {
                        if seen.insert(*id) {
                            self.check_scope(*id)?;
                        }
                    }
                }
                Ok(false)
            }
            Reached::Scripts(Some(id)) => {
                self.check_scope(*id)?;
                Ok(false)
            }
            Reached::AllObjects => {
                if self.acting.grants.scope() != Scope::Region {
                    return Err(self.deny("scope:region not granted".to_owned()));
                }
                Ok(false)
            }
            Reached::ListsObjects => Ok(self.acting.grants.scope() != Scope::Region),
        }
    }

    /// `messages.send`'s request: decode once with the protocol's decoder,
    /// the grant the registry holds for the type and the rates, bind to the
    /// typed request, check the scope on the bound value, and dispatch the
    /// members re-encoded from that value, so the handler acts on exactly
    /// what was checked (scope.rs).
    pub fn send_request(&mut self, bytes: &[u8]) -> Result<Reply, HostError> {
        if bytes.len() > self.shared.limits.max_message_bytes {
            return Err(HostError::Guest(GuestError::TooLarge));
        }
        let dispatcher = self.shared.dispatcher.clone();
        let decoded = decode_request(bytes, Encoding::Json, dispatcher.limits()).map_err(|e| HostError::invalid(e.to_string()))?;
        let type_name = decoded.type_name.clone();
        let grant = dispatcher
            .registry()
            .grant(&type_name)
            .ok_or_else(|| HostError::not_permitted(format!("{type_name} has no grant a script can hold")))?;
        self.require(grant)?;
        self.admit()?;
        self.admit_kind(&type_name)?;
        let (members, filter) = if grant.starts_with(crate::grants::EXT_PREFIX) {
            // An extension's request: the extension runs it with this
            // script's rights (its capability, grants and scope) intersected
            // with its own grants, so nothing is reached here.
            (extension_members(&decoded), false)
        } else {
            let bound = match scope::bind(&decoded) {
                None => return Err(HostError::not_permitted(format!("{type_name} has no scope rule"))),
                // The handler would refuse the same members with the same text.
                Some(Err(e)) => return Ok(HandlerError::from(e).into_reply()),
                Some(Ok(bound)) => bound,
            };
            (bound.members, self.check_reach(&bound.reached)?)
        };
        let mut root = Vec::with_capacity(members.len() + 5);
        root.push(("$type".to_owned(), Value::String(type_name.clone())));
        root.extend(members);
        let envelope = Envelope {
            scene: self.acting.region.clone(),
            domain: domain_of_type(&type_name).to_owned(),
            capability: self.acting.capability.into(),
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
        let commits = self.ext.is_some() && dispatcher.commits(&request.type_name);
        let handle = || dispatcher.handle_decoded(request, IpAddr::V4(Ipv4Addr::LOCALHOST), Transport::Script);
        // As for typed calls: an extension's committing request off the reactor.
        let reply = if commits { crate::reactor::off_reactor(handle) } else { handle() };
        let mut reply = reply.unwrap_or_else(Reply::queued);
        if filter {
            self.filter_listed(&mut reply);
        }
        Ok(reply)
    }

    /// Cut a listing reply's `Objects` (as `messages.send` returns it) down
    /// to the objects in scope.
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
    pub fn allows(&self, object_id: Uuid) -> bool {
        scope::in_scope(&*self.shared.scene, &self.acting, object_id)
    }

    /// A refusal, counted.
    pub(crate) fn deny(&self, text: String) -> HostError {
        self.script.counters.denied_calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        HostError::not_permitted(text)
    }

    /// Whether the script may address `object_id` (scope grants).
    fn check_scope(&mut self, object_id: Uuid) -> Result<(), HostError> {
        if self.allows(object_id) {
            return Ok(());
        }
        let needed = scope::wider_scope(self.acting.grants.scope());
        Err(self.deny(format!("object {object_id} is out of scope; {needed} not granted")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(kind: FailureKind) -> Failure {
        Failure {
            kind,
            message: "no such object".to_owned(),
        }
    }

    /// The guest's error follows the kind, never the text: the same text
    /// (which the old prefix rule read as not-found) under each kind.
    #[test]
    fn each_failure_kind_has_its_guest_error() {
        let text = || "no such object".to_owned();
        let cases = [
            (FailureKind::NotFound, GuestError::NotFound(text())),
            (FailureKind::NotPermitted, GuestError::NotPermitted(text())),
            (FailureKind::Invalid, GuestError::InvalidArgument(text())),
            (FailureKind::Limited, GuestError::TooLarge),
            (FailureKind::Failed, GuestError::Failed(text())),
            (FailureKind::Internal, GuestError::Failed(text())),
        ];
        for (kind, want) in cases {
            match guest_error(failure(kind)) {
                HostError::Guest(got) => assert_eq!(format!("{got:?}"), format!("{want:?}")),
                HostError::Fault(f) => panic!("{f:?}"),
            }
        }
    }
}
