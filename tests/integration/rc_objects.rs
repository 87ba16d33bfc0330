//! remote-control.md §8, the rows of the object, part and event messages
//! (RC-01..RC-38, RC-50, RC-66..RC-80), one test per row, against the real
//! binary; rows that need to look inside the scene (script events, face
//! colours, part ids) run on an in-process host over the same sockets.
//!
//! Fixtures: the penrose object assets of host/scene/tests/fixtures, uploaded
//! with AddAsset: `GENERATOR` (5 parts, root link 1, a script and a texture
//! in the root) and `CONTAINER` (one part, link 0, holding `GENERATOR` as an
//! object item).

use std::net::UdpSocket;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};

use crate::support::*;

const NIL: &str = "00000000-0000-0000-0000-000000000000";
const GENERATOR: &str = "cc75083c-3ca0-433d-9ba5-a51e86a98933";
const CONTAINER: &str = "5e3a0c11-7f2b-4d6e-9a18-c0ffee0a55e7";
const NOTECARD: &str = "5e3a0c11-7f2b-4d6e-9a18-c0ffee0a55e8";
const UNKNOWN: &str = "0badf00d-0000-4000-8000-000000000000";
const PRIMITIVE: &str = "application/vnd.ll.primitive";
/// The z and w components of a quarter turn about z (sin and cos of 45°).
const QUARTER_TURN: f64 = std::f64::consts::FRAC_1_SQRT_2;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../scene/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Either kind of host.
trait Api {
    fn send(&self, request: &Value) -> Value;
    fn account(&self, first: &str) -> String;
}

impl Api for Host {
    fn send(&self, request: &Value) -> Value {
        self.call(request)
    }
    fn account(&self, first: &str) -> String {
        self.ids[first].clone()
    }
}

impl Api for InProcessHost {
    fn send(&self, request: &Value) -> Value {
        self.call(request)
    }
    fn account(&self, first: &str) -> String {
        self.ids[first].clone()
    }
}

/// A host with the owner's capability and the fixture assets uploaded.
struct Rc<H: Api> {
    h: H,
    cap: String,
}

fn capability_for(h: &impl Api, who: (&str, &str)) -> String {
    let reply = h.send(&json!({
        "$type": "Dispatcher.Messages.CreateCapabilityRequest",
        "_domain": "Dispatcher",
        "_scene": REGION,
        "firstname": who.0,
        "lastname": who.1,
        "hashedpasswd": PASSWORD_MD5,
        "lifespan": 300,
        "domainlist": ["Dispatcher", "RemoteControl"],
    }));
    assert_eq!(reply["_Success"], 1, "{reply}");
    reply["Capability"].as_str().expect("Capability").to_owned()
}

/// A request `RemoteControl.Messages.<kind>` in the Python client's lowercase
/// envelope with `extra` members.
fn rc_request(kind: &str, cap: &str, extra: Value) -> Value {
    let mut v = json!({
        "$type": format!("RemoteControl.Messages.{kind}"),
        "_domain": "RemoteControl",
        "_scene": REGION,
        "_capability": cap,
        "_asyncrequest": false,
    });
    if let (Some(obj), Value::Object(more)) = (v.as_object_mut(), extra) {
        obj.extend(more);
    }
    v
}

impl Rc<Host> {
    fn start() -> Self {
        Rc::with(Host::start())
    }

    fn start_with(ini: &str) -> Self {
        Rc::with(Host::start_with(ini))
    }
}

impl Rc<InProcessHost> {
    fn in_process() -> Self {
        Rc::with(InProcessHost::start(|_| {}))
    }

    fn domain(&self) -> &dispatcher_remote_control::RemoteControl {
        let running = self.h.running.as_ref().expect("running");
        &running.remote_control.as_ref().expect("RemoteControl enabled").domain
    }

    /// Read the scene object `id` of the test region.
    fn with_object<T>(&self, id: &str, f: impl FnOnce(&dispatcher_scene::SceneObject) -> T) -> T {
        let host = self.domain().region(REGION).expect("region");
        let region = host.region.read();
        let object = region.object(id.parse().expect("uuid")).expect("object exists");
        f(object)
    }
}

impl<H: Api> Rc<H> {
    fn with(h: H) -> Self {
        let cap = capability_for(&h, OWNER);
        let rc = Rc { h, cap };
        rc.add_asset(GENERATOR, &fixture("cc75083c-3ca0-433d-9ba5-a51e86a98933_object.xml"), PRIMITIVE);
        rc.add_asset(CONTAINER, &fixture("penrose_assets_region_object.xml"), PRIMITIVE);
        rc.add_asset(NOTECARD, b"Linden text version 2\n{\n}\n", "application/vnd.ll.notecard");
        rc
    }

    fn add_asset(&self, id: &str, data: &[u8], content_type: &str) {
        let reply = self.ok(
            "AddAssetRequest",
            json!({"Asset": {
                "AssetID": id,
                "SerializedAsset": base64::engine::general_purpose::STANDARD.encode(data),
                "Name": "fixture",
                "Description": "",
                "ContentType": content_type,
                "CreatorID": NIL,
            }}),
        );
        assert_eq!(reply["AssetID"], id, "{reply}");
    }

    fn call(&self, kind: &str, extra: Value) -> Value {
        self.h.send(&rc_request(kind, &self.cap, extra))
    }

    /// A call that must succeed synchronously.
    #[track_caller]
    fn ok(&self, kind: &str, extra: Value) -> Value {
        let reply = self.call(kind, extra);
        assert_eq!(reply["_Success"], 1, "{kind}: {reply}");
        reply
    }

    /// Create from `asset` with `extra` members; returns the new object id.
    #[track_caller]
    fn create(&self, asset: &str, extra: Value) -> String {
        let mut members = json!({"AssetID": asset});
        if let (Some(obj), Value::Object(more)) = (members.as_object_mut(), extra) {
            obj.extend(more);
        }
        let reply = self.ok("CreateObjectRequest", members);
        assert_eq!(reply["$type"], "RemoteControl.Messages.CreateObjectResponse", "{reply}");
        reply["ObjectID"].as_str().expect("ObjectID").to_owned()
    }

    fn position(&self, id: &str) -> Value {
        self.ok("GetObjectPositionRequest", json!({"ObjectID": id}))["Position"].clone()
    }

    fn rotation(&self, id: &str) -> Value {
        self.ok("GetObjectRotationRequest", json!({"ObjectID": id}))["Rotation"].clone()
    }

    fn parts(&self, id: &str) -> Vec<Value> {
        self.ok("GetObjectPartsRequest", json!({"ObjectID": id}))["Parts"]
            .as_array()
            .expect("Parts")
            .clone()
    }

    fn find(&self, members: Value) -> Vec<String> {
        let reply = self.ok("FindObjectsRequest", members);
        reply["Objects"]
            .as_array()
            .expect("Objects")
            .iter()
            .map(|v| v.as_str().expect("id").to_owned())
            .collect()
    }

    fn endpoint(&self, sock: &UdpSocket) -> String {
        let port = sock.local_addr().expect("addr").port();
        let reply = self.h.send(&json!({
            "$type": "Dispatcher.Messages.CreateEndPointRequest",
            "_domain": "Dispatcher",
            "_scene": REGION,
            "_capability": self.cap,
            "CallbackHost": "127.0.0.1",
            "CallbackPort": port,
            "LifeSpan": 60000,
        }));
        assert_eq!(reply["_Success"], 1, "{reply}");
        reply["EndPointID"].as_str().expect("EndPointID").to_owned()
    }

    fn close_endpoint(&self, endpoint: &str) {
        let reply = self.h.send(&json!({
            "$type": "Dispatcher.Messages.CloseEndPointRequest",
            "_domain": "Dispatcher",
            "_scene": REGION,
            "_capability": self.cap,
            "EndPointID": endpoint,
        }));
        assert_eq!(reply["_Success"], 1, "{reply}");
    }

    fn register_touch(&self, object: &str, endpoint: &str) -> String {
        let reply = self.ok("RegisterTouchCallbackRequest", json!({"ObjectID": object, "EndPointID": endpoint}));
        assert_eq!(reply["$type"], "RemoteControl.Messages.RegisterTouchCallbackResponse");
        reply["RequestID"].as_str().expect("RequestID").to_owned()
    }

    fn register_updated(&self, objects: &[&str], endpoint: &str) -> String {
        let reply = self.ok("RegisterUpdatedCallbackRequest", json!({"ObjectIDs": objects, "EndPointID": endpoint}));
        assert_eq!(reply["$type"], "RemoteControl.Messages.RegisterUpdatedCallbackResponse");
        reply["RequestID"].as_str().expect("RequestID").to_owned()
    }

    fn touch(&self, object: &str, link: i32, extra: Value) {
        let mut members = json!({"ObjectID": object, "LinkNum": link});
        if let (Some(obj), Value::Object(more)) = (members.as_object_mut(), extra) {
            obj.extend(more);
        }
        self.ok("TouchObjectRequest", members);
    }
}

/// The next datagram as JSON, or None after `wait`.
fn recv(sock: &UdpSocket, wait: Duration) -> Option<(Value, Vec<u8>)> {
    sock.set_read_timeout(Some(wait)).expect("timeout");
    let mut buf = [0u8; 65536];
    let n = sock.recv(&mut buf).ok()?;
    let bytes = buf[..n].to_vec();
    let value = serde_json::from_slice(&bytes).expect("datagram is JSON");
    Some((value, bytes))
}

#[track_caller]
fn expect_datagram(sock: &UdpSocket) -> Value {
    recv(sock, Duration::from_secs(5)).expect("a datagram").0
}

#[track_caller]
fn expect_silence(sock: &UdpSocket) {
    if let Some((v, _)) = recv(sock, Duration::from_millis(400)) {
        panic!("unexpected datagram {v}");
    }
}

#[track_caller]
fn assert_failure(reply: &Value, message: &str) {
    assert_eq!(reply["$type"], "ResponseBase", "{reply}");
    assert_eq!(reply["_Success"], 0, "{reply}");
    assert_eq!(reply["_Message"], message, "{reply}");
}

#[track_caller]
fn assert_fails(reply: &Value) {
    assert_eq!(reply["$type"], "ResponseBase", "{reply}");
    assert_eq!(reply["_Success"], 0, "{reply}");
}

#[track_caller]
fn assert_vec(v: &Value, expected: &[f64]) {
    let got: Vec<f64> = v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number")).collect();
    assert_eq!(got.len(), expected.len(), "{v}");
    for (g, e) in got.iter().zip(expected) {
        assert!((g - e).abs() < 1e-4, "{v} != {expected:?}");
    }
}

/// Every object, part and event request type (plus the TouchObject
/// extension).
const OBJECT_PART_EVENT_TYPES: &[&str] = &[
    "FindObjectsRequest",
    "GetObjectDataRequest",
    "GetObjectPartsRequest",
    "GetObjectInventoryRequest",
    "GetObjectPositionRequest",
    "SetObjectPositionRequest",
    "GetObjectRotationRequest",
    "SetObjectRotationRequest",
    "BulkDynamicsRequest",
    "CreateObjectRequest",
    "CreateBulkObjectsRequest",
    "DeleteObjectRequest",
    "DeleteBulkObjectsRequest",
    "DeleteAllObjectsRequest",
    "MessageObjectRequest",
    "SetPartPositionRequest",
    "SetPartRotationRequest",
    "SetPartScaleRequest",
    "SetPartColorRequest",
    "RegisterTouchCallbackRequest",
    "UnregisterTouchCallbackRequest",
    "RegisterUpdatedCallbackRequest",
    "UnregisterUpdatedCallbackRequest",
    "TouchObjectRequest",
];

#[test]
fn rc_01_every_type_is_routed_and_unknown_types_fail() {
    let rc = Rc::start();
    for kind in OBJECT_PART_EVENT_TYPES {
        let reply = rc.call(kind, json!({}));
        let message = reply["_Message"].as_str().unwrap_or_default();
        assert!(!message.starts_with("Unknown message type"), "{kind}: {reply}");
    }
    let reply = rc.call("NoSuchThingRequest", json!({}));
    assert_fails(&reply);
    let info =
        rc.h.call(&json!({"$type": "Dispatcher.Messages.InfoRequest", "_domain": "Dispatcher"}));
    let list: Vec<&str> = info["MessageList"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if grid_mode() {
        // A host lists its own registrations; this one forwards (docs/grid.md).
        return;
    }
    for kind in OBJECT_PART_EVENT_TYPES {
        let key = format!("{REGION}::RemoteControl::RemoteControl.Messages.{kind}");
        assert!(list.contains(&key.as_str()), "{key} missing from {list:?}");
    }
}

#[test]
fn rc_02_reply_type_names() {
    let rc = Rc::start();
    let id = rc.create(GENERATOR, json!({}));
    let cases = [
        ("FindObjectsRequest", json!({}), "RemoteControl.Messages.FindObjectsResponse"),
        ("GetObjectDataRequest", json!({"ObjectID": id}), "RemoteControl.Messages.GetObjectDataResponse"),
        ("GetObjectPartsRequest", json!({"ObjectID": id}), "RemoteControl.Messages.GetObjectPartsResponse"),
        (
            "GetObjectInventoryRequest",
            json!({"ObjectID": id}),
            "RemoteControl.Messages.GetObjectInventoryResponse",
        ),
        ("GetObjectPositionRequest", json!({"ObjectID": id}), "RemoteControl.Messages.ObjectPositionResponse"),
        ("SetObjectPositionRequest", json!({"ObjectID": id}), "RemoteControl.Messages.ObjectPositionResponse"),
        ("GetObjectRotationRequest", json!({"ObjectID": id}), "RemoteControl.Messages.ObjectRotationResponse"),
        ("SetObjectRotationRequest", json!({"ObjectID": id}), "RemoteControl.Messages.ObjectRotationResponse"),
        ("BulkDynamicsRequest", json!({"Updates": []}), "ResponseBase"),
        ("SetPartColorRequest", json!({"ObjectID": id}), "ResponseBase"),
        ("MessageObjectRequest", json!({"ObjectID": id}), "ResponseBase"),
    ];
    for (kind, members, expected) in cases {
        let reply = rc.ok(kind, members);
        assert_eq!(reply["$type"], expected, "{kind}: {reply}");
        assert_eq!(reply["_Message"], "", "{kind}: {reply}");
    }
    for kind in ["GetObjectDataRequest", "SetObjectPositionRequest", "DeleteObjectRequest", "SetPartScaleRequest"] {
        assert_failure(&rc.call(kind, json!({"ObjectID": UNKNOWN})), "no such object");
    }
}

#[test]
fn rc_03_member_names_ignore_case_and_unknown_members() {
    let rc = Rc::start();
    let id = rc.create(GENERATOR, json!({"Position": [10.0, 20.0, 30.0]}));
    let reply = rc.ok("GetObjectPositionRequest", json!({"objectid": id, "SomethingElse": [1, 2]}));
    assert_vec(&reply["Position"], &[10.0, 20.0, 30.0]);
    let reply = rc.ok("SetObjectPositionRequest", json!({"OBJECTID": id, "position": [11.0, 21.0, 31.0]}));
    assert_vec(&reply["Position"], &[11.0, 21.0, 31.0]);
}

#[test]
fn rc_04_vectors_accept_numeric_strings_and_extra_elements() {
    let rc = Rc::start();
    let id = rc.create(GENERATOR, json!({}));
    let reply = rc.ok("SetObjectPositionRequest", json!({"ObjectID": id, "Position": ["100", "90.5", "30", 7]}));
    assert_vec(&reply["Position"], &[100.0, 90.5, 30.0]);
    let reply = rc.ok(
        "SetObjectRotationRequest",
        json!({"ObjectID": id, "Rotation": ["0", "0", "0.7071068", "0.7071068", 5]}),
    );
    assert_vec(&reply["Rotation"], &[0.0, 0.0, QUARTER_TURN, QUARTER_TURN]);
}

#[test]
fn rc_05_short_or_non_array_vectors_fail_and_change_nothing() {
    let rc = Rc::start();
    let id = rc.create(GENERATOR, json!({"Position": [10.0, 20.0, 30.0]}));
    for bad in [json!([]), json!([1.0, 2.0]), json!(5), json!("1,2,3"), json!({"X": 1}), json!(["a", 1, 2])] {
        let reply = rc.call("SetObjectPositionRequest", json!({"ObjectID": id, "Position": bad}));
        assert_fails(&reply);
    }
    assert_failure(
        &rc.call("SetObjectPositionRequest", json!({"ObjectID": id, "Position": [1.0]})),
        "Fatal error; Unable to convert token type EndArray to float",
    );
    assert_fails(&rc.call("SetObjectRotationRequest", json!({"ObjectID": id, "Rotation": [0, 0, 1]})));
    assert_vec(&rc.position(&id), &[10.0, 20.0, 30.0]);
    assert_vec(&rc.rotation(&id), &[0.0, 0.0, 0.0, 1.0]);
    // null keeps the member's default ([128,128,20]).
    let reply = rc.ok("SetObjectPositionRequest", json!({"ObjectID": id, "Position": null}));
    assert_vec(&reply["Position"], &[128.0, 128.0, 20.0]);
}

#[test]
fn rc_06_unparsable_uuid_is_the_zero_uuid() {
    let rc = Rc::start();
    rc.create(GENERATOR, json!({}));
    assert_failure(&rc.call("GetObjectDataRequest", json!({"ObjectID": "not-a-uuid"})), "no such object");
    assert_failure(&rc.call("GetObjectDataRequest", json!({"ObjectID": 42})), "no such object");
}

#[test]
fn rc_07_async_set_position_is_queued_then_visible() {
    let rc = Rc::start();
    let id = rc.create(GENERATOR, json!({}));
    let mut request = rc_request("SetObjectPositionRequest", &rc.cap, json!({"ObjectID": id, "Position": [50.0, 60.0, 70.0]}));
    request["_asyncrequest"] = json!(true);
    let reply = rc.h.call(&request);
    assert_eq!(reply, json!({"$type": "ResponseBase", "_Success": 2, "_Message": ""}));
    assert!(eventually(Duration::from_secs(5), || {
        let p = rc.position(&id);
        p[0].as_f64() == Some(50.0) && p[1].as_f64() == Some(60.0)
    }));
}

#[test]
fn rc_08_child_part_ids_do_not_resolve() {
    let rc = Rc::in_process();
    let id = rc.create(GENERATOR, json!({}));
    let children: Vec<String> = rc.with_object(&id, |o| o.children().iter().map(|p| p.id.to_string()).collect());
    assert_eq!(children.len(), 4);
    for child in children {
        assert_failure(&rc.call("GetObjectDataRequest", json!({"ObjectID": child})), "no such object");
    }
    assert_failure(&rc.call("GetObjectDataRequest", json!({"ObjectID": NIL})), "no such object");
}

#[test]
fn rc_09_find_without_members_lists_everything_in_creation_order() {
    let rc = Rc::start();
    let ids: Vec<String> = (0..4).map(|i| rc.create(GENERATOR, json!({"Name": format!("obj {i}")}))).collect();
    assert_eq!(rc.find(json!({})), ids);
    rc.ok("DeleteObjectRequest", json!({"ObjectID": ids[1]}));
    let later = rc.create(GENERATOR, json!({}));
    assert_eq!(rc.find(json!({})), vec![ids[0].clone(), ids[2].clone(), ids[3].clone(), later]);
}

#[test]
fn rc_10_find_box_is_inclusive_with_corners_in_any_order() {
    let rc = Rc::start();
    let a = rc.create(GENERATOR, json!({"Position": [10.0, 10.0, 10.0]}));
    let b = rc.create(GENERATOR, json!({"Position": [20.0, 20.0, 20.0]}));
    let c = rc.create(GENERATOR, json!({"Position": [30.0, 30.0, 30.0]}));
    assert_eq!(
        rc.find(json!({"CoordinateA": [10, 10, 10], "CoordinateB": [20, 20, 20]})),
        vec![a.clone(), b.clone()]
    );
    assert_eq!(
        rc.find(json!({"CoordinateA": [20, 20, 20], "CoordinateB": [10, 10, 10]})),
        vec![a.clone(), b.clone()]
    );
    assert_eq!(rc.find(json!({"CoordinateA": [20, 20, 20]})), vec![b.clone(), c.clone()]);
    assert_eq!(rc.find(json!({"CoordinateB": [20, 20, 20]})), vec![a, b]);
    assert_eq!(rc.find(json!({"CoordinateA": [21, 0, 0], "CoordinateB": [29, 256, 256]})), Vec::<String>::new());
}

#[test]
fn rc_11_find_pattern_is_an_unanchored_case_sensitive_search() {
    let rc = Rc::start();
    let tile = rc.create(GENERATOR, json!({"Name": "Penrose Tile 3"}));
    rc.create(GENERATOR, json!({"Name": "Other"}));
    assert_eq!(rc.find(json!({"Pattern": "Tile"})), vec![tile.clone()]);
    assert!(rc.find(json!({"Pattern": "tile"})).is_empty());
    assert!(rc.find(json!({"Pattern": "^Tile"})).is_empty());
    assert_eq!(rc.find(json!({"Pattern": "^Penrose Tile \\d$"})), vec![tile]);
}

#[test]
fn rc_12_find_owner_filter() {
    let rc = Rc::start();
    let mine = rc.create(GENERATOR, json!({}));
    let bob_cap = capability_for(&rc.h, MANAGER);
    let reply =
        rc.h.call(&rc_request("CreateObjectRequest", &bob_cap, json!({"AssetID": GENERATOR})));
    assert_eq!(reply["_Success"], 1, "{reply}");
    let bobs = reply["ObjectID"].as_str().expect("id").to_owned();
    assert_eq!(rc.find(json!({"OwnerID": rc.h.account("Ada")})), vec![mine.clone()]);
    assert_eq!(rc.find(json!({"OwnerID": rc.h.account("Bob")})), vec![bobs.clone()]);
    assert_eq!(rc.find(json!({"OwnerID": NIL})), vec![mine, bobs]);
}

#[test]
fn rc_13_find_with_an_invalid_pattern_fails() {
    let rc = Rc::start();
    assert_fails(&rc.call("FindObjectsRequest", json!({"Pattern": "("})));
}

#[test]
fn rc_14_get_object_data() {
    let rc = Rc::start();
    let id = rc.create(
        GENERATOR,
        json!({"Name": "Data", "Position": [1.0, 2.0, 3.0], "Rotation": [0.0, 0.0, QUARTER_TURN, QUARTER_TURN]}),
    );
    let reply = rc.ok("GetObjectDataRequest", json!({"ObjectID": id}));
    assert_eq!(reply["ObjectID"], id.as_str());
    assert_eq!(reply["Name"], "Data");
    assert_vec(&reply["Position"], &[1.0, 2.0, 3.0]);
    assert_vec(&reply["Rotation"], &[0.0, 0.0, QUARTER_TURN, QUARTER_TURN]);
    assert_eq!(reply["OwnerID"], rc.h.account("Ada").as_str());
    assert_failure(&rc.call("GetObjectDataRequest", json!({"ObjectID": UNKNOWN})), "no such object");
}

#[test]
fn rc_15_get_object_parts() {
    let rc = Rc::start();
    let id = rc.create(GENERATOR, json!({"Rotation": [0.0, 0.0, QUARTER_TURN, QUARTER_TURN]}));
    let parts = rc.parts(&id);
    assert_eq!(parts.len(), 5);
    assert_eq!(parts[0]["LinkNum"], 1);
    assert_eq!(parts[1]["LinkNum"], 2);
    assert_eq!(parts[1]["Name"], "D");
    assert_vec(&parts[1]["OffsetPosition"], &[0.2599945, 0.2400055, 0.0]);
    for p in &parts {
        assert_eq!(p["$type"], "PartInformation", "{p}");
        let t = p["Type"].as_i64().expect("Type");
        assert!((0..=7).contains(&t), "{p}");
    }
    assert_eq!(parts[0]["OffsetRotation"], rc.rotation(&id));
    assert_failure(&rc.call("GetObjectPartsRequest", json!({"ObjectID": UNKNOWN})), "no such object");
}

#[test]
fn rc_16_get_object_inventory_lists_the_root_items() {
    let rc = Rc::start();
    let container = rc.create(CONTAINER, json!({}));
    let reply = rc.ok("GetObjectInventoryRequest", json!({"ObjectID": container}));
    let items = reply["Inventory"].as_array().expect("Inventory");
    assert_eq!(items.len(), 1, "{reply}");
    assert_eq!(items[0]["$type"], "ObjectInventoryInformation");
    assert_eq!(items[0]["Name"], "Penrose Point Generator Json");
    assert_eq!(items[0]["AssetID"], GENERATOR);
    assert_eq!(items[0]["ItemType"], 6);
    assert!(items[0]["Description"].is_string());
    let generator = rc.create(GENERATOR, json!({}));
    let reply = rc.ok("GetObjectInventoryRequest", json!({"ObjectID": generator}));
    let types: Vec<i64> = reply["Inventory"]
        .as_array()
        .expect("Inventory")
        .iter()
        .map(|i| i["ItemType"].as_i64().expect("type"))
        .collect();
    assert_eq!(types, vec![10, 0]);
    assert_failure(&rc.call("GetObjectInventoryRequest", json!({"ObjectID": UNKNOWN})), "no such object");
}

#[test]
fn rc_17_get_object_position_echoes_the_id() {
    let rc = Rc::start();
    let id = rc.create(GENERATOR, json!({"Position": [5.0, 6.0, 7.5]}));
    let upper = id.to_uppercase();
    let reply = rc.ok("GetObjectPositionRequest", json!({"ObjectID": upper}));
    assert_eq!(reply["$type"], "RemoteControl.Messages.ObjectPositionResponse");
    assert_eq!(reply["ObjectID"], id.as_str());
    assert_vec(&reply["Position"], &[5.0, 6.0, 7.5]);
    assert_failure(&rc.call("GetObjectPositionRequest", json!({"ObjectID": UNKNOWN})), "no such object");
}

#[test]
fn rc_18_set_object_position_moves_the_whole_object() {
    let rc = Rc::start();
    let id = rc.create(GENERATOR, json!({"Rotation": [0.0, 0.0, QUARTER_TURN, QUARTER_TURN]}));
    let before_parts = rc.parts(&id);
    let reply = rc.ok("SetObjectPositionRequest", json!({"ObjectID": id, "Position": [100.0, 90.5, 30.0]}));
    assert_vec(&reply["Position"], &[100.0, 90.5, 30.0]);
    assert_vec(&rc.position(&id), &[100.0, 90.5, 30.0]);
    assert_eq!(rc.parts(&id), before_parts);
    assert_vec(&rc.rotation(&id), &[0.0, 0.0, QUARTER_TURN, QUARTER_TURN]);
}

#[test]
fn rc_19_positions_outside_the_region_are_ignored() {
    let rc = Rc::start();
    let id = rc.create(GENERATOR, json!({"Position": [10.0, 10.0, 10.0]}));
    for outside in [[300.0, 10.0, 10.0], [10.0, 256.0, 10.0], [-1.0, 10.0, 10.0]] {
        let reply = rc.ok("SetObjectPositionRequest", json!({"ObjectID": id, "Position": outside}));
        assert_vec(&reply["Position"], &[10.0, 10.0, 10.0]);
    }
    // Z is not limited.
    let reply = rc.ok("SetObjectPositionRequest", json!({"ObjectID": id, "Position": [10.0, 10.0, 5000.0]}));
    assert_vec(&reply["Position"], &[10.0, 10.0, 5000.0]);
    assert_failure(
        &rc.call("SetObjectPositionRequest", json!({"ObjectID": UNKNOWN, "Position": [1, 1, 1]})),
        "no such object",
    );
}

#[test]
fn rc_20_rotation_is_stored_as_given() {
    let rc = Rc::start();
    let id = rc.create(GENERATOR, json!({"Position": [10.0, 10.0, 10.0]}));
    let reply = rc.ok(
        "SetObjectRotationRequest",
        json!({"ObjectID": id, "Rotation": [0.0, 0.0, QUARTER_TURN, QUARTER_TURN]}),
    );
    assert_eq!(reply["$type"], "RemoteControl.Messages.ObjectRotationResponse");
    assert_vec(&reply["Rotation"], &[0.0, 0.0, QUARTER_TURN, QUARTER_TURN]);
    assert_vec(&rc.rotation(&id), &[0.0, 0.0, QUARTER_TURN, QUARTER_TURN]);
    // Not normalised (Q-50).
    rc.ok("SetObjectRotationRequest", json!({"ObjectID": id, "Rotation": [0.0, 0.0, 2.0, 0.0]}));
    assert_vec(&rc.rotation(&id), &[0.0, 0.0, 2.0, 0.0]);
    assert_vec(&rc.position(&id), &[10.0, 10.0, 10.0]);
    assert_failure(&rc.call("SetObjectRotationRequest", json!({"ObjectID": UNKNOWN})), "no such object");
    assert_failure(&rc.call("GetObjectRotationRequest", json!({"ObjectID": UNKNOWN})), "no such object");
}

#[test]
fn rc_21_bulk_dynamics_applies_known_entries_and_skips_unknown_ones() {
    let rc = Rc::start();
    let a = rc.create(GENERATOR, json!({"Position": [10.0, 10.0, 10.0]}));
    let b = rc.create(GENERATOR, json!({"Position": [20.0, 20.0, 20.0]}));
    let reply = rc.ok(
        "BulkDynamicsRequest",
        json!({"Updates": [
            {"ObjectID": a, "Position": [11.0, 12.0, 13.0]},
            {"ObjectID": UNKNOWN, "Position": [1.0, 1.0, 1.0]},
            {"$type": "ObjectDynamicsData", "ObjectID": b, "Position": [21.0, 22.0, 23.0], "Rotation": [0.0, 0.0, 1.0, 0.0]},
        ]}),
    );
    assert_eq!(reply["$type"], "ResponseBase");
    assert_eq!(reply["_Message"], format!("no such object {UNKNOWN}; "));
    assert_vec(&rc.position(&a), &[11.0, 12.0, 13.0]);
    assert_vec(&rc.position(&b), &[21.0, 22.0, 23.0]);
    assert_vec(&rc.rotation(&b), &[0.0, 0.0, 1.0, 0.0]);
}

#[test]
fn rc_22_bulk_dynamics_absent_members_are_unchanged() {
    // No tick: velocity must stay a stored value here.
    let rc = Rc::start_with("[RemoteControl]\nTickRateHz = 0\n");
    let id = rc.create(
        GENERATOR,
        json!({"Position": [10.0, 10.0, 10.0], "Rotation": [0.0, 0.0, QUARTER_TURN, QUARTER_TURN]}),
    );
    rc.ok("BulkDynamicsRequest", json!({"Updates": [{"ObjectID": id, "Velocity": [1.0, 0.0, 0.0]}]}));
    assert_vec(&rc.position(&id), &[10.0, 10.0, 10.0]);
    assert_vec(&rc.rotation(&id), &[0.0, 0.0, QUARTER_TURN, QUARTER_TURN]);
    rc.ok(
        "BulkDynamicsRequest",
        json!({"Updates": [{"ObjectID": id, "Rotation": [0.0, 0.0, 0.0, 1.0], "Position": null}]}),
    );
    assert_vec(&rc.position(&id), &[10.0, 10.0, 10.0]);
    assert_vec(&rc.rotation(&id), &[0.0, 0.0, 0.0, 1.0]);
}

#[test]
fn rc_23_create_object_from_an_asset() {
    let rc = Rc::start();
    let reply = rc.ok(
        "CreateObjectRequest",
        json!({"AssetID": GENERATOR, "Name": "Gen", "Description": "made by a test",
               "Position": [100.0, 110.0, 25.5], "Rotation": [0.0, 0.0, QUARTER_TURN, QUARTER_TURN],
               "StartParameter": "{\"color\":0.42}"}),
    );
    let id = reply["ObjectID"].as_str().expect("ObjectID").to_owned();
    let data = rc.ok("GetObjectDataRequest", json!({"ObjectID": id}));
    assert_eq!(data["Name"], "Gen");
    assert_eq!(data["OwnerID"], rc.h.account("Ada").as_str());
    assert_vec(&data["Position"], &[100.0, 110.0, 25.5]);
    assert_vec(&data["Rotation"], &[0.0, 0.0, QUARTER_TURN, QUARTER_TURN]);
    assert_eq!(rc.parts(&id).len(), 5);
    assert_eq!(rc.parts(&id)[0]["Description"], "made by a test");
}

#[test]
fn rc_24_create_with_an_explicit_id_and_duplicates() {
    let rc = Rc::start();
    let x = "c0ffee00-1111-4a2b-8c3d-0123456789ab";
    assert_eq!(rc.create(GENERATOR, json!({"ObjectID": x})), x);
    assert_failure(
        &rc.call("CreateObjectRequest", json!({"AssetID": GENERATOR, "ObjectID": x})),
        "failed to add the object to the scene",
    );
    assert_eq!(rc.find(json!({})), vec![x.to_string()]);
}

#[test]
fn rc_25_create_errors() {
    let rc = Rc::start();
    assert_failure(&rc.call("CreateObjectRequest", json!({"AssetID": NIL})), "missing asset id");
    assert_failure(&rc.call("CreateObjectRequest", json!({})), "missing asset id");
    assert_failure(&rc.call("CreateObjectRequest", json!({"AssetID": UNKNOWN})), "unable to create object from asset");
    assert_failure(&rc.call("CreateObjectRequest", json!({"AssetID": NOTECARD})), "unable to create object from asset");
    assert!(rc.find(json!({})).is_empty());
}

#[test]
fn rc_26_create_defaults() {
    let rc = Rc::start();
    let id = rc.create(GENERATOR, json!({}));
    let data = rc.ok("GetObjectDataRequest", json!({"ObjectID": id}));
    assert_eq!(data["Name"], "RemoteControl Object");
    assert_vec(&data["Position"], &[128.0, 128.0, 20.0]);
    assert_vec(&data["Rotation"], &[0.0, 0.0, 0.0, 1.0]);
    assert_eq!(rc.parts(&id)[0]["Description"], "RemoteControl Generated Object");
}

#[test]
fn rc_27_an_id_can_be_reused_after_deletion() {
    let rc = Rc::start();
    let x = "c0ffee00-2222-4a2b-8c3d-0123456789ab";
    rc.create(GENERATOR, json!({"ObjectID": x, "StartParameter": "{\"a\":1}"}));
    rc.ok("DeleteObjectRequest", json!({"ObjectID": x}));
    // touch.pl sends the number 0 as StartParameter.
    assert_eq!(rc.create(GENERATOR, json!({"ObjectID": x, "StartParameter": 0})), x);
}

#[test]
fn rc_28_copies_have_disjoint_part_and_item_ids() {
    let rc = Rc::in_process();
    let a = rc.create(GENERATOR, json!({}));
    let b = rc.create(GENERATOR, json!({}));
    let ids = |id: &str| -> Vec<uuid::Uuid> {
        rc.with_object(id, |o| {
            o.parts()
                .flat_map(|p| std::iter::once(p.id).chain(p.inventory.iter().map(|i| i.item_id)))
                .collect()
        })
    };
    let (ia, ib) = (ids(&a), ids(&b));
    assert_eq!(ia.len(), 7, "5 parts and 2 items");
    assert!(ia.iter().all(|x| !ib.contains(x)), "{ia:?} {ib:?}");
    let template = dispatcher_scene::parse_object(&fixture("cc75083c-3ca0-433d-9ba5-a51e86a98933_object.xml"), &Default::default())
        .expect("fixture parses");
    assert!(template.part_ids().all(|p| !ia.contains(&p)), "fresh ids, not the asset's");
}

#[test]
fn rc_29_create_bulk_objects_warnings() {
    let rc = Rc::start();
    let (good, zero, unknown, dup) = (
        "c0ffee00-3333-4a2b-8c3d-0123456789ab",
        "c0ffee00-4444-4a2b-8c3d-0123456789ab",
        "c0ffee00-5555-4a2b-8c3d-0123456789ab",
        "c0ffee00-3333-4a2b-8c3d-0123456789ab",
    );
    let reply = rc.ok(
        "CreateBulkObjectsRequest",
        json!({"Objects": [
            {"AssetID": GENERATOR, "Name": "car-1", "ObjectData": {"ObjectID": good, "Position": [10.0, 10.0, 22.0]}},
            {"AssetID": NIL, "ObjectData": {"ObjectID": zero, "Position": [12.0, 10.0, 22.0]}},
            {"AssetID": GENERATOR},
            {"AssetID": UNKNOWN, "ObjectData": {"ObjectID": unknown}},
            {"AssetID": GENERATOR, "ObjectData": {"ObjectID": dup, "Position": [14.0, 10.0, 22.0]}},
        ]}),
    );
    assert_eq!(reply["$type"], "ResponseBase");
    let expected = format!(
        "missing asset for object {zero}; missing object specification for asset {GENERATOR}; \
         unable to create object from asset {UNKNOWN}; failed to add the object {dup} to the scene; "
    );
    assert_eq!(reply["_Message"], expected);
    assert_eq!(rc.find(json!({})), vec![good.to_string()]);
    let data = rc.ok("GetObjectDataRequest", json!({"ObjectID": good}));
    assert_eq!(data["Name"], "car-1");
    assert_vec(&data["Position"], &[10.0, 10.0, 22.0]);
    // Absent position in ObjectData is [0,0,0] (§4.1.11).
    rc.ok(
        "CreateBulkObjectsRequest",
        json!({"Objects": [{"AssetID": GENERATOR, "ObjectData": {"ObjectID": zero}}]}),
    );
    assert_vec(&rc.position(zero), &[0.0, 0.0, 0.0]);
}

#[test]
fn rc_30_delete_object() {
    let rc = Rc::start();
    let id = rc.create(GENERATOR, json!({}));
    let reply = rc.ok("DeleteObjectRequest", json!({"ObjectID": id}));
    assert_eq!(reply["$type"], "ResponseBase");
    assert!(rc.find(json!({})).is_empty());
    assert_failure(&rc.call("GetObjectDataRequest", json!({"ObjectID": id})), "no such object");
    assert_failure(&rc.call("DeleteObjectRequest", json!({"ObjectID": id})), "no such object");
}

#[test]
fn rc_31_delete_bulk_objects_warns_per_unknown_id() {
    let rc = Rc::start();
    let a = rc.create(GENERATOR, json!({}));
    let b = rc.create(GENERATOR, json!({}));
    let c = rc.create(GENERATOR, json!({}));
    let reply = rc.ok("DeleteBulkObjectsRequest", json!({"ObjectIDs": [a, UNKNOWN, c]}));
    assert_eq!(reply["_Message"], format!("no such object {UNKNOWN}; "));
    assert_eq!(rc.find(json!({})), vec![b]);
}

#[test]
fn rc_32_delete_all_objects_whoever_owns_them() {
    let rc = Rc::start();
    rc.ok("DeleteAllObjectsRequest", json!({}));
    rc.create(GENERATOR, json!({}));
    let bob_cap = capability_for(&rc.h, MANAGER);
    let reply =
        rc.h.call(&rc_request("CreateObjectRequest", &bob_cap, json!({"AssetID": CONTAINER})));
    assert_eq!(reply["_Success"], 1, "{reply}");
    assert_eq!(rc.find(json!({})).len(), 2);
    rc.ok("DeleteAllObjectsRequest", json!({}));
    assert!(rc.find(json!({})).is_empty());
}

#[test]
fn rc_33_message_object_queues_a_dataserver_event() {
    let rc = Rc::in_process();
    let events = rc.h.dispatcher().services().events.subscribe(64);
    let id = rc.create(GENERATOR, json!({}));
    rc.ok("MessageObjectRequest", json!({"ObjectID": id, "Message": "start"}));
    let caller = rc.h.account("Ada");
    let queued = rc.with_object(&id, |o| o.script_events.clone());
    assert_eq!(queued.len(), 1);
    assert_eq!(
        (queued[0].event.as_str(), queued[0].key.as_str(), queued[0].data.as_str()),
        ("dataserver", caller.as_str(), "start")
    );
    let seen = events.events.try_iter().any(|e| {
        matches!(e, dispatcher_dispatch::SceneEvent::Message { ref text, object_id, sender_id, .. }
            if text == "start" && object_id.to_string() == id && sender_id.to_string() == caller)
    });
    assert!(seen, "the Message scene event was published");
    assert_failure(&rc.call("MessageObjectRequest", json!({"ObjectID": UNKNOWN, "Message": "x"})), "no such object");
}

#[test]
fn rc_34_set_part_position_moves_only_the_part() {
    let rc = Rc::start();
    let sock = callback_socket();
    let endpoint = rc.endpoint(&sock);
    let id = rc.create(GENERATOR, json!({"Position": [10.0, 10.0, 10.0]}));
    rc.register_updated(&[&id], &endpoint);
    rc.ok("SetPartPositionRequest", json!({"ObjectID": id, "LinkNum": 2, "Position": [0.0, 0.0, 1.5]}));
    assert_vec(&rc.parts(&id)[1]["OffsetPosition"], &[0.0, 0.0, 1.5]);
    assert_vec(&rc.position(&id), &[10.0, 10.0, 10.0]);
    expect_silence(&sock);
}

#[test]
fn rc_35_part_selection_by_link_number() {
    let rc = Rc::start();
    let multi = rc.create(GENERATOR, json!({}));
    let single = rc.create(CONTAINER, json!({}));
    rc.ok("SetPartPositionRequest", json!({"ObjectID": multi, "LinkNum": 0, "Position": [0.0, 0.0, 0.5]}));
    assert_vec(&rc.parts(&multi)[0]["OffsetPosition"], &[0.0, 0.0, 0.5]);
    rc.ok("SetPartPositionRequest", json!({"ObjectID": multi, "LinkNum": 1, "Position": [0.0, 0.0, 0.25]}));
    assert_vec(&rc.parts(&multi)[0]["OffsetPosition"], &[0.0, 0.0, 0.25]);
    assert_failure(&rc.call("SetPartPositionRequest", json!({"ObjectID": multi, "LinkNum": 9})), "no such part");
    assert_failure(&rc.call("SetPartScaleRequest", json!({"ObjectID": single, "LinkNum": 1})), "no such part");
    rc.ok("SetPartScaleRequest", json!({"ObjectID": single, "LinkNum": 0, "Scale": [2.0, 2.0, 0.1]}));
    assert_failure(&rc.call("SetPartColorRequest", json!({"ObjectID": UNKNOWN, "LinkNum": 0})), "no such object");
    assert_fails(&rc.call("SetPartRotationRequest", json!({"ObjectID": multi, "LinkNum": 1.5})));
}

#[test]
fn rc_36_set_part_rotation_on_root_and_child() {
    let rc = Rc::start();
    let id = rc.create(GENERATOR, json!({}));
    rc.ok(
        "SetPartRotationRequest",
        json!({"ObjectID": id, "LinkNum": 0, "Rotation": [0.0, 0.0, QUARTER_TURN, QUARTER_TURN]}),
    );
    assert_vec(&rc.rotation(&id), &[0.0, 0.0, QUARTER_TURN, QUARTER_TURN]);
    rc.ok(
        "SetPartRotationRequest",
        json!({"ObjectID": id, "LinkNum": 3, "Rotation": [0.0, 0.3826834, 0.0, 0.9238795]}),
    );
    let parts = rc.parts(&id);
    let child = parts.iter().find(|p| p["LinkNum"] == 3).expect("link 3");
    assert_vec(&child["OffsetRotation"], &[0.0, 0.3826834, 0.0, 0.9238795]);
    assert_vec(&rc.rotation(&id), &[0.0, 0.0, QUARTER_TURN, QUARTER_TURN]);
}

#[test]
fn rc_37_set_part_scale_shows_in_the_object_asset() {
    let rc = Rc::start();
    let id = rc.create(CONTAINER, json!({}));
    rc.ok("SetPartScaleRequest", json!({"ObjectID": id, "LinkNum": 0, "Scale": [2.0, 3.0, 0.125]}));
    let reply = rc.ok("GetAssetFromObjectRequest", json!({"ObjectID": id}));
    let data = base64::engine::general_purpose::STANDARD
        .decode(reply["Asset"]["SerializedAsset"].as_str().expect("SerializedAsset"))
        .expect("base64");
    let text = String::from_utf8_lossy(&data);
    assert!(text.contains("<Scale><X>2</X><Y>3</Y><Z>0.125</Z></Scale>"), "{text}");
    // Q-18 (may): non-positive sizes are refused and change nothing.
    assert_failure(
        &rc.call("SetPartScaleRequest", json!({"ObjectID": id, "LinkNum": 0, "Scale": [0.0, 1.0, 1.0]})),
        "invalid scale",
    );
}

#[test]
fn rc_38_set_part_color_is_clamped_on_every_face() {
    let rc = Rc::in_process();
    let id = rc.create(GENERATOR, json!({}));
    rc.ok(
        "SetPartColorRequest",
        json!({"ObjectID": id, "LinkNum": 2, "Color": [2.0, -1.0, 0.5], "Alpha": 3.0}),
    );
    rc.with_object(&id, |o| {
        let part = o.part_by_link(2).expect("link 2");
        let te = &part.shape.texture_entry;
        let c = te.default_color;
        assert_eq!((c.r, c.g, c.b, c.a), (1.0, 0.0, 0.5, 1.0));
        for face in &te.face_colors {
            let c = face.value;
            assert_eq!((c.r, c.g, c.b, c.a), (1.0, 0.0, 0.5, 1.0));
        }
    });
    // An absent Alpha is 0: fully transparent (Q-17).
    rc.ok("SetPartColorRequest", json!({"ObjectID": id, "LinkNum": 0, "Color": [0.2, 0.4, 0.6]}));
    rc.with_object(&id, |o| assert_eq!(o.root().shape.texture_entry.default_color.a, 0.0));
}

#[test]
fn rc_50_opensim_object_xml_is_accepted() {
    // The generator fixture carries a trailing NUL, unknown elements and
    // <UUID>-wrapped ids, as OpenSim writes them.
    let data = fixture("cc75083c-3ca0-433d-9ba5-a51e86a98933_object.xml");
    assert_eq!(data.last(), Some(&0));
    let rc = Rc::start();
    let id = rc.create(GENERATOR, json!({}));
    assert_eq!(rc.parts(&id).len(), 5);
}

#[test]
fn rc_66_register_touch_callback() {
    let rc = Rc::start();
    let sock = callback_socket();
    let endpoint = rc.endpoint(&sock);
    let id = rc.create(GENERATOR, json!({}));
    let request = rc.register_touch(&id, &endpoint);
    assert!(request.parse::<uuid::Uuid>().is_ok());
    assert_failure(
        &rc.call("RegisterTouchCallbackRequest", json!({"ObjectID": UNKNOWN, "EndPointID": endpoint})),
        &format!("no such object; {UNKNOWN}"),
    );
}

#[test]
fn rc_67_unknown_endpoint_registers_nothing() {
    let rc = Rc::start();
    let id = rc.create(GENERATOR, json!({}));
    assert_failure(
        &rc.call("RegisterTouchCallbackRequest", json!({"ObjectID": id, "EndPointID": UNKNOWN})),
        &format!("no such endpoint; {UNKNOWN}"),
    );
    // Nothing registered: unregistering finds no handler for the object.
    assert_failure(
        &rc.call("UnregisterTouchCallbackRequest", json!({"ObjectID": id, "RequestID": UNKNOWN})),
        &format!("no handler for requested object; {id}"),
    );
}

#[test]
fn rc_68_touch_on_the_root_sends_one_datagram() {
    let rc = Rc::start();
    let sock = callback_socket();
    let endpoint = rc.endpoint(&sock);
    let id = rc.create(GENERATOR, json!({}));
    let request = rc.register_touch(&id, &endpoint);
    let avatar = rc.h.account("Carol");
    rc.touch(&id, 0, json!({"AvatarID": avatar}));
    let cb = expect_datagram(&sock);
    assert_eq!(cb["$type"], "RemoteControl.Messages.TouchCallback");
    assert_eq!(cb["ObjectID"], id.as_str());
    assert_eq!(cb["RequestID"], request.as_str());
    assert_eq!(cb["AvatarID"], avatar.as_str());
    assert_vec(&cb["OffsetPosition"], &[0.0, 0.0, 0.0]);
    assert!(cb["TouchEvent"].is_null(), "{cb}");
    assert!(cb.get("_Success").is_none());
    expect_silence(&sock);
    rc.touch(&id, 1, json!({"TouchPosition": [128.2, 127.9, 25.6]}));
    let cb = expect_datagram(&sock);
    assert_eq!(cb["TouchEvent"]["$type"], "SurfaceTouchEventArgs");
    assert_vec(&cb["TouchEvent"]["Position"], &[128.2, 127.9, 25.6]);
    // A zero AvatarID is the caller.
    assert_eq!(cb["AvatarID"], rc.h.account("Ada").as_str());
}

#[test]
fn rc_69_touch_on_a_child_reports_the_root_and_the_offset() {
    let rc = Rc::start();
    let sock = callback_socket();
    let endpoint = rc.endpoint(&sock);
    let id = rc.create(GENERATOR, json!({}));
    rc.register_touch(&id, &endpoint);
    rc.touch(&id, 2, json!({}));
    let cb = expect_datagram(&sock);
    assert_eq!(cb["ObjectID"], id.as_str());
    assert_vec(&cb["OffsetPosition"], &[0.2599945, 0.2400055, 0.0]);
    assert_failure(&rc.call("TouchObjectRequest", json!({"ObjectID": id, "LinkNum": 9})), "no such part");
}

#[test]
fn rc_70_one_datagram_per_registration() {
    let rc = Rc::start();
    let (s1, s2) = (callback_socket(), callback_socket());
    let (e1, e2) = (rc.endpoint(&s1), rc.endpoint(&s2));
    let id = rc.create(GENERATOR, json!({}));
    let mut expected = vec![rc.register_touch(&id, &e1), rc.register_touch(&id, &e1), rc.register_touch(&id, &e2)];
    rc.touch(&id, 0, json!({}));
    let mut got = vec![
        expect_datagram(&s1)["RequestID"].as_str().expect("id").to_owned(),
        expect_datagram(&s1)["RequestID"].as_str().expect("id").to_owned(),
        expect_datagram(&s2)["RequestID"].as_str().expect("id").to_owned(),
    ];
    expected.sort();
    got.sort();
    assert_eq!(got, expected);
    expect_silence(&s1);
}

#[test]
fn rc_71_updated_registrations_get_no_touch_datagram() {
    let rc = Rc::start();
    let sock = callback_socket();
    let endpoint = rc.endpoint(&sock);
    let id = rc.create(GENERATOR, json!({}));
    rc.register_updated(&[&id], &endpoint);
    rc.touch(&id, 0, json!({}));
    expect_silence(&sock);
}

#[test]
fn rc_72_unregister_touch_callback() {
    let rc = Rc::start();
    let sock = callback_socket();
    let endpoint = rc.endpoint(&sock);
    let id = rc.create(GENERATOR, json!({}));
    let other = rc.create(GENERATOR, json!({}));
    let keep = rc.register_touch(&id, &endpoint);
    let drop = rc.register_touch(&id, &endpoint);
    rc.ok("UnregisterTouchCallbackRequest", json!({"ObjectID": id, "RequestID": drop}));
    rc.touch(&id, 0, json!({}));
    assert_eq!(expect_datagram(&sock)["RequestID"], keep.as_str());
    expect_silence(&sock);
    assert_failure(
        &rc.call("UnregisterTouchCallbackRequest", json!({"ObjectID": other, "RequestID": keep})),
        &format!("no handler for requested object; {other}"),
    );
    assert_failure(
        &rc.call("UnregisterTouchCallbackRequest", json!({"ObjectID": id, "RequestID": drop})),
        &format!("invalid request id; {drop}"),
    );
    // Updated registrations are not touch registrations (Q-27).
    let updated = rc.register_updated(&[&id], &endpoint);
    assert_failure(
        &rc.call("UnregisterTouchCallbackRequest", json!({"ObjectID": id, "RequestID": updated})),
        &format!("invalid request id; {updated}"),
    );
}

#[test]
fn rc_73_closing_the_endpoint_drops_its_registrations() {
    let rc = Rc::start();
    let sock = callback_socket();
    let endpoint = rc.endpoint(&sock);
    let id = rc.create(GENERATOR, json!({}));
    let request = rc.register_touch(&id, &endpoint);
    rc.close_endpoint(&endpoint);
    rc.touch(&id, 0, json!({}));
    expect_silence(&sock);
    assert_failure(
        &rc.call("UnregisterTouchCallbackRequest", json!({"ObjectID": id, "RequestID": request})),
        &format!("no handler for requested object; {id}"),
    );
}

#[test]
fn rc_74_deleting_the_object_drops_its_registrations() {
    let rc = Rc::start();
    let sock = callback_socket();
    let endpoint = rc.endpoint(&sock);
    let x = "c0ffee00-7777-4a2b-8c3d-0123456789ab";
    rc.create(GENERATOR, json!({"ObjectID": x}));
    let request = rc.register_touch(x, &endpoint);
    rc.register_updated(&[x], &endpoint);
    rc.ok("DeleteObjectRequest", json!({"ObjectID": x}));
    expect_silence(&sock);
    // A new object with the same id does not inherit them.
    rc.create(GENERATOR, json!({"ObjectID": x}));
    rc.touch(x, 0, json!({}));
    rc.ok("SetObjectPositionRequest", json!({"ObjectID": x, "Position": [1.0, 2.0, 3.0]}));
    expect_silence(&sock);
    assert_failure(
        &rc.call("UnregisterTouchCallbackRequest", json!({"ObjectID": x, "RequestID": request})),
        &format!("no handler for requested object; {x}"),
    );
}

#[test]
fn rc_75_register_updated_callback() {
    let rc = Rc::start();
    let sock = callback_socket();
    let endpoint = rc.endpoint(&sock);
    let a = rc.create(GENERATOR, json!({}));
    let reply = rc.ok("RegisterUpdatedCallbackRequest", json!({"ObjectIDs": [a, UNKNOWN], "EndPointID": endpoint}));
    assert_eq!(reply["$type"], "RemoteControl.Messages.RegisterUpdatedCallbackResponse");
    assert!(reply["RequestID"].as_str().is_some_and(|r| r.parse::<uuid::Uuid>().is_ok()));
    assert_eq!(reply["_Message"], format!("no such object {UNKNOWN}; "));
    let b = rc.create(GENERATOR, json!({}));
    assert_failure(
        &rc.call("RegisterUpdatedCallbackRequest", json!({"ObjectIDs": [b], "EndPointID": UNKNOWN})),
        &format!("no such endpoint; {UNKNOWN}"),
    );
    rc.ok("SetObjectPositionRequest", json!({"ObjectID": b, "Position": [1.0, 2.0, 3.0]}));
    expect_silence(&sock);
}

#[test]
fn rc_76_updated_callback_fires_on_real_moves_only() {
    let rc = Rc::start();
    let sock = callback_socket();
    let endpoint = rc.endpoint(&sock);
    let id = rc.create(GENERATOR, json!({"Position": [10.0, 10.0, 10.0]}));
    let request = rc.register_updated(&[&id], &endpoint);
    rc.ok("SetObjectPositionRequest", json!({"ObjectID": id, "Position": [100.0, 90.5, 30.0]}));
    let cb = expect_datagram(&sock);
    assert_eq!(cb["$type"], "RemoteControl.Messages.UpdatedCallback");
    assert_eq!(cb["ObjectID"], id.as_str());
    assert_eq!(cb["RequestID"], request.as_str());
    assert_vec(&cb["Position"], &[100.0, 90.5, 30.0]);
    rc.ok("SetObjectPositionRequest", json!({"ObjectID": id, "Position": [100.0, 90.5, 30.0]}));
    rc.ok("SetObjectRotationRequest", json!({"ObjectID": id, "Rotation": [0.0, 0.0, 1.0, 0.0]}));
    rc.ok("SetPartColorRequest", json!({"ObjectID": id, "Color": [1, 0, 0], "Alpha": 1}));
    rc.ok("SetPartPositionRequest", json!({"ObjectID": id, "LinkNum": 2, "Position": [0, 0, 1]}));
    rc.ok("SetObjectPositionRequest", json!({"ObjectID": id, "Position": [300.0, 90.5, 30.0]}));
    expect_silence(&sock);
}

#[test]
fn rc_77_bulk_dynamics_moves_notify() {
    let rc = Rc::start();
    let sock = callback_socket();
    let endpoint = rc.endpoint(&sock);
    let id = rc.create(GENERATOR, json!({"Position": [10.0, 10.0, 10.0]}));
    let request = rc.register_updated(&[&id], &endpoint);
    rc.ok("BulkDynamicsRequest", json!({"Updates": [{"ObjectID": id, "Position": [12.0, 10.0, 10.0]}]}));
    let cb = expect_datagram(&sock);
    assert_eq!(cb["RequestID"], request.as_str());
    assert_vec(&cb["Position"], &[12.0, 10.0, 10.0]);
}

#[test]
fn rc_78_unregister_updated_callback() {
    let rc = Rc::start();
    let sock = callback_socket();
    let endpoint = rc.endpoint(&sock);
    let a = rc.create(GENERATOR, json!({"Position": [10.0, 10.0, 10.0]}));
    let b = rc.create(GENERATOR, json!({"Position": [20.0, 20.0, 20.0]}));
    let lone = rc.create(GENERATOR, json!({}));
    let ra = rc.register_updated(&[&a], &endpoint);
    let rb = rc.register_updated(&[&b], &endpoint);
    // Wrong RequestID for b: fails and leaves a's registration too (Q-29).
    assert_failure(
        &rc.call("UnregisterUpdatedCallbackRequest", json!({"ObjectIDs": [a, b], "RequestID": ra})),
        &format!("invalid request id {ra}"),
    );
    rc.ok("SetObjectPositionRequest", json!({"ObjectID": a, "Position": [11.0, 10.0, 10.0]}));
    assert_eq!(expect_datagram(&sock)["RequestID"], ra.as_str());
    let reply = rc.ok("UnregisterUpdatedCallbackRequest", json!({"ObjectIDs": [a, lone], "RequestID": ra}));
    assert_eq!(reply["_Message"], format!("no handler for requested object {lone}; "));
    rc.ok("SetObjectPositionRequest", json!({"ObjectID": a, "Position": [12.0, 10.0, 10.0]}));
    expect_silence(&sock);
    rc.ok("SetObjectPositionRequest", json!({"ObjectID": b, "Position": [21.0, 20.0, 20.0]}));
    assert_eq!(expect_datagram(&sock)["RequestID"], rb.as_str());
}

#[test]
fn rc_79_datagrams_are_compact_utf8_json() {
    let rc = Rc::start();
    let sock = callback_socket();
    let endpoint = rc.endpoint(&sock);
    let id = rc.create(GENERATOR, json!({"Name": "Ünïcødé ☃ object"}));
    rc.register_touch(&id, &endpoint);
    rc.touch(&id, 0, json!({}));
    let (value, bytes) = recv(&sock, Duration::from_secs(5)).expect("datagram");
    let text = std::str::from_utf8(&bytes).expect("UTF-8");
    assert!(!text.contains('\n') && !text.contains(": "), "{text}");
    assert!(text.starts_with(r#"{"$type":"RemoteControl.Messages.TouchCallback","#), "{text}");
    assert_eq!(value["ObjectID"], id.as_str());
    assert_eq!(rc.ok("GetObjectDataRequest", json!({"ObjectID": id}))["Name"], "Ünïcødé ☃ object");
}

#[test]
fn rc_80_closing_one_endpoint_keeps_the_other() {
    let rc = Rc::start();
    let (s1, s2) = (callback_socket(), callback_socket());
    let (e1, e2) = (rc.endpoint(&s1), rc.endpoint(&s2));
    let id = rc.create(GENERATOR, json!({}));
    rc.register_touch(&id, &e1);
    let r2 = rc.register_touch(&id, &e2);
    rc.register_updated(&[&id], &e1);
    let u2 = rc.register_updated(&[&id], &e2);
    rc.close_endpoint(&e1);
    rc.touch(&id, 0, json!({}));
    assert_eq!(expect_datagram(&s2)["RequestID"], r2.as_str());
    rc.ok("SetObjectPositionRequest", json!({"ObjectID": id, "Position": [1.0, 2.0, 3.0]}));
    assert_eq!(expect_datagram(&s2)["RequestID"], u2.as_str());
    expect_silence(&s1);
}

// ----- beyond the checklist: limits, dynamics, persistence ------------------------------

#[test]
fn rc_limits_bulk_dynamics_batch_size_is_enforced_whole() {
    let rc = Rc::start();
    let id = rc.create(GENERATOR, json!({"Position": [10.0, 10.0, 10.0]}));
    let limit = dispatcher_remote_control::RemoteControlLimits::default().max_bulk_dynamics_entries;
    let updates: Vec<Value> = (0..=limit)
        .map(|_| json!({"ObjectID": id, "Position": [50.0, 50.0, 50.0]}))
        .collect();
    let reply = rc.call("BulkDynamicsRequest", json!({"Updates": updates}));
    assert_fails(&reply);
    assert!(reply["_Message"].as_str().unwrap_or_default().contains("limit"), "{reply}");
    assert_vec(&rc.position(&id), &[10.0, 10.0, 10.0]);
    // A bad vector anywhere in the batch fails it before anything is applied.
    let reply = rc.call(
        "BulkDynamicsRequest",
        json!({"Updates": [{"ObjectID": id, "Position": [60.0, 60.0, 60.0]}, {"ObjectID": id, "Position": [1.0]}]}),
    );
    assert_fails(&reply);
    assert_vec(&rc.position(&id), &[10.0, 10.0, 10.0]);
}

#[test]
fn rc_tick_integrates_velocity_and_notifies() {
    let rc = Rc::start();
    let sock = callback_socket();
    let endpoint = rc.endpoint(&sock);
    let id = rc.create(GENERATOR, json!({"Position": [10.0, 10.0, 10.0]}));
    let request = rc.register_updated(&[&id], &endpoint);
    rc.ok("BulkDynamicsRequest", json!({"Updates": [{"ObjectID": id, "Velocity": [2.0, 0.0, 0.0]}]}));
    let cb = expect_datagram(&sock);
    assert_eq!(cb["RequestID"], request.as_str());
    assert!(cb["Position"][0].as_f64().expect("x") > 10.0, "{cb}");
    assert!(eventually(Duration::from_secs(5), || rc.position(&id)[0].as_f64().is_some_and(|x| x > 11.0)));
    rc.ok("BulkDynamicsRequest", json!({"Updates": [{"ObjectID": id, "Velocity": [0.0, 0.0, 0.0]}]}));
}

#[test]
fn rc_objects_survive_a_restart() {
    let rc = Rc::start();
    let x = "c0ffee00-8888-4a2b-8c3d-0123456789ab";
    rc.create(GENERATOR, json!({"ObjectID": x, "Name": "durable", "Position": [10.0, 10.0, 10.0]}));
    let gone = rc.create(GENERATOR, json!({}));
    rc.ok("DeleteObjectRequest", json!({"ObjectID": gone}));
    rc.ok("SetObjectPositionRequest", json!({"ObjectID": x, "Position": [42.0, 43.0, 44.0]}));
    rc.ok("SetPartColorRequest", json!({"ObjectID": x, "LinkNum": 2, "Color": [1, 0, 0], "Alpha": 1}));
    let ids = rc.h.ids.clone();
    let (status, dir) = rc.h.stop();
    assert_eq!(status, Some(0));
    let rc = Rc::with(Host::launch(dir, ids, ""));
    assert_eq!(rc.find(json!({})), vec![x.to_string()]);
    let data = rc.ok("GetObjectDataRequest", json!({"ObjectID": x}));
    assert_eq!(data["Name"], "durable");
    assert_vec(&data["Position"], &[42.0, 43.0, 44.0]);
    assert_eq!(rc.parts(x).len(), 5);
}

#[test]
fn rc_events_touch_move_and_delete_share_one_stream() {
    let rc = Rc::in_process();
    let events = rc.h.dispatcher().services().events.subscribe(256);
    let id = rc.create(GENERATOR, json!({"Position": [10.0, 10.0, 10.0]}));
    let uid: uuid::Uuid = id.parse().expect("uuid");
    rc.touch(&id, 2, json!({"AvatarID": rc.h.account("Carol")}));
    rc.ok("SetObjectPositionRequest", json!({"ObjectID": id, "Position": [20.0, 10.0, 10.0]}));
    rc.ok("DeleteObjectRequest", json!({"ObjectID": id}));
    use dispatcher_dispatch::SceneEvent;
    let seen: Vec<SceneEvent> = events.events.try_iter().collect();
    let kinds: Vec<&str> = seen
        .iter()
        .filter_map(|e| match e {
            SceneEvent::Touch {
                object_id, link_num: 2, ..
            } if *object_id == uid => Some("touch"),
            SceneEvent::Updated { object_id, position, .. } if *object_id == uid && position[0] == 20.0 => Some("updated"),
            SceneEvent::ObjectRemoved { object_id, .. } if *object_id == uid => Some("removed"),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, vec!["touch", "updated", "removed"], "{seen:?}");
}

#[test]
fn rc_bulk_dynamics_over_udp() {
    let rc = Rc::start();
    let id = rc.create(GENERATOR, json!({"Position": [10.0, 10.0, 10.0]}));
    let request = rc_request(
        "BulkDynamicsRequest",
        &rc.cap,
        json!({"Updates": [{"ObjectID": id, "Position": ["30", "31", "32"]}]}),
    );
    rc.h.send_udp(request.to_string().as_bytes());
    assert!(eventually(Duration::from_secs(5), || rc.position(&id)[0].as_f64() == Some(30.0)));
}

/// Issue: scene model, persistence. A stream of creates and asset writes is cut
/// by SIGKILL; after a restart every write the host acknowledged is there.
#[test]
fn rc_sigkill_during_creates_and_asset_writes_loses_no_acknowledged_write() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    let rc = Rc::start();
    let url = rc.h.url("/Dispatcher/");
    let cap = rc.cap.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let objects = Arc::new(Mutex::new(Vec::<String>::new()));
    let assets = Arc::new(Mutex::new(Vec::<String>::new()));
    let writer = {
        let (stop, objects, assets) = (stop.clone(), objects.clone(), assets.clone());
        std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
            // Transport errors end the stream: the host is gone.
            let send = |request: Value| -> Option<Value> {
                let mut resp = agent
                    .post(&url)
                    .header("Content-Type", "application/json")
                    .send(request.to_string().as_bytes())
                    .ok()?;
                let body = resp.body_mut().read_to_vec().ok()?;
                serde_json::from_slice(&body).ok()
            };
            let mut i = 0u32;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let create = rc_request(
                    "CreateObjectRequest",
                    &cap,
                    json!({"AssetID": GENERATOR, "Name": format!("kill-{i}"), "Position": [10.0, 10.0 + (i % 200) as f32, 20.0]}),
                );
                let Some(reply) = send(create) else { break };
                if reply["_Success"] == 1 {
                    objects
                        .lock()
                        .expect("lock")
                        .push(reply["ObjectID"].as_str().unwrap_or("").to_owned());
                }
                let asset_id = uuid::Uuid::new_v4().to_string();
                let add = rc_request(
                    "AddAssetRequest",
                    &cap,
                    json!({"Asset": {"AssetID": asset_id, "SerializedAsset": base64::engine::general_purpose::STANDARD.encode(format!("note {i}")),
                                      "Name": "n", "Description": "", "ContentType": "application/vnd.ll.notecard", "CreatorID": NIL}}),
                );
                let Some(reply) = send(add) else { break };
                if reply["_Success"] == 1 {
                    assets.lock().expect("lock").push(asset_id);
                }
            }
        })
    };
    // Let the stream run, then kill the host without warning while it writes.
    assert!(eventually(Duration::from_secs(30), || objects.lock().expect("lock").len() >= 40));
    let status = std::process::Command::new("kill")
        .args(["-KILL", &rc.h.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer thread");

    let objects = objects.lock().expect("lock").clone();
    let assets = assets.lock().expect("lock").clone();
    assert!(objects.len() >= 40 && !assets.is_empty());
    let ids = rc.h.ids.clone();
    let (_, dir) = rc.h.stop();
    let rc = Rc::with(Host::launch(dir, ids, ""));
    for id in &objects {
        let data = rc.call("GetObjectDataRequest", json!({"ObjectID": id}));
        assert_eq!(data["_Success"], 1, "acknowledged object {id} lost: {data}");
    }
    for id in &assets {
        let test = rc.ok("TestAssetRequest", json!({"AssetID": id}));
        assert_eq!(test["Exists"], true, "acknowledged asset {id} lost: {test}");
    }
}
