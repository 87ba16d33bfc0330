//! The service in-process, without sockets: one `check` helper over a script
//! of requests, each with the status and a text the response must contain.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use dispatcher_rest::{RestConfig, RestRequest, RestResponse, RestService};
use dispatcher_scene::Inventory;
use dispatcher_store::{NewAccount, Store};

struct Fixture {
    _dir: tempfile::TempDir,
    svc: RestService,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Arc::new(Store::open(dir.path()).expect("store"));
    let account = store
        .create_account(&NewAccount {
            first_name: "Test".into(),
            last_name: "User".into(),
            password: "password".into(),
            ..Default::default()
        })
        .expect("account");
    store
        .create_inventory(&Inventory::standard(account.id, &mut uuid::Uuid::new_v4))
        .expect("inventory");
    let config = RestConfig {
        plugins_enabled: true,
        handler_enabled: true,
        god_key: "SECRET".into(),
        ..RestConfig::default()
    };
    Fixture {
        svc: RestService::new(config, store),
        _dir: dir,
    }
}

impl Fixture {
    fn call(&self, method: &str, path: &str, body: &str) -> RestResponse {
        let req = RestRequest {
            method: method.into(),
            path: path.into(),
            headers: vec![
                ("Host".into(), "example.org:9000".into()),
                ("Authorization".into(), format!("Basic {}", B64.encode("Test User:password"))),
            ],
            body: body.as_bytes().to_vec(),
            body_too_large: false,
            peer: "127.0.0.1:5000".parse().expect("addr"),
        };
        self.svc.handle(&req)
    }

    /// Run each (method, path, body, status, text) in order.
    fn check(&self, script: &[(&str, &str, &str, u16, &str)]) {
        for (method, path, body, status, text) in script {
            let r = self.call(method, path, body);
            let shown = String::from_utf8_lossy(&r.body);
            assert_eq!(r.status, *status, "{method} {path}: {shown}");
            assert!(shown.contains(text), "{method} {path}: {text:?} not in {shown}");
            assert_eq!(r.header("connection"), Some("close"));
        }
    }
}

const INV: &str = "/admin/inventory/Test%20User";

#[test]
fn inventory_script() {
    let f = fixture();
    let item = r#"<Item name="a.jpg"><Asset inline="true" type="0">aGk=</Asset></Item>"#;
    f.check(&[
        ("GET", INV, "", 200, "name=\"My Inventory\""),
        ("POST", "/admin/inventory/Test+User/Textures", item, 201, "Created asset a.jpg"),
        ("GET", "/admin/inventory/Test+User/Textures/a.jpg", "", 301, "PERMANENT REDIRECT"),
        ("POST", INV, "<Folder name=\"X\"/><Folder name=\"Y\"/>", 400, "only one root entity is allowed"),
        (
            "PUT",
            "/admin/inventory/Test+User/Textures",
            "<Folder name=\"Pictures\"/>",
            200,
            "Moving folder Pictures",
        ),
        ("GET", "/admin/inventory/Test+User/Pictures", "", 200, "name=\"Pictures\""),
        ("GET", "/admin/inventory/Test+User/Pictures/a.jpg", "", 404, "no such item/folder : a.jpg"),
        ("DELETE", "/admin/inventory/Test+User/Pictures", "", 200, "Deleted folder Pictures"),
        ("DELETE", "/admin/inventory/Test+User/My%20Inventory", "", 400, "root folder cannot be deleted"),
        ("PATCH", INV, "", 405, "patch not supported"),
    ]);
    let r = f.call("POST", INV, "<Folder name=\"Z\"/>");
    assert_eq!(r.header("location"), Some("http://example.org:9000/admin/inventory/Test%20User/Z"));
}

#[test]
fn asset_script() {
    let f = fixture();
    let id = "55555555-5555-5555-5555-555555555555";
    let path = format!("/admin/assets/{id}");
    f.check(&[
        ("PUT", &path, r#"<Asset name="n" type="7" local="true">aGk=</Asset>"#, 201, "Created asset n"),
        ("GET", &path, "", 200, "local=\"True\" temporary=\"False\">aGk=</Asset>"),
        ("HEAD", &path, "", 200, ""),
        ("PUT", &path, r#"<Asset type="x">aGk=</Asset>"#, 400, "invalid asset type"),
        ("DELETE", &path, "", 405, "delete not supported"),
        ("GET", "/admin/assets/zzz", "", 400, "invalid asset id"),
    ]);
    assert!(f.call("HEAD", &path, "").body.is_empty());
}
