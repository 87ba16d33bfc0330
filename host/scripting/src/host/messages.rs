//! `messages`: any protocol request as JSON text, through the same grant and
//! scope checks as the typed imports.

use dispatcher_protocol::{split_type_name, Encoding};
use serde_json::{Map, Value as Json};

use crate::bindings::opensim::dispatcher::messages::Host;
use crate::bindings::opensim::dispatcher::types::Error as GuestError;
use crate::call::parse_id;
use crate::error::HostError;
use crate::grants::Scope;
use crate::instance::HostState;

/// A member by name without regard to case (the protocol's own rule).
fn member<'a>(members: &'a Map<String, Json>, name: &str) -> Option<&'a Json> {
    members.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

/// Every object id the request addresses: `ObjectID`, `ObjectIDs`, and the
/// `ObjectID` of each `Updates` entry.
fn addressed_ids(members: &Map<String, Json>) -> Vec<String> {
    let mut ids = Vec::new();
    if let Some(Json::String(id)) = member(members, "ObjectID") {
        ids.push(id.clone());
    }
    if let Some(Json::Array(list)) = member(members, "ObjectIDs") {
        ids.extend(list.iter().filter_map(|v| v.as_str().map(str::to_owned)));
    }
    if let Some(Json::Array(updates)) = member(members, "Updates") {
        for u in updates.iter().filter_map(Json::as_object) {
            if let Some(Json::String(id)) = member(u, "ObjectID") {
                ids.push(id.clone());
            }
        }
    }
    ids
}

impl Host for HostState {
    fn send(&mut self, request: String) -> Result<String, HostError> {
        self.timed(|h| {
            if request.len() > h.shared.limits.max_message_bytes {
                return Err(HostError::Guest(GuestError::TooLarge));
            }
            let json: Json = serde_json::from_str(&request).map_err(|e| HostError::invalid(format!("not JSON: {e}")))?;
            let Json::Object(members) = json else {
                return Err(HostError::invalid("a request must be a JSON object"));
            };
            let Some(Json::String(raw_type)) = members.get("$type") else {
                return Err(HostError::invalid("the request has no \"$type\" string"));
            };
            let type_name = split_type_name(raw_type).to_owned();
            if let Some(grant) = crate::grants::grant_for(&type_name) {
                h.require(grant)?;
            }
            if type_name.ends_with(".DeleteAllObjectsRequest") && h.script.info.grants.scope() != Scope::Region {
                return Err(HostError::not_permitted("scope:region not granted"));
            }
            for id in addressed_ids(&members) {
                // Unparsable ids read as zero on the wire: nothing to protect.
                if let Ok(id) = parse_id(&id) {
                    h.check_scope(id)?;
                }
            }
            let reply = h.send_checked(&type_name, Json::Object(members))?;
            let text = String::from_utf8_lossy(&reply.encode(Encoding::Json)).into_owned();
            if text.len() > h.shared.limits.max_message_bytes {
                return Err(HostError::Guest(GuestError::TooLarge));
            }
            Ok(text)
        })
    }
}
