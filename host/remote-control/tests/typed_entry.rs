//! The RemoteControl handlers through the typed entry (`Dispatcher::call`):
//! the typed reply encodes to exactly the bytes the byte entry sends, and
//! failures carry the kind set where they are raised, with the byte entry's
//! `_Message` text.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use dispatcher_dispatch::endpoints::NullSink;
use dispatcher_dispatch::{Account, Caller, Directory, DirectoryError, Dispatcher, DispatcherConfig, FailureKind, SceneInfo, Transport};
use dispatcher_protocol::{DecodeLimits, Encoding, ReplyBody, Request, WireUuid};
use dispatcher_remote_control::messages::asset::GetAssetRequest;
use dispatcher_remote_control::messages::object::{
    FindObjectsRequest, GetObjectDataRequest, GetObjectPositionRequest, GetObjectRotationRequest,
};
use dispatcher_remote_control::messages::part::SetPartScaleRequest;
use dispatcher_remote_control::messages::wire::WireVec3;
use dispatcher_remote_control::RemoteControl;
use dispatcher_scene::{RezParams, SceneLimits, Uuid, Vector3};
use dispatcher_store::{NewAccount, NewRegion, Store};

const REGION: &str = "Typed Region";

struct NoDirectory;

impl Directory for NoDirectory {
    fn scenes(&self) -> Result<Vec<SceneInfo>, DirectoryError> {
        Ok(Vec::new())
    }
    fn account_by_id(&self, _: Uuid) -> Result<Option<Account>, DirectoryError> {
        Ok(None)
    }
    fn account_by_name(&self, _: &str, _: &str) -> Result<Option<Account>, DirectoryError> {
        Ok(None)
    }
    fn account_by_email(&self, _: &str) -> Result<Option<Account>, DirectoryError> {
        Ok(None)
    }
}

/// A typed call's reply as JSON text, or its failure's kind and text.
type Outcome = Result<String, (FailureKind, String)>;

struct World {
    dispatcher: Dispatcher,
    rc: Arc<RemoteControl>,
    caller: Caller,
    object: Uuid,
    _dir: tempfile::TempDir,
}

fn world() -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::open(dir.path()).expect("store"));
    let owner = store
        .create_account(&NewAccount {
            first_name: "Typed".into(),
            last_name: "Owner".into(),
            password: "x".into(),
            ..Default::default()
        })
        .expect("account");
    store
        .create_region(&NewRegion {
            name: REGION.into(),
            owner: owner.id,
            ..Default::default()
        })
        .expect("region");
    let dispatcher = Dispatcher::new(DispatcherConfig::default(), Arc::new(NoDirectory), Arc::new(NullSink), DecodeLimits::default());
    let rc = RemoteControl::load(store, dispatcher.services().clone(), SceneLimits::default()).expect("load");
    rc.register(dispatcher.registry(), dispatcher_remote_control::DEFAULT_DOMAIN);
    let fixture = format!("{}/../scene/tests/fixtures/penrose_assets_region_object.xml", env!("CARGO_MANIFEST_DIR"));
    let template = dispatcher_scene::parse_object(&std::fs::read(fixture).expect("fixture"), &SceneLimits::default()).expect("parse");
    let params = RezParams {
        position: Vector3::new(10.0, 20.0, 30.0),
        ..Default::default()
    };
    let host = rc.region(REGION).expect("region").clone();
    let object = host
        .region
        .write()
        .rez_object(&template, &params, &mut Uuid::new_v4)
        .expect("rez")
        .0;
    let capability = dispatcher
        .services()
        .capabilities
        .create(owner.id, "Typed Owner".into(), REGION.into(), vec!["RemoteControl".into()], Duration::from_secs(60))
        .id;
    let caller = Caller {
        scene: REGION.into(),
        capability,
        source: IpAddr::V4(Ipv4Addr::LOCALHOST),
        transport: Transport::Script,
    };
    World {
        dispatcher,
        rc,
        caller,
        object,
        _dir: dir,
    }
}

impl World {
    /// The byte entry's reply to `members` of type `M`, as JSON text.
    fn bytes<M: Request>(&self, members: &str) -> String {
        let body = format!(
            r#"{{"$type":"{}","_Domain":"RemoteControl","_Scene":"{REGION}","_Capability":"{}"{members}}}"#,
            M::TYPE_NAME,
            self.caller.capability
        );
        let reply = self
            .dispatcher
            .handle(body.as_bytes(), Encoding::Json, self.caller.source, Transport::Script)
            .expect("reply");
        String::from_utf8(reply.encode(Encoding::Json)).expect("utf8")
    }

    fn typed<M: Request>(&self, request: M) -> Outcome {
        self.dispatcher
            .call(self.caller.clone(), request)
            .map(|reply| String::from_utf8(reply.into_reply().encode(Encoding::Json)).expect("utf8"))
            .map_err(|f| (f.kind, f.message))
    }
}

#[test]
fn typed_replies_encode_to_the_byte_entry_bytes() {
    let w = world();
    let id = WireUuid(w.object);
    let members = format!(r#","ObjectID":"{}""#, w.object);
    let position = w.typed(GetObjectPositionRequest { object_id: id }).expect("position");
    assert_eq!(position, w.bytes::<GetObjectPositionRequest>(&members));
    assert!(position.contains(r#""Position":[10.0,20.0,30.0]"#), "{position}");
    assert_eq!(
        w.typed(GetObjectRotationRequest { object_id: id }).expect("rotation"),
        w.bytes::<GetObjectRotationRequest>(&members)
    );
    assert_eq!(
        w.typed(GetObjectDataRequest { object_id: id }).expect("data"),
        w.bytes::<GetObjectDataRequest>(&members)
    );
    let find = FindObjectsRequest {
        pattern: String::new(),
        ..Default::default()
    };
    assert_eq!(w.typed(find).expect("find"), w.bytes::<FindObjectsRequest>(""));
    w.rc.flush();
}

#[test]
fn failures_carry_their_kind_and_the_byte_entry_text() {
    let w = world();
    let missing = Uuid::new_v4();
    let text_of = |json: String| {
        let value: serde_json::Value = serde_json::from_str(&json).expect("json");
        assert_eq!(value["_Success"], 0, "{json}");
        value["_Message"].as_str().expect("message").to_owned()
    };
    let cases: Vec<(Outcome, FailureKind, String)> = vec![
        (
            w.typed(GetObjectPositionRequest {
                object_id: WireUuid(missing),
            }),
            FailureKind::NotFound,
            text_of(w.bytes::<GetObjectPositionRequest>(&format!(r#","ObjectID":"{missing}""#))),
        ),
        (
            w.typed(GetAssetRequest {
                asset_id: WireUuid(missing),
            }),
            FailureKind::NotFound,
            text_of(w.bytes::<GetAssetRequest>(&format!(r#","AssetID":"{missing}""#))),
        ),
        (
            w.typed(FindObjectsRequest {
                pattern: "(".into(),
                ..Default::default()
            }),
            FailureKind::Invalid,
            text_of(w.bytes::<FindObjectsRequest>(r#","Pattern":"(""#)),
        ),
        (
            w.typed(SetPartScaleRequest {
                object_id: WireUuid(w.object),
                link_num: 99,
                scale: Some(WireVec3::new(1.0, 1.0, 1.0)),
            }),
            FailureKind::NotFound,
            text_of(w.bytes::<SetPartScaleRequest>(&format!(r#","ObjectID":"{}","LinkNum":99"#, w.object))),
        ),
        (
            w.typed(SetPartScaleRequest {
                object_id: WireUuid(w.object),
                link_num: 0,
                scale: Some(WireVec3::new(-1.0, 1.0, 1.0)),
            }),
            FailureKind::Invalid,
            text_of(w.bytes::<SetPartScaleRequest>(&format!(r#","ObjectID":"{}","LinkNum":0,"Scale":[-1,1,1]"#, w.object))),
        ),
        (
            w.typed(FindObjectsRequest {
                pattern: "x".repeat(2_000),
                ..Default::default()
            }),
            FailureKind::Limited,
            text_of(w.bytes::<FindObjectsRequest>(&format!(r#","Pattern":"{}""#, "x".repeat(2_000)))),
        ),
    ];
    for (got, kind, text) in cases {
        assert_eq!(got, Err((kind, text)));
    }
    // The capability's refusals: another scene.
    let other = Caller {
        scene: "Elsewhere".into(),
        ..w.caller.clone()
    };
    let failure = w
        .dispatcher
        .call(
            other,
            GetObjectPositionRequest {
                object_id: WireUuid(w.object),
            },
        )
        .expect_err("refused");
    assert_eq!(failure.kind, FailureKind::NotPermitted);
    assert_eq!(failure.to_string(), "Unauthorized invocation; capability does not authorize access to scene");
    w.rc.flush();
}
