//! RemoteControl assets, avatar appearance, chat, sun and terrain
//! (remote-control.md §4.3-§4.7), one test per checklist row (RC-39..RC-65),
//! against the real binary over real sockets.
//!
//! Object assets are the real Penrose files: `T` = the "Penrose Assets"
//! container (region-object layout), whose inventory holds the object asset `N`
//! (inventory layout, trailing NUL), which holds the script `S`.

use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::support::{open_store, Host, REGION};

const T_CONTAINER: &str = "18b10e15-3b7c-4036-8df8-6ba9c1dc2ec1";
const T_TEXTURE: &str = "89556747-24cb-43ed-920b-47caed15465f";
const N_OBJECT: &str = "cc75083c-3ca0-433d-9ba5-a51e86a98933";
const N_ROOT_TEXTURE: &str = "a4dad196-e955-4f7b-bd8c-3732ce667c48";
const S_SCRIPT: &str = "de1e02d4-d6b8-4d3d-94e4-297e8520e50a";
const ZERO: &str = "00000000-0000-0000-0000-000000000000";
const PRIMITIVE: &str = "application/vnd.ll.primitive";

fn scene_fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scene/tests/fixtures").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One member of tests/fixtures/penrose.oar (a gzipped tar).
fn oar_member(suffix: &str) -> Vec<u8> {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/penrose.oar");
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    for entry in archive.entries().expect("oar entries") {
        let mut entry = entry.expect("oar entry");
        if entry.path().expect("path").to_string_lossy().ends_with(suffix) {
            let mut data = Vec::new();
            entry.read_to_end(&mut data).expect("read oar member");
            return data;
        }
    }
    panic!("{suffix} not in the archive")
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().expect("base64 string"))
        .expect("valid base64")
}

fn new_id() -> String {
    // Distinct per call within a test run; the process id keeps runs apart.
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("a55e7000-{:04x}-4b6c-9d8e-{:012x}", std::process::id() & 0xffff, n)
}

/// A host plus a capability for both domains, and RemoteControl request helpers.
struct Rc {
    host: Host,
    cap: String,
}

impl Rc {
    fn start() -> Rc {
        Rc::on(Host::start())
    }

    fn on(host: Host) -> Rc {
        let cap = host.capability(&["Dispatcher", "RemoteControl"]);
        Rc { host, cap }
    }

    fn request(&self, name: &str, members: Value) -> Value {
        let mut req = json!({
            "$type": format!("RemoteControl.Messages.{name}"),
            "_domain": "RemoteControl",
            "_scene": REGION,
            "_capability": self.cap,
            "_asyncrequest": false,
        });
        if let (Some(req), Value::Object(members)) = (req.as_object_mut(), members) {
            req.extend(members);
        }
        req
    }

    fn call(&self, name: &str, members: Value) -> Value {
        self.host.call(&self.request(name, members))
    }

    fn ok(&self, name: &str, members: Value) -> Value {
        let reply = self.call(name, members);
        assert_eq!(reply["_Success"], 1, "{name}: {reply}");
        reply
    }

    /// A failure is always the generic reply (RC-02).
    fn fails(&self, name: &str, members: Value) -> String {
        let reply = self.call(name, members);
        assert_eq!(reply["_Success"], 0, "{name} should fail: {reply}");
        assert_eq!(reply["$type"], "ResponseBase", "{reply}");
        reply["_Message"].as_str().expect("_Message").to_owned()
    }

    fn add_asset(&self, id: &str, bytes: &[u8], content_type: &str, name: &str) -> String {
        let reply = self.ok(
            "AddAsset",
            json!({"Asset": {"$type": "AssetData", "AssetID": id, "SerializedAsset": b64(bytes),
                   "Name": name, "Description": format!("{name} description"),
                   "ContentType": content_type, "CreatorID": self.host.ids["Ada"]}}),
        );
        reply["AssetID"].as_str().expect("AssetID").to_owned()
    }

    fn exists(&self, id: &str) -> bool {
        let reply = self.ok("TestAssetRequest", json!({"AssetID": id}));
        assert_eq!(reply["$type"], "RemoteControl.Messages.TestAssetResponse");
        reply["Exists"].as_bool().expect("Exists")
    }

    fn get_asset(&self, id: &str) -> Value {
        let reply = self.ok("GetAssetRequest", json!({"AssetID": id}));
        assert_eq!(reply["$type"], "RemoteControl.Messages.GetAssetResponse");
        assert_eq!(reply["Asset"]["$type"], "AssetData");
        reply["Asset"].clone()
    }

    /// Uploads `S`, `N` and `T` as OpenSim produced them.
    fn upload_penrose(&self) {
        self.add_asset(S_SCRIPT, &scene_fixture(&format!("{S_SCRIPT}_script.lsl")), "application/vnd.ll.lsltext", "polygon");
        self.add_asset(
            N_OBJECT,
            &scene_fixture(&format!("{N_OBJECT}_object.xml")),
            PRIMITIVE,
            "Penrose Point Generator Json",
        );
        self.add_asset(T_CONTAINER, &scene_fixture("penrose_assets_region_object.xml"), PRIMITIVE, "Penrose Assets");
    }

    fn create_object(&self, asset: &str, name: &str) -> String {
        let reply = self.ok(
            "CreateObjectRequest",
            json!({"AssetID": asset, "Name": name, "Description": format!("{name} here"), "Position": [100.0, 100.0, 25.0]}),
        );
        reply["ObjectID"].as_str().expect("ObjectID").to_owned()
    }

    fn parts(&self, object: &str) -> Vec<Value> {
        let reply = self.ok("GetObjectPartsRequest", json!({"ObjectID": object}));
        reply["Parts"].as_array().expect("Parts").clone()
    }

    fn appearance(&self, avatar: Option<&str>) -> Value {
        let members = match avatar {
            Some(id) => json!({"AvatarID": id}),
            None => json!({}),
        };
        let reply = self.ok("GetAvatarAppearanceRequest", members);
        assert_eq!(reply["$type"], "AvatarAppearanceResponse");
        let text = reply["SerializedAppearance"].as_str().expect("SerializedAppearance is a string");
        serde_json::from_str(text).expect("appearance text is JSON")
    }

    fn sun(&self) -> Value {
        let reply = self.ok("GetSunParametersRequest", json!({}));
        assert_eq!(reply["$type"], "SunParametersResponse");
        reply
    }

    fn height(&self, x: i64, y: i64) -> f64 {
        let reply = self.ok("GetTerrainHeightRequest", json!({"X": x, "Y": y}));
        assert_eq!(reply["$type"], "TerrainHeightResponse");
        reply["Height"].as_f64().expect("Height")
    }

    /// Stop the host and start it again on the same data directory.
    fn restart(self) -> Rc {
        let ids = self.host.ids.clone();
        let (_, dir) = self.host.stop();
        Rc::on(Host::launch(dir, ids, ""))
    }
}

/// The `<Scale>` elements of an object asset, in document order.
fn scales(xml: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(xml);
    text.split("<Scale>")
        .skip(1)
        .filter_map(|s| s.split("</Scale>").next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn rc_39_test_asset_is_true_only_for_stored_assets() {
    let rc = Rc::start();
    let id = new_id();
    rc.add_asset(&id, b"note\0", "application/vnd.ll.notecard", "note");
    assert!(rc.exists(&id));
    assert!(!rc.exists(&new_id()));
    assert!(!rc.exists(ZERO));
    assert!(!rc.exists("not a uuid"));
}

#[test]
fn rc_40_get_asset_returns_the_exact_stored_record_in_json_and_bson() {
    let rc = Rc::start();
    // A real texture from the archive: binary data with every byte value.
    let texture = oar_member(&format!("{T_TEXTURE}_texture.jp2"));
    rc.add_asset(T_TEXTURE, &texture, "image/jp2", "plywood");
    let asset = rc.get_asset(T_TEXTURE);
    assert_eq!(unb64(&asset["SerializedAsset"]), texture);
    assert_eq!(asset["AssetID"], T_TEXTURE);
    assert_eq!(asset["Name"], "plywood");
    assert_eq!(asset["Description"], "plywood description");
    assert_eq!(asset["ContentType"], "image/jp2");
    assert_eq!(asset["CreatorID"], rc.host.ids["Ada"].as_str());
    assert_eq!(rc.fails("GetAssetRequest", json!({"AssetID": new_id()})), "no such asset");

    // BSON: the bytes travel as a binary element, both ways.
    let mut req = bson::Document::new();
    req.insert("$type", "RemoteControl.Messages.GetAssetRequest");
    req.insert("_domain", "RemoteControl");
    req.insert("_scene", REGION);
    req.insert("_capability", rc.cap.as_str());
    req.insert("AssetID", T_TEXTURE);
    let reply = rc.host.call_bson(&req);
    assert_eq!(reply.get_i32("_Success").expect("_Success"), 1, "{reply}");
    let asset = reply.get_document("Asset").expect("Asset");
    assert_eq!(asset.get_str("$type").expect("$type"), "AssetData");
    assert_eq!(asset.get_binary_generic("SerializedAsset").expect("binary"), &texture);

    let id = new_id();
    let mut add = bson::Document::new();
    add.insert("$type", "RemoteControl.Messages.AddAsset");
    add.insert("_domain", "RemoteControl");
    add.insert("_scene", REGION);
    add.insert("_capability", rc.cap.as_str());
    let mut record = bson::Document::new();
    record.insert("AssetID", id.as_str());
    record.insert(
        "SerializedAsset",
        bson::Binary {
            subtype: bson::spec::BinarySubtype::Generic,
            bytes: vec![0, 255, 7],
        },
    );
    record.insert("ContentType", "image/x-j2c");
    add.insert("Asset", record);
    let reply = rc.host.call_bson(&add);
    assert_eq!(reply.get_i32("_Success").expect("_Success"), 1, "{reply}");
    assert_eq!(unb64(&rc.get_asset(&id)["SerializedAsset"]), vec![0, 255, 7]);
}

#[test]
fn rc_41_add_asset_with_a_new_id_stores_it_under_that_id() {
    let rc = Rc::start();
    let id = new_id();
    let reply = rc.ok(
        "AddAssetRequest",
        json!({"Asset": {"AssetID": id, "SerializedAsset": "SGVsbG8sIHdvcmxkIQA=", "Name": "greeting",
               "Description": "a notecard", "ContentType": "application/vnd.ll.notecard",
               "CreatorID": "7e1b2a44-90f3-4c1d-8a6e-3b5c2d9f0a11"}}),
    );
    assert_eq!(reply["$type"], "RemoteControl.Messages.AddAssetResponse");
    assert_eq!(reply["AssetID"], id.as_str());
    let asset = rc.get_asset(&id);
    assert_eq!(
        asset,
        json!({"$type": "AssetData", "AssetID": id, "SerializedAsset": "SGVsbG8sIHdvcmxkIQA=", "Name": "greeting",
               "Description": "a notecard", "ContentType": "application/vnd.ll.notecard",
               "CreatorID": "7e1b2a44-90f3-4c1d-8a6e-3b5c2d9f0a11"})
    );
    assert!(rc.exists(&id));
}

#[test]
fn rc_42_add_asset_with_zero_id_stores_under_the_returned_id() {
    let rc = Rc::start();
    let id = rc.add_asset(ZERO, b"zero", "application/vnd.ll.notecard", "z");
    assert_ne!(id, ZERO);
    assert_eq!(unb64(&rc.get_asset(&id)["SerializedAsset"]), b"zero");
    assert!(!rc.exists(ZERO));
    assert_eq!(rc.fails("GetAssetRequest", json!({"AssetID": ZERO})), "no such asset");
    // A second upload without an id is a second asset.
    assert_ne!(rc.add_asset(ZERO, b"zero", "application/vnd.ll.notecard", "z"), id);
}

#[test]
fn rc_43_re_adding_an_existing_id_keeps_the_first_content() {
    let rc = Rc::start();
    let id = new_id();
    rc.add_asset(&id, b"first", "application/vnd.ll.notecard", "first");
    assert_eq!(rc.add_asset(&id, b"second", "image/jp2", "second"), id);
    let asset = rc.get_asset(&id);
    assert_eq!(unb64(&asset["SerializedAsset"]), b"first");
    assert_eq!(asset["Name"], "first");
    assert_eq!(asset["ContentType"], "application/vnd.ll.notecard");
}

#[test]
fn rc_44_the_add_asset_alias_and_a_nested_type_are_accepted() {
    let rc = Rc::start();
    let id = new_id();
    // Exactly what the Perl inventory tool sends back: a saved GetAsset record.
    let reply = rc.ok(
        "AddAsset",
        json!({"Asset": {"$type": "AssetData", "AssetID": id, "SerializedAsset": "AAEC",
               "Name": "n", "Description": "", "ContentType": "image/x-j2c", "CreatorID": ""}}),
    );
    assert_eq!(reply["$type"], "RemoteControl.Messages.AddAssetResponse");
    assert_eq!(reply["AssetID"], id.as_str());
    assert_eq!(unb64(&rc.get_asset(&id)["SerializedAsset"]), vec![0, 1, 2]);
}

#[test]
fn rc_45_invalid_base64_fails_and_stores_nothing() {
    let rc = Rc::start();
    let id = new_id();
    for bad in ["not base64 at all!", "QUJD=", "@@@@"] {
        rc.fails("AddAsset", json!({"Asset": {"AssetID": id, "SerializedAsset": bad}}));
    }
    rc.fails("AddAssetRequest", json!({"Asset": null}));
    assert!(!rc.exists(&id));
    // Whitespace inside base64 is not an error (line-wrapped uploads).
    rc.ok("AddAsset", json!({"Asset": {"AssetID": id, "SerializedAsset": "SGVs\nbG8="}}));
    assert_eq!(unb64(&rc.get_asset(&id)["SerializedAsset"]), b"Hello");
}

#[test]
fn rc_46_content_types_are_kept_verbatim_and_primitives_rez() {
    let rc = Rc::start();
    rc.upload_penrose();
    assert_eq!(rc.get_asset(N_OBJECT)["ContentType"], PRIMITIVE);
    rc.create_object(N_OBJECT, "from an uploaded primitive");
    let odd = new_id();
    rc.add_asset(&odd, b"?", "text/x-mystery", "odd");
    assert_eq!(rc.get_asset(&odd)["ContentType"], "text/x-mystery");
    // No content type at all: the type's canonical one (unknown type) is reported.
    let bare = new_id();
    rc.ok("AddAsset", json!({"Asset": {"AssetID": bare, "SerializedAsset": "AA=="}}));
    assert_eq!(rc.get_asset(&bare)["ContentType"], "application/octet-stream");
}

#[test]
fn rc_47_get_asset_from_object_mints_a_rezzable_copy() {
    let rc = Rc::start();
    rc.upload_penrose();
    let object = rc.create_object(N_OBJECT, "Tile");
    let first = rc.ok("GetAssetFromObjectRequest", json!({"ObjectID": object}));
    assert_eq!(first["$type"], "RemoteControl.Messages.GetAssetResponse");
    let second = rc.ok("GetAssetFromObjectRequest", json!({"ObjectID": object}));
    let (a, b) = (&first["Asset"], &second["Asset"]);
    assert_eq!(a["$type"], "AssetData");
    assert_ne!(a["AssetID"], b["AssetID"], "a new asset on every call");
    assert_eq!(a["ContentType"], PRIMITIVE);
    assert_eq!(a["Name"], "Tile");
    assert_eq!(a["Description"], "Tile here");
    assert_eq!(a["CreatorID"], rc.host.ids["Ada"].as_str());
    let copy_asset = a["AssetID"].as_str().expect("AssetID");
    assert_eq!(rc.get_asset(copy_asset)["SerializedAsset"], a["SerializedAsset"]);

    let copy = rc.create_object(copy_asset, "Tile");
    let strip = |parts: Vec<Value>| -> Vec<Value> {
        parts
            .into_iter()
            .map(|p| json!([p["LinkNum"], p["Name"], p["Type"], p["OffsetPosition"], p["OffsetRotation"]]))
            .collect()
    };
    let original_parts = strip(rc.parts(&object));
    assert_eq!(original_parts.len(), 5);
    assert_eq!(strip(rc.parts(&copy)), original_parts);
    let again = rc.ok("GetAssetFromObjectRequest", json!({"ObjectID": copy}));
    let xml_a = unb64(&a["SerializedAsset"]);
    assert_eq!(scales(&unb64(&again["Asset"]["SerializedAsset"])), scales(&xml_a));
    assert_eq!(scales(&xml_a).len(), 5);
}

#[test]
fn rc_48_get_asset_from_an_unknown_object_fails() {
    let rc = Rc::start();
    assert_eq!(rc.fails("GetAssetFromObjectRequest", json!({"ObjectID": new_id()})), "no such object");
    assert_eq!(rc.fails("GetAssetFromObjectRequest", json!({})), "no such object");
}

#[test]
fn rc_49_dependent_assets_follow_nested_objects() {
    let rc = Rc::start();
    rc.upload_penrose();
    let reply = rc.ok("GetDependentAssetsRequest", json!({"AssetID": T_CONTAINER}));
    assert_eq!(reply["$type"], "RemoteControl.Messages.GetDependentAssetsResponse");
    let deps: Vec<&str> = reply["DependentAssets"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(deps[0], T_CONTAINER, "the asset itself comes first");
    for want in [T_TEXTURE, N_OBJECT, N_ROOT_TEXTURE, S_SCRIPT] {
        assert!(deps.contains(&want), "{want} missing from {deps:?}");
    }
    let unique: std::collections::HashSet<_> = deps.iter().collect();
    assert_eq!(unique.len(), deps.len(), "no duplicates");
    assert_eq!(rc.fails("GetDependentAssetsRequest", json!({"AssetID": new_id()})), "no such asset");
    assert_eq!(rc.fails("GetDependentAssetsRequest", json!({"AssetID": ZERO})), "no such asset");
}

#[test]
fn rc_50_an_opensim_object_asset_rezzes() {
    let rc = Rc::start();
    let xml = scene_fixture(&format!("{N_OBJECT}_object.xml"));
    assert_eq!(xml.last(), Some(&0), "the fixture keeps OpenSim's trailing NUL");
    rc.add_asset(N_OBJECT, &xml, PRIMITIVE, "Penrose Point Generator Json");
    let object = rc.create_object(N_OBJECT, "Generator");
    let names: Vec<Value> = rc.parts(&object).iter().map(|p| json!([p["LinkNum"], p["Name"]])).collect();
    assert_eq!(
        names,
        vec![json!([1, "Generator"]), json!([2, "D"]), json!([3, "A"]), json!([4, "B"]), json!([5, "C"])]
    );
}

#[test]
fn rc_51_get_avatar_appearance_defaults_to_the_caller() {
    let rc = Rc::start();
    let doc = rc.appearance(None);
    let keys: Vec<&str> = doc.as_object().expect("object").keys().map(String::as_str).collect();
    for key in ["serial", "height", "wearables", "textures", "visualparams", "attachments"] {
        assert!(keys.contains(&key), "{key} missing in {keys:?}");
    }
    assert_eq!(doc["wearables"].as_array().expect("wearables").len(), 16);
    assert_eq!(doc["textures"].as_array().expect("textures").len(), 21);
    let params = doc["visualparams"].as_array().expect("visualparams");
    assert_eq!(params.len(), 218);
    assert!(params.iter().all(|v| v.as_u64().is_some_and(|n| n <= 255)));
    assert!(doc["attachments"].is_array());
    assert_eq!(rc.appearance(Some(&rc.host.ids["Ada"])), doc);
    // Another account by id.
    assert_eq!(rc.appearance(Some(&rc.host.ids["Bob"]))["serial"], doc["serial"]);
}

#[test]
fn rc_52_an_unknown_avatar_is_not_found() {
    let rc = Rc::start();
    let id = new_id();
    let msg = rc.fails("GetAvatarAppearanceRequest", json!({"AvatarID": id}));
    assert!(msg.starts_with("cannot find user "), "{msg}");
    let msg = rc.fails("SetAvatarAppearanceRequest", json!({"AvatarID": id, "SerializedAppearance": "{}"}));
    assert!(msg.starts_with("cannot find user "), "{msg}");
}

#[test]
fn rc_53_set_avatar_appearance_bumps_serial_and_persists() {
    let rc = Rc::start();
    let before = rc.appearance(None);
    let serial = before["serial"].as_i64().expect("serial");
    let mut doc = before.clone();
    doc["serial"] = json!(999);
    doc["height"] = json!(9.5);
    doc["visualparams"][25] = json!(255);
    let shirt = json!([{"item": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "asset": "a55e7000-0004-4b6c-9d8e-112233445566"}]);
    doc["wearables"][4] = shirt.clone();
    let reply = rc.ok("SetAvatarAppearanceRequest", json!({"SerializedAppearance": doc.to_string()}));
    assert_eq!(reply["$type"], "ResponseBase");

    let check = |after: &Value| {
        assert_eq!(after["serial"].as_i64(), Some(serial + 1), "{after}");
        assert_eq!(after["visualparams"][25], 255);
        assert_eq!(after["wearables"][4], shirt);
        assert_ne!(after["height"], json!(9.5), "height is recomputed");
        assert!(after["height"].as_f64().expect("height") > before["height"].as_f64().expect("height"));
    };
    check(&rc.appearance(None));
    // "Leaves and re-enters": the host restarts; the appearance is the account's.
    let rc = rc.restart();
    check(&rc.appearance(None));
}

#[test]
fn rc_54_a_bad_appearance_fails_and_changes_nothing() {
    let rc = Rc::start();
    let before = rc.appearance(None);
    let few = json!({"visualparams": vec![1; 148]}).to_string();
    for bad in ["not json", "[1,2]", few.as_str(), r#"{"textures":[5]}"#] {
        rc.fails("SetAvatarAppearanceRequest", json!({"SerializedAppearance": bad}));
    }
    assert_eq!(rc.appearance(None), before);
}

#[test]
fn rc_55_set_avatar_appearance_empties_the_current_outfit_folder() {
    use dispatcher_scene::inventory::FOLDER_TYPE_CURRENT_OUTFIT;
    use dispatcher_scene::{AssetType, Inventory, InventoryFolder, InventoryItem, Permissions, SceneLimits, Uuid};

    let dir = tempfile::tempdir().expect("tempdir");
    let ids = crate::support::seed(dir.path());
    let ada: Uuid = ids["Ada"].parse().expect("uuid");
    let (outfit, kept) = (Uuid::new_v4(), Uuid::new_v4());
    {
        let store = open_store(dir.path());
        let mut inv = Inventory::standard(ada, &mut Uuid::new_v4);
        let limits = SceneLimits::default();
        let root = inv.root_id();
        inv.upsert_folder(
            InventoryFolder {
                id: outfit,
                parent_id: root,
                owner_id: ada,
                name: "Current Outfit".into(),
                folder_type: FOLDER_TYPE_CURRENT_OUTFIT,
                version: 1,
            },
            &limits,
        )
        .expect("folder");
        let item = |id: Uuid, folder_id: Uuid| InventoryItem {
            id,
            folder_id,
            owner_id: ada,
            creator_id: ada.to_string(),
            name: "link".into(),
            description: String::new(),
            asset_id: Uuid::new_v4(),
            asset_type: AssetType::Clothing,
            inv_type: 18,
            permissions: Permissions::default(),
            group_id: Uuid::nil(),
            group_owned: false,
            sale_type: 0,
            sale_price: 0,
            flags: 0,
            creation_date: 0,
        };
        inv.upsert_item(item(Uuid::new_v4(), outfit), &limits).expect("item");
        inv.upsert_item(item(kept, root), &limits).expect("item");
        store.create_inventory(&inv).expect("create inventory");
    }
    let rc = Rc::on(Host::launch(dir, ids, ""));
    // A failing request leaves the folder alone (Q-36).
    rc.fails("SetAvatarAppearanceRequest", json!({"SerializedAppearance": "nope"}));
    let doc = rc.appearance(None).to_string();
    let outfit_items = |rc: &Rc| {
        let store = open_store(rc.host.dir.path());
        let inv = store.inventory(ada).expect("read").expect("inventory");
        (inv.folder_items(outfit).count(), inv.item(kept).is_some())
    };
    assert_eq!(outfit_items(&rc), (1, true));
    rc.ok("SetAvatarAppearanceRequest", json!({"SerializedAppearance": doc}));
    assert_eq!(outfit_items(&rc), (0, true));
}

#[test]
fn rc_56_chat_is_accepted_with_defaults_and_checked_members() {
    let rc = Rc::start();
    let reply = rc.ok("ChatRequest", json!({}));
    assert_eq!(reply, json!({"$type": "ResponseBase", "_Success": 1, "_Message": ""}));
    rc.ok("ChatRequest", json!({"Message": "Welcome", "Position": ["128", "128", "30"], "Channel": "5"}));
    rc.ok("ChatRequest", json!({"Message": "hi", "Position": null, "Channel": -3}));
    rc.fails("ChatRequest", json!({"Position": [1, 2]}));
    rc.fails("ChatRequest", json!({"Position": "here"}));
    rc.fails("ChatRequest", json!({"Channel": 0.5}));
    let long = "x".repeat(64 * 1024 + 1);
    assert!(rc.fails("ChatRequest", json!({"Message": long})).contains("too long"));
}

#[test]
fn rc_58_a_fresh_region_reports_the_default_sun() {
    let rc = Rc::start();
    let sun = rc.sun();
    assert_eq!(sun["YearLength"].as_f64(), Some(60.0));
    assert_eq!(sun["DayLength"].as_f64(), Some(4.0));
    assert_eq!(sun["HorizonShift"].as_f64(), Some(0.5));
    assert_eq!(sun["DayTimeSunHourScale"].as_f64(), Some(0.5));
    let t = sun["CurrentTime"].as_f64().expect("CurrentTime");
    assert!((0.0..24.0).contains(&t), "{t}");
}

#[test]
fn rc_59_set_sun_applies_only_positive_values() {
    let rc = Rc::start();
    let reply = rc.ok(
        "SetSunParametersRequest",
        json!({"YearLength": 61.9, "DayLength": 0.0, "HorizonShift": -1.0, "DayTimeSunHourScale": 0.25, "CurrentTime": 3}),
    );
    assert_eq!(reply["$type"], "SunParametersResponse");
    for sun in [&reply, &rc.sun()] {
        assert_eq!(sun["YearLength"].as_f64(), Some(61.0));
        assert_eq!(sun["DayLength"].as_f64(), Some(4.0));
        assert_eq!(sun["HorizonShift"].as_f64(), Some(0.5));
        assert_eq!(sun["DayTimeSunHourScale"].as_f64(), Some(0.25));
    }
    // Persisted with the region.
    let rc = rc.restart();
    assert_eq!(rc.sun()["YearLength"].as_f64(), Some(61.0));
}

#[test]
fn rc_60_current_time_is_set_now_and_defaults_to_midnight() {
    let rc = Rc::start();
    let reply = rc.ok("SetSunParametersRequest", json!({"DayLength": 2.0, "CurrentTime": 12.0}));
    assert!((reply["CurrentTime"].as_f64().expect("t") - 12.0).abs() < 0.05, "{reply}");
    assert!((rc.sun()["CurrentTime"].as_f64().expect("t") - 12.0).abs() < 0.05);
    let reply = rc.ok("SetSunParametersRequest", json!({}));
    let t = reply["CurrentTime"].as_f64().expect("t");
    assert!(!(0.05..=23.95).contains(&t), "≈ 0 expected, got {t}");
    assert_eq!(reply["DayLength"].as_f64(), Some(2.0), "zero keeps the day length");
}

#[test]
fn rc_61_current_time_is_taken_modulo_24() {
    let rc = Rc::start();
    let t = rc.ok("SetSunParametersRequest", json!({"CurrentTime": -6}))["CurrentTime"]
        .as_f64()
        .expect("t");
    assert!((t - 18.0).abs() < 0.05, "{t}");
    let t = rc.ok("SetSunParametersRequest", json!({"CurrentTime": 30}))["CurrentTime"]
        .as_f64()
        .expect("t");
    assert!((t - 6.0).abs() < 0.05, "{t}");
}

#[test]
fn rc_62_set_and_get_terrain_height() {
    let rc = Rc::start();
    let neighbours = [(127, 64), (129, 64), (128, 63), (128, 65)];
    let before: Vec<f64> = neighbours.iter().map(|&(x, y)| rc.height(x, y)).collect();
    let reply = rc.ok("SetTerrainHeightRequest", json!({"X": 128, "Y": 64, "Height": 23.5}));
    assert_eq!(reply["$type"], "TerrainHeightResponse");
    assert_eq!((reply["X"].as_i64(), reply["Y"].as_i64()), (Some(128), Some(64)));
    assert!((reply["Height"].as_f64().expect("Height") - 23.5).abs() < 0.01);
    assert!((rc.height(128, 64) - 23.5).abs() < 0.01);
    let after: Vec<f64> = neighbours.iter().map(|&(x, y)| rc.height(x, y)).collect();
    assert_eq!(after, before);
    // The stored value is an f32 widened to double.
    let reply = rc.ok("SetTerrainHeightRequest", json!({"X": 1, "Y": 1, "Height": 20.3}));
    assert_eq!(reply["Height"].as_f64(), Some(20.299999237060547));
    // Committed: a restart keeps it.
    let rc = rc.restart();
    assert!((rc.height(128, 64) - 23.5).abs() < 0.01);
}

#[test]
fn rc_63_get_terrain_height_out_of_range_is_zero() {
    let rc = Rc::start();
    let reply = rc.ok("GetTerrainHeightRequest", json!({"X": 300, "Y": 5}));
    assert_eq!(reply["X"].as_i64(), Some(300));
    assert_eq!(reply["Height"].as_f64(), Some(0.0));
    assert_eq!(rc.height(-1, 0), 0.0);
}

#[test]
fn rc_64_set_terrain_height_out_of_range_fails_without_change() {
    let rc = Rc::start();
    let before = rc.height(0, 0);
    for (x, y) in [(-1, 0), (256, 0), (0, 256), (0, -1)] {
        let msg = rc.fails("SetTerrainHeightRequest", json!({"X": x, "Y": y, "Height": 5.0}));
        assert!(msg.starts_with("Fatal error; "), "{msg}");
    }
    assert_eq!(rc.height(0, 0), before);
    assert_eq!(rc.height(255, 0), before);
}

#[test]
fn rc_65_terrain_coordinates_are_integers_with_defaults() {
    let rc = Rc::start();
    rc.fails("SetTerrainHeightRequest", json!({"X": 128.5, "Y": 3}));
    rc.fails("GetTerrainHeightRequest", json!({"X": 128.5}));
    let reply = rc.ok("SetTerrainHeightRequest", json!({"X": "128", "Y": 3, "Height": 22}));
    assert_eq!(reply["X"].as_i64(), Some(128));
    // Absent X/Y are 0, absent Height is 20.
    let reply = rc.ok("SetTerrainHeightRequest", json!({}));
    assert_eq!((reply["X"].as_i64(), reply["Y"].as_i64(), reply["Height"].as_f64()), (Some(0), Some(0), Some(20.0)));
    assert_eq!(rc.height(0, 0), 20.0);
}
