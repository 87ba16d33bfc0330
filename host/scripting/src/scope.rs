//! Scope: which objects a script's request acts on, read from the *bound*
//! request — the very value the handler will act on — never from raw members.
//!
//! Every request a script sends (typed import or `messages.send`) is decoded
//! once with the protocol's own decoder, bound to its typed request with the
//! protocol's own rules (member names without regard to case, the last of
//! repeated members wins, `$type` anywhere), checked here, and then handed to
//! the dispatcher re-encoded from the typed value: the handler binds exactly
//! the members that were checked, whatever the guest's text repeated or hid.
//!
//! Typed imports build the typed request themselves and the same [`Reach`]
//! of that value is checked (call.rs): one scope rule per type for both paths.
//!
//! Each request type says what it reaches by implementing [`Reach`]; the
//! [`scope_table!`] lists every type a script may send, and a type missing
//! from it is refused ("no scope rule"), so a new message cannot become
//! sendable without saying how its scope is checked (a test keeps this table
//! equal to the request types whose associated grant a script can hold).

use dispatcher_messages::dispatcher::{InfoRequest, MessageFormatRequest};
use dispatcher_messages::remote_control::{asset, avatar, chat, event, object, part, region, terrain};
use dispatcher_messages::scripting as sc;
use dispatcher_protocol::{DeError, DecodedRequest, MessageType, Request, Value, WireUuid};
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use crate::grants::Scope;
use crate::scene::SceneHooks;
use crate::script::ScriptInfo;

/// What a request acts on, as far as scope is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reached {
    /// No existing object of the region: chat, sun, terrain, assets by id,
    /// avatars, new objects (an id given for a new object that already exists
    /// is refused by the scene as a duplicate).
    NoObject,
    /// Exactly these objects, as bound (nil ids included: they are checked
    /// like any other id, and the scope refuses them unless it is the region).
    Objects(Vec<Uuid>),
    /// Every object of the region: needs `scope:region`.
    AllObjects,
    /// Lists objects: the reply's `Objects` is cut down to the scope.
    ListsObjects,
    /// A `Scripting` management call: the Scripting handlers bound it by the
    /// calling script's own grants and scope (`domain.rs`); the target object
    /// (when the request names one) is also checked here.
    Scripts(Option<Uuid>),
}

/// A typed request says what it reaches.
pub trait Reach {
    fn reach(&self) -> Reached;
}

fn one(id: WireUuid) -> Reached {
    Reached::Objects(vec![id.0])
}

fn many<'a>(ids: impl IntoIterator<Item = &'a WireUuid>) -> Reached {
    Reached::Objects(ids.into_iter().map(|i| i.0).collect())
}

macro_rules! reaches {
    ($how:expr => $($ty:ty),+ $(,)?) => {
        $(impl Reach for $ty {
            fn reach(&self) -> Reached {
                #[allow(clippy::redundant_closure_call, reason = "the macro applies each rule closure to the request in place")]
                ($how)(self)
            }
        })+
    };
}

reaches!(|_: &_| Reached::NoObject =>
    InfoRequest, MessageFormatRequest,
    asset::TestAssetRequest, asset::GetAssetRequest, asset::AddAssetRequest, asset::AddAssetAliasRequest,
    asset::GetDependentAssetsRequest,
    avatar::GetAvatarAppearanceRequest, avatar::SetAvatarAppearanceRequest,
    chat::ChatRequest,
    region::GetSunParametersRequest, region::SetSunParametersRequest,
    terrain::GetTerrainHeightRequest, terrain::SetTerrainHeightRequest,
    object::CreateObjectRequest, object::CreateBulkObjectsRequest,
);

reaches!(|_: &_| Reached::ListsObjects => object::FindObjectsRequest);
reaches!(|_: &_| Reached::AllObjects => object::DeleteAllObjectsRequest);

reaches!(|r: &object::GetObjectDataRequest| one(r.object_id) => object::GetObjectDataRequest);
reaches!(|r: &object::GetObjectPartsRequest| one(r.object_id) => object::GetObjectPartsRequest);
reaches!(|r: &object::GetObjectInventoryRequest| one(r.object_id) => object::GetObjectInventoryRequest);
reaches!(|r: &object::GetObjectPositionRequest| one(r.object_id) => object::GetObjectPositionRequest);
reaches!(|r: &object::GetObjectRotationRequest| one(r.object_id) => object::GetObjectRotationRequest);
reaches!(|r: &object::DeleteObjectRequest| one(r.object_id) => object::DeleteObjectRequest);
reaches!(|r: &object::SetObjectPositionRequest| one(r.object_id) => object::SetObjectPositionRequest);
reaches!(|r: &object::SetObjectRotationRequest| one(r.object_id) => object::SetObjectRotationRequest);
reaches!(|r: &object::MessageObjectRequest| one(r.object_id) => object::MessageObjectRequest);
reaches!(|r: &object::BulkDynamicsRequest| many(r.updates.iter().map(|u| &u.object_id)) => object::BulkDynamicsRequest);
reaches!(|r: &object::DeleteBulkObjectsRequest| many(&r.object_ids) => object::DeleteBulkObjectsRequest);
reaches!(|r: &part::SetPartPositionRequest| one(r.object_id) => part::SetPartPositionRequest);
reaches!(|r: &part::SetPartRotationRequest| one(r.object_id) => part::SetPartRotationRequest);
reaches!(|r: &part::SetPartScaleRequest| one(r.object_id) => part::SetPartScaleRequest);
reaches!(|r: &part::SetPartColorRequest| one(r.object_id) => part::SetPartColorRequest);
reaches!(|r: &event::TouchObjectRequest| one(r.object_id) => event::TouchObjectRequest);
reaches!(|r: &event::RegisterTouchCallbackRequest| one(r.object_id) => event::RegisterTouchCallbackRequest);
reaches!(|r: &event::UnregisterTouchCallbackRequest| one(r.object_id) => event::UnregisterTouchCallbackRequest);
reaches!(|r: &event::RegisterUpdatedCallbackRequest| many(&r.object_ids) => event::RegisterUpdatedCallbackRequest);
reaches!(|r: &event::UnregisterUpdatedCallbackRequest| many(&r.object_ids) => event::UnregisterUpdatedCallbackRequest);
reaches!(|r: &asset::GetAssetFromObjectRequest| one(r.object_id) => asset::GetAssetFromObjectRequest);

reaches!(|r: &sc::UploadScriptRequest| Reached::Scripts(Some(r.object_id.0)) => sc::UploadScriptRequest);
reaches!(|r: &sc::ListScriptsRequest| Reached::Scripts((!r.object_id.is_nil()).then_some(r.object_id.0)) => sc::ListScriptsRequest);
reaches!(|_: &_| Reached::Scripts(None) =>
    sc::GetScriptStatusRequest, sc::StartScriptRequest, sc::StopScriptRequest, sc::ResetScriptRequest,
    sc::RemoveScriptRequest, sc::GetScriptLogRequest, sc::UpdateScriptRequest,
);

/// A request bound once: what it reaches and its members re-encoded from the
/// typed value (what the handler will bind).
#[derive(Debug)]
pub struct Bound {
    pub reached: Reached,
    pub members: Vec<(String, Value)>,
}

fn bind_one<T: DeserializeOwned + Serialize + Reach>(request: &DecodedRequest) -> Result<Bound, DeError> {
    let typed: T = request.bind()?;
    let members = match dispatcher_protocol::to_value(&typed)? {
        Value::Object(members) => members,
        other => return Err(DeError(format!("{} did not encode as an object but {}", request.type_name, other.kind()))),
    };
    Ok(Bound {
        reached: typed.reach(),
        members,
    })
}

/// The scope table: every request type a script may send. A request type
/// whose grant a script can hold but that is missing here fails
/// `scripting_every_grantable_request_type_has_a_scope_rule` (tests/integration).
macro_rules! scope_table {
    ($($ty:ty),+ $(,)?) => {
        /// Type names of the table with their associated grants, in order.
        pub const SCOPED_TYPES: &[(&str, &str)] = &[$((<$ty as MessageType>::TYPE_NAME, <$ty as Request>::GRANT)),+];

        /// Bind a decoded request to its typed form; `None` for a type with no
        /// scope rule (never sent).
        pub fn bind(request: &DecodedRequest) -> Option<Result<Bound, DeError>> {
            $(if request.type_name == <$ty as MessageType>::TYPE_NAME {
                return Some(bind_one::<$ty>(request));
            })+
            None
        }
    };
}

scope_table!(
    object::FindObjectsRequest,
    object::GetObjectDataRequest,
    object::GetObjectPartsRequest,
    object::GetObjectInventoryRequest,
    object::GetObjectPositionRequest,
    object::GetObjectRotationRequest,
    event::RegisterTouchCallbackRequest,
    event::UnregisterTouchCallbackRequest,
    event::RegisterUpdatedCallbackRequest,
    event::UnregisterUpdatedCallbackRequest,
    object::SetObjectPositionRequest,
    object::SetObjectRotationRequest,
    object::BulkDynamicsRequest,
    object::MessageObjectRequest,
    event::TouchObjectRequest,
    part::SetPartPositionRequest,
    part::SetPartRotationRequest,
    part::SetPartScaleRequest,
    part::SetPartColorRequest,
    object::CreateObjectRequest,
    object::CreateBulkObjectsRequest,
    object::DeleteObjectRequest,
    object::DeleteBulkObjectsRequest,
    object::DeleteAllObjectsRequest,
    asset::TestAssetRequest,
    asset::GetAssetRequest,
    asset::GetDependentAssetsRequest,
    asset::AddAssetRequest,
    asset::AddAssetAliasRequest,
    asset::GetAssetFromObjectRequest,
    avatar::GetAvatarAppearanceRequest,
    avatar::SetAvatarAppearanceRequest,
    chat::ChatRequest,
    terrain::GetTerrainHeightRequest,
    terrain::SetTerrainHeightRequest,
    region::GetSunParametersRequest,
    region::SetSunParametersRequest,
    InfoRequest,
    MessageFormatRequest,
    sc::UploadScriptRequest,
    sc::UpdateScriptRequest,
    sc::ListScriptsRequest,
    sc::GetScriptStatusRequest,
    sc::StartScriptRequest,
    sc::StopScriptRequest,
    sc::ResetScriptRequest,
    sc::RemoveScriptRequest,
    sc::GetScriptLogRequest,
);

/// Whether a script may address `object_id`: its own object under
/// `scope:self`; objects whose owner is the script's owner under
/// `scope:owner` (an id the region does not know reaches nothing, and the
/// handler answers "no such object"); anything under `scope:region`.
pub fn in_scope(scene: &dyn SceneHooks, script: &ScriptInfo, object_id: Uuid) -> bool {
    match script.grants.scope() {
        Scope::Region => true,
        Scope::SelfObject => object_id == script.object_id,
        Scope::Owner => {
            object_id == script.object_id
                || scene
                    .object_owner(&script.region, object_id)
                    .is_none_or(|owner| owner == script.owner_id)
        }
    }
}

/// The grant a wider scope needs, for refusal texts.
pub fn wider_scope(scope: Scope) -> &'static str {
    if scope == Scope::SelfObject {
        "scope:owner"
    } else {
        "scope:region"
    }
}

#[cfg(test)]
mod tests {
    use dispatcher_protocol::{decode_request, DecodeLimits, Encoding};

    use super::*;
    use crate::grants::{self, DISPATCHER_GRANT};

    const A: &str = "a0000000-0000-4000-8000-00000000000a";
    const B: &str = "b0000000-0000-4000-8000-00000000000b";

    fn decoded(text: &str) -> DecodedRequest {
        decode_request(text.as_bytes(), Encoding::Json, &DecodeLimits::default()).expect("decodes")
    }

    fn reached(text: &str) -> Reached {
        bind(&decoded(text)).expect("has a rule").expect("binds").reached
    }

    fn ids(list: &[&str]) -> Reached {
        Reached::Objects(list.iter().map(|s| Uuid::parse_str(s).expect("uuid")).collect())
    }

    /// Every row's grant is one a script can hold (a type whose grant is
    /// `dispatcher` must never be sendable), one row per type. That the rows
    /// are exactly the request types with such grants is checked against the
    /// real host's registry in tests/integration (scripting.rs).
    #[test]
    fn every_scoped_type_has_a_grantable_grant_and_one_row() {
        for (t, g) in SCOPED_TYPES {
            assert_ne!(*g, DISPATCHER_GRANT, "{t}");
            assert_ne!(grants::grant_bit(g), 0, "{t}: {g} is not grantable");
        }
        let scoped: std::collections::BTreeSet<&str> = SCOPED_TYPES.iter().map(|(t, _)| *t).collect();
        assert_eq!(scoped.len(), SCOPED_TYPES.len(), "one row per type");
    }

    #[test]
    fn a_type_without_rule_is_not_bound() {
        assert!(bind(&decoded(r#"{"$type":"Dispatcher.Messages.CreateCapabilityRequest"}"#)).is_none());
        assert!(bind(&decoded(r#"{"$type":"Nope.Messages.X"}"#)).is_none());
    }

    /// The checked id is the one the handler binds: the last of repeated
    /// members, whatever their case, wherever `$type` stands.
    #[test]
    fn repeated_members_bind_once_last_wins() {
        for kind in [
            "DeleteObjectRequest",
            "SetObjectPositionRequest",
            "TouchObjectRequest",
            "GetObjectDataRequest",
            "MessageObjectRequest",
            "GetAssetFromObjectRequest",
        ] {
            let ns = "RemoteControl.Messages.";
            let text = format!(r#"{{"ObjectID":"{A}","$type":"{ns}{kind}","objectid":"{B}"}}"#);
            assert_eq!(reached(&text), ids(&[B]), "{kind}");
            let text = format!(r#"{{"$type":"{ns}{kind}","OBJECTID":"{B}","ObjectId":"{A}"}}"#);
            assert_eq!(reached(&text), ids(&[A]), "{kind}");
        }
        let text = format!(r#"{{"$type":"RemoteControl.Messages.SetPartColorRequest","ObjectID":"{A}","LinkNum":0,"objectID":"{B}"}}"#);
        assert_eq!(reached(&text), ids(&[B]));
    }

    #[test]
    fn lists_and_bulk_entries_are_all_checked() {
        let text = format!(
            r#"{{"$type":"RemoteControl.Messages.BulkDynamicsRequest","Updates":[{{"ObjectID":"{A}","objectid":"{B}"}},{{"$type":"X","objectID":"{A}"}}]}}"#
        );
        assert_eq!(reached(&text), ids(&[B, A]));
        let text =
            format!(r#"{{"$type":"RemoteControl.Messages.DeleteBulkObjectsRequest","ObjectIDs":["{A}"],"objectids":["{A}","{B}"]}}"#);
        assert_eq!(reached(&text), ids(&[A, B]));
        let text = format!(r#"{{"$type":"RemoteControl.Messages.RegisterUpdatedCallbackRequest","ObjectIDs":["{B}"]}}"#);
        assert_eq!(reached(&text), ids(&[B]));
    }

    #[test]
    fn absent_and_empty_ids_are_nil_and_checked() {
        assert_eq!(
            reached(r#"{"$type":"RemoteControl.Messages.DeleteObjectRequest"}"#),
            Reached::Objects(vec![Uuid::nil()])
        );
        assert_eq!(
            reached(r#"{"$type":"RemoteControl.Messages.DeleteObjectRequest","ObjectID":""}"#),
            Reached::Objects(vec![Uuid::nil()])
        );
        assert_eq!(reached(r#"{"$type":"RemoteControl.Messages.DeleteAllObjectsRequest"}"#), Reached::AllObjects);
        assert_eq!(reached(r#"{"$type":"RemoteControl.Messages.FindObjectsRequest"}"#), Reached::ListsObjects);
        assert_eq!(reached(r#"{"$type":"Scripting.Messages.ListScriptsRequest"}"#), Reached::Scripts(None));
    }

    #[test]
    fn the_reencoded_request_binds_to_the_same_targets() {
        // What the handler binds (the re-encoded members) reaches exactly what was checked.
        let texts = [
            format!(r#"{{"$type":"RemoteControl.Messages.DeleteObjectRequest","ObjectID":"{A}","objectid":"{B}"}}"#),
            format!(
                r#"{{"$type":"RemoteControl.Messages.BulkDynamicsRequest","Updates":[{{"ObjectID":"{A}","objectid":"{B}","Position":[1,2,3]}}]}}"#
            ),
            format!(r#"{{"$type":"RemoteControl.Messages.DeleteBulkObjectsRequest","ObjectIDs":["{A}"],"objectids":["{B}"]}}"#),
            format!(r#"{{"$type":"RemoteControl.Messages.SetPartColorRequest","ObjectID":"{A}","objectid":"{B}","Color":[1,0,0]}}"#),
            format!(r#"{{"$type":"RemoteControl.Messages.TouchObjectRequest","ObjectID":"{A}","objectid":"{B}"}}"#),
            format!(r#"{{"$type":"Scripting.Messages.UploadScriptRequest","ObjectID":"{A}","objectid":"{B}","Grants":["chat"]}}"#),
        ];
        for text in texts {
            let first = bind(&decoded(&text)).expect("rule").expect("binds");
            let mut root = vec![("$type".to_owned(), Value::String(decoded(&text).type_name))];
            root.extend(first.members.clone());
            let again = DecodedRequest {
                type_name: decoded(&text).type_name,
                envelope: Default::default(),
                root: Value::Object(root),
                encoding: Encoding::Json,
            };
            let second = bind(&again).expect("rule").expect("binds");
            assert_eq!(first.reached, second.reached, "{text}");
            assert_eq!(first.members, second.members, "{text}");
        }
    }
}
