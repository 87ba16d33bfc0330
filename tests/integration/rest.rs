//! rest-inventory.md §12, one test per REST-nn row, plus a round trip of the
//! penrose archive and the refusals of bad input. Every test starts the real
//! binary with REST enabled and talks HTTP through ureq.

use std::io::Read;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use md5::{Digest, Md5};

use crate::support::*;

/// The §12 fixture.
const INI: &str = "[RestPlugins]\nenabled = true\ngod_key = SECRET\nprefix = /admin\n[RestHandler]\nenabled = true\n";
const INV: &str = "/admin/inventory/Test%20User";
const NIL: &str = "00000000-0000-0000-0000-000000000000";
const REF: &str = "66666666-6666-6666-6666-666666666666";

struct Rest {
    host: Host,
    agent: ureq::Agent,
    user_id: String,
}

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or("")
    }
    /// Status, and for pages the message text.
    fn expect(&self, status: u16, message: &str) -> &Resp {
        assert_eq!(self.status, status, "body: {}", self.text());
        assert!(self.text().contains(message), "{message:?} not in {}", self.text());
        self
    }
}

fn md5_hex(text: &str) -> String {
    hex::encode(Md5::digest(text.as_bytes()))
}

fn basic(credentials: &str) -> String {
    format!("Basic {}", B64.encode(credentials))
}

fn auth() -> String {
    basic("Test User:password")
}

/// A host with the §12 fixture: `Test User` (password "password") holding the
/// standard inventory of §7.8, and the usual seeded accounts.
fn start(ini: &str) -> Rest {
    let dir = tempfile::tempdir().expect("tempdir");
    let ids = seed(dir.path());
    let user_id = cli(
        dir.path(),
        &["user", "create", "--first", "Test", "--last", "User", "--password", "password", "--no-inventory"],
    );
    {
        let store = open_store(dir.path());
        // Ada has one too (another avatar's UUIDs); Carol has none (REST-27).
        for id in [&user_id, &ids["Ada"]] {
            let id = uuid::Uuid::parse_str(id).expect("uuid");
            let inv = dispatcher_scene::Inventory::standard(id, &mut uuid::Uuid::new_v4);
            store.create_inventory(&inv).expect("inventory");
        }
    }
    let host = Host::launch(dir, ids, ini);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    Rest { host, agent, user_id }
}

impl Rest {
    fn send(&self, method: &str, path: &str, authorization: Option<&str>, body: Option<&[u8]>) -> Resp {
        let mut b = ureq::http::Request::builder().method(method).uri(self.host.url(path));
        if let Some(a) = authorization {
            b = b.header("Authorization", a);
        }
        let result = match body {
            Some(data) => self.agent.run(b.body(data.to_vec()).expect("request")),
            None => self.agent.run(b.body(()).expect("request")),
        };
        let mut resp = result.expect("HTTP exchange");
        let headers = resp
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let mut body = Vec::new();
        let _ = resp.body_mut().as_reader().read_to_end(&mut body);
        Resp {
            status: resp.status().as_u16(),
            headers,
            body,
        }
    }
    fn get(&self, path: &str) -> Resp {
        self.send("GET", path, Some(&auth()), None)
    }
    fn head(&self, path: &str) -> Resp {
        self.send("HEAD", path, Some(&auth()), None)
    }
    fn put(&self, path: &str, body: &str) -> Resp {
        self.send("PUT", path, Some(&auth()), Some(body.as_bytes()))
    }
    fn post(&self, path: &str, body: &str) -> Resp {
        self.send("POST", path, Some(&auth()), Some(body.as_bytes()))
    }
    fn delete(&self, path: &str) -> Resp {
        self.send("DELETE", path, Some(&auth()), None)
    }
    /// The whole inventory as GET shows it.
    fn inventory(&self) -> String {
        let r = self.get(INV);
        assert_eq!(r.status, 200, "{}", r.text());
        r.text()
    }
    fn store(&self) -> dispatcher_store::Store {
        open_store(self.host.dir.path())
    }
    fn stored_hash(&self) -> String {
        self.store()
            .account_by_name("Test", "User")
            .expect("query")
            .expect("account")
            .password_hash
    }
    /// The `uuid` of the first element named `name` in a GET body.
    fn uuid_of(&self, name: &str) -> String {
        attr_of(&self.inventory(), name, "uuid")
    }
}

/// Attribute `attr` of the first element whose `name` attribute is `name`.
fn attr_of(xml: &str, name: &str, attr: &str) -> String {
    let at = xml
        .find(&format!("name=\"{name}\""))
        .unwrap_or_else(|| panic!("{name} not in {xml}"));
    let rest = &xml[at..];
    let key = format!(" {attr}=\"");
    let start = rest.find(&key).expect("attribute") + key.len();
    rest[start..start + rest[start..].find('"').expect("end")].to_owned()
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// A Digest `Authorization` value for a challenge's nonce (RFC 2617, qop=auth).
fn digest(user: &str, realm: &str, material: &str, method: &str, uri: &str, nonce: &str, nc: &str) -> String {
    let ha1 = md5_hex(&format!("{user}:{realm}:{material}"));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    let cnonce = "0a4f113b";
    let response = md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
    format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", qop=auth, nc={nc}, cnonce=\"{cnonce}\", response=\"{response}\""
    )
}

fn nonce_of(challenge: &str) -> String {
    let start = challenge.find("nonce=\"").expect("nonce") + 7;
    challenge[start..start + challenge[start..].find('"').expect("end")].to_owned()
}

const DIGEST_INI: &str =
    "[RestPlugins]\nenabled = true\ngod_key = SECRET\nprefix = /admin\n[RestHandler]\nenabled = true\nauth-scheme = Digest\n";

const EXAMPLE_B: &str = r#"<Folder name="Imports">
    <Folder name="Logos" type="0">
        <Item name="banner.jpg" desc="Banner">
            <Permissions current="7FFFFFFF" next="82000" everyone="0" group="0" base="7FFFFFFF"/>
            <Asset inline="true" type="0">/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAP8=</Asset>
        </Item>
    </Folder>
    <Item name="readme" desc="notes" invtype="7" assettype="7">
        <Asset>66666666-6666-6666-6666-666666666666</Asset>
    </Item>
</Folder>"#;

fn item_xml(name: &str) -> String {
    format!(r#"<Item name="{name}"><Asset>{REF}</Asset></Item>"#)
}

// ---- §2, §3: enabling, prefix, routing, normalisation ----

#[test]
fn rest_01_disabled_is_not_served() {
    for ini in [
        "[RestPlugins]\nenabled = true\ngod_key = SECRET\n[RestHandler]\nenabled = false\n",
        "[RestPlugins]\nenabled = false\n[RestHandler]\nenabled = true\n",
    ] {
        let rest = start(ini);
        let r = rest.get(INV);
        assert_eq!(r.status, 404);
        assert!(!r.content_type().contains("html"), "host 404, not a REST page");
    }
}

#[test]
fn rest_02_prefix_without_slash_gets_one() {
    let rest = start("[RestPlugins]\nenabled = true\nprefix = admin\n[RestHandler]\nenabled = true\n");
    let id = "55555555-5555-5555-5555-555555555555";
    rest.put(&format!("/admin/assets/{id}"), r#"<Asset name="n" type="7">aGk=</Asset>"#)
        .expect(201, "Created asset");
    rest.get(&format!("/admin/assets/{id}")).expect(200, "aGk=");
}

#[test]
fn rest_03_prefix_is_case_insensitive() {
    let rest = start(INI);
    rest.get("/ADMIN/INVENTORY/Test%20User").expect(200, "My Inventory");
    let upper = start("[RestPlugins]\nenabled = true\nprefix = /Admin/\n[RestHandler]\nenabled = true\n");
    upper.get(INV).expect(200, "My Inventory");
}

#[test]
fn rest_04_prefix_matches_on_segment_boundary() {
    let rest = start(INI);
    let r = rest.get("/admin/inventoryx/Test%20User");
    assert_eq!(r.status, 404);
    assert!(!r.text().contains("NOT FOUND"), "{}", r.text());
}

#[test]
fn rest_05_plus_and_percent_20_are_spaces() {
    let rest = start(INI);
    let a = rest.get("/admin/inventory/Test+User");
    let b = rest.get("/admin/inventory/Test%20User");
    assert_eq!(a.status, 200);
    assert_eq!(a.body, b.body);
}

#[test]
fn rest_06_extended_escape_off_keeps_plus() {
    let rest = start(&format!("{INI}extended-escape = false\n"));
    rest.get("/admin/inventory/Test+User").expect(400, "invalid user identity");
}

#[test]
fn rest_07_trailing_slash_and_query_are_ignored() {
    let rest = start(INI);
    let plain = rest.get(INV);
    assert_eq!(rest.get(&format!("{INV}/")).body, plain.body);
    assert_eq!(rest.get(&format!("{INV}?x=1")).body, plain.body);
}

// ---- §4: authentication ----

#[test]
fn rest_08_no_authorization_is_challenged() {
    let rest = start(INI);
    for path in [INV, "/admin/assets/55555555-5555-5555-5555-555555555555", "/admin/appearance/Test%20User"] {
        let r = rest.send("GET", path, None, None);
        assert_eq!(r.status, 401);
        assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"OpenSim REST\""));
        assert!(r.content_type().starts_with("text/html"));
        assert!(r.text().contains("(401) : NOT AUTHORIZED"), "{}", r.text());
    }
}

#[test]
fn rest_09_realm_is_configurable() {
    let rest = start(&format!("{INI}realm = Foo\n"));
    let r = rest.send("GET", INV, None, None);
    assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"Foo\""));
}

#[test]
fn rest_10_wrong_password_is_challenged() {
    let rest = start(INI);
    let r = rest.send("GET", INV, Some(&basic("Test User:wrong")), None);
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").is_some());
}

#[test]
fn rest_11_right_password_is_accepted() {
    let rest = start(INI);
    rest.send("GET", INV, Some(&basic("Test User:password")), None)
        .expect(200, "<Inventory>");
}

#[test]
fn rest_12_god_key_for_unknown_name() {
    let rest = start(INI);
    rest.send("GET", INV, Some(&basic("nobody:SECRET")), None)
        .expect(200, "<Inventory>");
}

#[test]
fn rest_13_god_key_not_for_existing_account() {
    let rest = start(INI);
    assert_eq!(rest.send("GET", INV, Some(&basic("Test User:SECRET")), None).status, 401);
}

#[test]
fn rest_14_empty_god_key_admits_nobody() {
    let rest = start("[RestPlugins]\nenabled = true\n[RestHandler]\nenabled = true\n");
    assert_eq!(rest.send("GET", INV, Some(&basic("nobody:")), None).status, 401);
    assert_eq!(rest.send("GET", INV, Some(&basic("nobody")), None).status, 401);
}

#[test]
fn rest_15_malformed_basic_tokens_fail() {
    let rest = start(INI);
    for header in [basic("nocolon"), basic(":SECRET"), basic("   :SECRET"), "Basic !!!not-base64".to_owned()] {
        assert_eq!(rest.send("GET", INV, Some(&header), None).status, 401, "{header}");
    }
}

#[test]
fn rest_16_digest_credentials_under_basic_are_challenged() {
    let rest = start(INI);
    let header = digest("Test User", "OpenSim REST", "x", "GET", INV, "bm9uY2U=", "00000001");
    let r = rest.send("GET", INV, Some(&header), None);
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"OpenSim REST\""));
}

#[test]
fn rest_17_authenticate_false_needs_nothing() {
    let rest = start(&format!("{INI}authenticate = false\n"));
    rest.send("GET", INV, None, None).expect(200, "<Inventory>");
    rest.send("GET", INV, Some("Basic garbage"), None).expect(200, "<Inventory>");
}

#[test]
fn rest_18_digest_challenge_format_and_fresh_nonces() {
    let rest = start(DIGEST_INI);
    let a = rest.send("GET", INV, None, None);
    let b = rest.send("GET", INV, None, None);
    assert_eq!(a.status, 401);
    let challenges = a.all("www-authenticate");
    assert_eq!(challenges.len(), 1);
    let c = challenges[0];
    assert!(c.starts_with("Digest realm=\"OpenSim REST\",nonce=\""), "{c}");
    assert!(c.ends_with("\",algorithm=MD5,qop=\"auth\",domain=\"/admin/inventory\""), "{c}");
    assert_ne!(nonce_of(c), nonce_of(b.header("www-authenticate").expect("challenge")));
}

#[test]
fn rest_19_digest_with_stored_hash_is_accepted() {
    let rest = start(DIGEST_INI);
    let nonce = nonce_of(rest.send("GET", INV, None, None).header("www-authenticate").expect("challenge"));
    let header = digest("Test User", "OpenSim REST", &rest.stored_hash(), "GET", INV, &nonce, "00000001");
    rest.send("GET", INV, Some(&header), None).expect(200, "<Inventory>");
    // The next count on the same nonce is fine too.
    let header = digest("Test User", "OpenSim REST", &rest.stored_hash(), "GET", INV, &nonce, "00000002");
    rest.send("GET", INV, Some(&header), None).expect(200, "<Inventory>");
}

#[test]
fn rest_20_digest_rule_violations() {
    let rest = start(DIGEST_INI);
    let hash = rest.stored_hash();
    let challenge = || nonce_of(rest.send("GET", INV, None, None).header("www-authenticate").expect("challenge"));
    let nonce = challenge();
    let good = digest("Test User", "OpenSim REST", &hash, "GET", INV, &nonce, "00000001");
    let no_response = good.split(", response=").next().expect("prefix").to_owned();
    assert_eq!(rest.send("GET", INV, Some(&no_response), None).status, 400);
    let no_cnonce = good.replace(", cnonce=\"0a4f113b\"", "");
    assert_eq!(rest.send("GET", INV, Some(&no_cnonce), None).status, 400);
    rest.send("GET", INV, Some(&good), None).expect(200, "<Inventory>");
    // The same nc again on this nonce: a replay.
    assert_eq!(rest.send("GET", INV, Some(&good), None).status, 400);
    let nonce = challenge();
    let sess = digest("Test User", "OpenSim REST", &hash, "GET", INV, &nonce, "00000001") + ", algorithm=MD5-sess";
    assert_eq!(rest.send("GET", INV, Some(&sess), None).status, 401);
    let opaque = digest("Test User", "OpenSim REST", &hash, "GET", INV, &nonce, "00000001") + ", opaque=\"x\"";
    assert_eq!(rest.send("GET", INV, Some(&opaque), None).status, 401);
    let twice = digest("Test User", "OpenSim REST", &hash, "GET", INV, &nonce, "00000001") + ", nc=00000002";
    assert_eq!(rest.send("GET", INV, Some(&twice), None).status, 400);
    // A nonce this server never issued.
    let forged = digest("Test User", "OpenSim REST", &hash, "GET", INV, "Zm9yZ2Vk", "00000001");
    assert_eq!(rest.send("GET", INV, Some(&forged), None).status, 401);
}

#[test]
fn rest_21_large_unauthorised_body_is_drained_then_challenged() {
    let rest = start(INI);
    let body = vec![b'x'; 4 * 1024 * 1024];
    let r = rest.send("PUT", &format!("{INV}/Textures"), None, Some(&body));
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").is_some());
}

// ---- §6.1, §6.2: avatar ----

#[test]
fn rest_22_missing_identity() {
    let rest = start(INI);
    rest.get("/admin/inventory").expect(400, "no user identity specified");
}

#[test]
fn rest_23_authentication_comes_first() {
    let rest = start(INI);
    assert_eq!(rest.send("GET", "/admin/inventory", None, None).status, 401);
}

#[test]
fn rest_24_avatar_by_uuid_forms() {
    let rest = start(INI);
    let canonical = rest.get(&format!("/admin/inventory/{}", rest.user_id));
    canonical.expect(200, "My Inventory");
    let simple = rest.user_id.replace('-', "").to_uppercase();
    assert_eq!(rest.get(&format!("/admin/inventory/{simple}")).body, canonical.body);
}

#[test]
fn rest_25_invalid_identity() {
    let rest = start(INI);
    rest.get("/admin/inventory/Test").expect(400, "invalid user identity");
    rest.get("/admin/inventory/Test%20Big%20User").expect(400, "invalid user identity");
    rest.get("/admin/inventory/Test%20%20User").expect(400, "invalid user identity");
}

#[test]
fn rest_26_unknown_identity() {
    let rest = start(INI);
    rest.get("/admin/inventory/No%20Body").expect(404, "unrecognized user identity");
    rest.get("/admin/inventory/12345678-1234-1234-1234-123456789abc")
        .expect(404, "unrecognized user identity");
}

#[test]
fn rest_27_account_without_inventory() {
    let rest = start(INI);
    rest.get("/admin/inventory/Carol%20Visitor")
        .expect(404, "no local inventory for user");
}

// ---- §6.3, §6.4, §7.1: GET ----

#[test]
fn rest_28_full_get_is_the_standard_inventory() {
    let rest = start(INI);
    let r = rest.get(INV);
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type(), "application/xml");
    let xml = r.text();
    assert!(xml.starts_with("<Inventory>"), "{xml}");
    assert_eq!(count(&xml, "parent=\"00000000-0000-0000-0000-000000000000\""), 1);
    assert!(xml.contains(&format!("<Folder name=\"My Inventory\" uuid=\"{}\" parent=\"{NIL}\"", rest.uuid_of("My Inventory"))));
    assert_eq!(count(&xml, "<Folder "), 15);
    for name in [
        "Animations",
        "Body Parts",
        "Calling Cards",
        "Clothing",
        "Gestures",
        "Landmarks",
        "Lost And Found",
        "Notecards",
        "Objects",
        "Photo Album",
        "Scripts",
        "Sounds",
        "Textures",
        "Trash",
    ] {
        assert!(xml.contains(&format!("name=\"{name}\"")), "{name}");
    }
}

#[test]
fn rest_29_attribute_set_and_formats() {
    let rest = start(INI);
    let body = r#"<Item name="logo.jpg" desc="Company logo" uuid="44444444-4444-4444-4444-444444444444" creationdate="1243836000" groupowned="true" flags="7"><Permissions current="7FFFFFFF" next="82000" group="0" everyone="0" base="7FFFFFFF"/><Asset>55555555-5555-5555-5555-555555555555</Asset></Item>"#;
    rest.post(&format!("{INV}/Textures"), body).expect(201, "Created item");
    let r = rest.get(&format!("{INV}/Textures"));
    assert!(!r.body.starts_with(b"\xEF\xBB\xBF"), "no BOM");
    let xml = r.text();
    assert!(!xml.contains("<?xml"));
    let t = rest.uuid_of("Textures");
    let root = rest.uuid_of("My Inventory");
    let u = &rest.user_id;
    assert!(
        xml.contains(&format!(
            "<Folder name=\"Textures\" uuid=\"{t}\" parent=\"{root}\" owner=\"{u}\" type=\"0\" version=\"1\">"
        )),
        "{xml}"
    );
    assert!(xml.contains(&format!(
        "<Item name=\"logo.jpg\" desc=\"Company logo\" uuid=\"44444444-4444-4444-4444-444444444444\" folder=\"{t}\" owner=\"{u}\" creator=\"{u}\" creationdate=\"1243836000\" invtype=\"0\" assettype=\"19\" groupowned=\"True\" groupid=\"{NIL}\" saletype=\"0\" saleprice=\"0\" flags=\"7\">"
    )), "{xml}");
    assert!(
        xml.contains("<Permissions current=\"7FFFFFFF\" next=\"82000\" group=\"0\" everyone=\"0\" base=\"7FFFFFFF\" />"),
        "{xml}"
    );
    assert!(xml.contains("<Asset>55555555-5555-5555-5555-555555555555</Asset>"));
    // An empty folder is an empty element; <Inventory> always has an end tag.
    let sounds = rest.get(&format!("{INV}/Sounds")).text();
    assert!(sounds.contains("type=\"1\" version=\"1\" />"), "{sounds}");
    assert!(sounds.trim_end().ends_with("</Inventory>"));
}

#[test]
fn rest_30_root_name_is_absorbed() {
    let rest = start(INI);
    let a = rest.get(&format!("{INV}/Textures"));
    let b = rest.get(&format!("{INV}/My%20Inventory/Textures"));
    assert_eq!(a.status, 200);
    assert!(a.text().contains("name=\"Textures\""));
    assert!(!a.text().contains("name=\"Sounds\""));
    assert_eq!(a.body, b.body);
}

#[test]
fn rest_31_uuid_segments_in_any_case() {
    let rest = start(INI);
    let t = rest.uuid_of("Textures");
    let by_name = rest.get(&format!("{INV}/Textures"));
    assert_eq!(rest.get(&format!("{INV}/{t}")).body, by_name.body);
    assert_eq!(rest.get(&format!("{INV}/{}", t.to_uppercase())).body, by_name.body);
}

#[test]
fn rest_32_names_are_case_sensitive() {
    let rest = start(INI);
    rest.get(&format!("{INV}/textures")).expect(404, "no such item/folder : textures");
}

#[test]
fn rest_33_ambiguous_names() {
    let rest = start(INI);
    rest.post(INV, r#"<Folder name="Dup"/>"#).expect(201, "Created folder");
    rest.post(INV, r#"<Folder name="Dup"/>"#).expect(201, "Created folder");
    rest.get(&format!("{INV}/Dup"))
        .expect(409, "ambiguous element (1) in path specified: </admin/inventory/Test User/Dup>");
    // A folder and an item with one name count together too.
    rest.post(INV, r#"<Folder name="Both"/>"#).expect(201, "");
    rest.post(INV, &item_xml("Both")).expect(201, "");
    rest.get(&format!("{INV}/Both")).expect(409, "ambiguous");
    assert_eq!(rest.delete(&format!("{INV}/Both")).status, 409);
}

#[test]
fn rest_34_item_path_redirects_to_its_asset() {
    let rest = start(INI);
    rest.post(&format!("{INV}/Textures"), &item_xml("logo.jpg")).expect(201, "");
    let path = format!("{INV}/Textures/logo.jpg");
    let r = rest.get(&path);
    assert_eq!(r.status, 301);
    let want = format!("http://{}/admin/assets/{REF}", rest.host.http);
    assert_eq!(r.header("location"), Some(want.as_str()));
    assert!(r.text().contains("(301) : PERMANENT REDIRECT"));
    let h = rest.head(&path);
    assert_eq!(h.status, 301);
    assert_eq!(h.header("location"), Some(want.as_str()));
    assert!(h.body.is_empty());
}

#[test]
fn rest_35_head_is_get_without_body() {
    let rest = start(INI);
    let h = rest.head(INV);
    assert_eq!(h.status, 200);
    assert_eq!(h.content_type(), "application/xml");
    assert!(h.body.is_empty());
    let g = rest.get(INV);
    assert_eq!(h.header("content-length"), Some(g.body.len().to_string().as_str()));
    assert_eq!(h.header("content-length"), g.header("content-length"));
}

#[test]
fn rest_36_other_methods_405_with_allow() {
    let rest = start(INI);
    let r = rest.send("OPTIONS", INV, Some(&auth()), None);
    r.expect(405, "options not supported");
    assert_eq!(r.header("allow"), Some("GET, HEAD, PUT, POST, DELETE"));
}

// ---- §6.5 POST ----

#[test]
fn rest_37_post_example_b() {
    let rest = start(INI);
    let r = rest.post(&format!("{INV}/Textures"), EXAMPLE_B);
    r.expect(201, "Created asset");
    let location = r.header("location").expect("location");
    assert_eq!(location, format!("http://{}/admin/inventory/Test%20User/Textures/Imports", rest.host.http));
    let text = r.text();
    assert_eq!(count(&text, "Created folder"), 2);
    assert_eq!(count(&text, "Created item"), 2);
    let tree = rest.get(&format!("{INV}/Textures/Imports")).text();
    let logos = attr_of(&tree, "Logos", "uuid");
    assert_eq!(attr_of(&tree, "banner.jpg", "folder"), logos);
    assert_eq!(attr_of(&tree, "banner.jpg", "assettype"), "19");
    assert_eq!(attr_of(&tree, "banner.jpg", "invtype"), "0");
    assert_eq!(attr_of(&tree, "readme", "folder"), attr_of(&tree, "Imports", "uuid"));
    let redirect = rest.get(&format!("{INV}/Textures/Imports/Logos/banner.jpg"));
    let asset_url = redirect.header("location").expect("location").to_owned();
    let asset_path = &asset_url[asset_url.find("/admin").expect("path")..];
    let asset = rest.get(asset_path);
    asset.expect(200, "name=\"banner.jpg\"");
    assert!(asset.text().contains(">/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAP8=<"), "{}", asset.text());
}

#[test]
fn rest_38_two_top_level_folders_refused() {
    let rest = start(INI);
    let before = rest.inventory();
    let body = r#"<Folder name="A"><Item name="i"><Asset inline="true" uuid="77777777-0000-0000-0000-000000000001" type="7">aGk=</Asset></Item></Folder><Folder name="B"/>"#;
    rest.post(INV, body).expect(400, "only one root entity is allowed");
    assert_eq!(rest.inventory(), before);
    assert_eq!(rest.get("/admin/assets/77777777-0000-0000-0000-000000000001").status, 404);
}

#[test]
fn rest_39_post_to_an_item() {
    let rest = start(INI);
    rest.post(&format!("{INV}/Textures"), &item_xml("x.jpg")).expect(201, "");
    rest.post(&format!("{INV}/Textures/x.jpg"), &item_xml("y"))
        .expect(400, "invalid resource context");
}

#[test]
fn rest_40_top_level_item_goes_to_root() {
    let rest = start(INI);
    rest.post(INV, &item_xml("loose")).expect(201, "Created item");
    assert_eq!(attr_of(&rest.inventory(), "loose", "folder"), rest.uuid_of("My Inventory"));
}

fn textures_with_item(rest: &Rest) -> String {
    rest.post(&format!("{INV}/Textures"), &item_xml("logo.jpg")).expect(201, "");
    rest.get(&format!("{INV}/Textures")).text()
}

#[test]
fn rest_41_reposting_get_output_changes_nothing() {
    let rest = start(INI);
    let textures = textures_with_item(&rest);
    let before = rest.inventory();
    let r = rest.post(INV, &textures);
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    assert_eq!(rest.inventory(), before);
}

#[test]
fn rest_41a_permission_change_is_a_modification() {
    let rest = start(INI);
    let textures = textures_with_item(&rest);
    let changed = textures.replacen("current=\"7FFFFFFF\"", "current=\"1234\"", 1);
    rest.post(INV, &changed).expect(200, "Modified item logo.jpg");
    assert!(rest.get(&format!("{INV}/Textures")).text().contains("current=\"1234\""));
}

#[test]
fn rest_42_rename_by_post() {
    let rest = start(INI);
    let t = rest.uuid_of("Textures");
    let root = rest.uuid_of("My Inventory");
    rest.post(INV, &format!(r#"<Folder name="Pictures" uuid="{t}" parent="{root}" type="0"/>"#))
        .expect(200, "Modified folder Pictures");
    rest.get(&format!("{INV}/Pictures")).expect(200, &t);
    assert_eq!(rest.get(&format!("{INV}/Textures")).status, 404);
}

#[test]
fn rest_43_entity_errors_change_nothing() {
    let rest = start(INI);
    let before = rest.inventory();
    let cases = [
        (
            r#"<Item desc="no name"><Asset>66666666-6666-6666-6666-666666666666</Asset></Item>"#,
            "item name required",
        ),
        (r#"<Item name="x"/>"#, "asset information required"),
        (r#"<Folder name="f" colour="red"/>"#, "unrecognized attribute colour"),
        (
            r#"<Item name="x" colour="red"><Asset>66666666-6666-6666-6666-666666666666</Asset></Item>"#,
            "unrecognized attribute colour",
        ),
        (
            r#"<Item name="x"><Asset colour="red">66666666-6666-6666-6666-666666666666</Asset></Item>"#,
            "unrecognized attribute colour",
        ),
        (
            r#"<Item name="x"><Permissions colour="1"/><Asset>66666666-6666-6666-6666-666666666666</Asset></Item>"#,
            "invalid attribute colour",
        ),
        (r#"<Folder name="f" parent="12345678-1234-1234-1234-123456789abc"/>"#, "invalid parent"),
        (
            r#"<Item name="x" folder="12345678-1234-1234-1234-123456789abc"><Asset>66666666-6666-6666-6666-666666666666</Asset></Item>"#,
            "parent information required",
        ),
        (r#"<Folder name="f"><Item name="x">"#, "malformed XML"),
        (r#"<Item name="x"><Asset inline="true">@@@not base64@@@</Asset></Item>"#, "base64"),
        (
            r#"<Item name="x" invtype="seven"><Asset>66666666-6666-6666-6666-666666666666</Asset></Item>"#,
            "invtype",
        ),
    ];
    for (body, message) in cases {
        // The new folder first, so a late error has something to undo.
        let body = format!(r#"<Folder name="New"><Item name="y"><Asset inline="true" type="7">aGk=</Asset></Item>{body}</Folder>"#);
        rest.post(INV, &body).expect(400, message);
    }
    assert_eq!(rest.inventory(), before);
}

#[test]
fn rest_44_default_permissions() {
    let rest = start(INI);
    rest.post(INV, &item_xml("plain")).expect(201, "");
    let xml = rest.inventory();
    let at = xml.find("name=\"plain\"").expect("item");
    assert!(xml[at..].contains("<Permissions current=\"7FFFFFFF\" next=\"82000\" group=\"0\" everyone=\"0\" base=\"7FFFFFFF\" />"));
}

#[test]
fn rest_45_permissions_after_asset_apply() {
    let rest = start(INI);
    rest.post(
        INV,
        &format!(r#"<Item name="late"><Asset>{REF}</Asset><Permissions current="1F" base="3F"/></Item>"#),
    )
    .expect(201, "");
    let xml = rest.inventory();
    let at = xml.find("name=\"late\"").expect("item");
    assert!(xml[at..].contains("current=\"1F\""));
    assert!(xml[at..].contains("base=\"3F\""));
}

#[test]
fn rest_46_self_closing_folders_are_siblings() {
    let rest = start(INI);
    rest.post(INV, r#"<Folder name="A"><Folder name="A1"/><Folder name="A2"/></Folder>"#)
        .expect(201, "");
    let xml = rest.inventory();
    let a = attr_of(&xml, "A", "uuid");
    assert_eq!(attr_of(&xml, "A1", "parent"), a);
    assert_eq!(attr_of(&xml, "A2", "parent"), a);
}

#[test]
fn rest_47_folder_defined_earlier_in_the_body_counts() {
    let rest = start(INI);
    let u = "88888888-8888-8888-8888-888888888888";
    rest.post(
        INV,
        &format!(r#"<Folder name="N" uuid="{u}"></Folder><Item name="x" folder="{u}"><Asset>{REF}</Asset></Item>"#),
    )
    .expect(201, "");
    assert_eq!(attr_of(&rest.inventory(), "x", "folder"), u);
}

#[test]
fn rest_48_empty_post_is_204() {
    let rest = start(INI);
    let r = rest.post(&format!("{INV}/Textures"), "");
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
}

#[test]
fn rest_49_tga_type_inference() {
    let rest = start(INI);
    rest.post(INV, &format!("{}{}", item_xml("shot.tga"), item_xml("skin_texture.tga")))
        .expect(201, "");
    let xml = rest.inventory();
    assert_eq!(
        (attr_of(&xml, "shot.tga", "assettype"), attr_of(&xml, "shot.tga", "invtype")),
        ("18".into(), "15".into())
    );
    assert_eq!(
        (attr_of(&xml, "skin_texture.tga", "assettype"), attr_of(&xml, "skin_texture.tga", "invtype")),
        ("12".into(), "0".into())
    );
}

// ---- §6.6 PUT ----

#[test]
fn rest_50_put_example_c_replaces_the_item() {
    let rest = start(INI);
    rest.post(&format!("{INV}/Textures"), &item_xml("logo.jpg")).expect(201, "");
    let before = rest.get(&format!("{INV}/Textures")).text();
    let old_uuid = attr_of(&before, "logo.jpg", "uuid");
    let body =
        r#"<Item name="logo.jpg" desc="New logo" invtype="0" assettype="0"><Asset inline="true" type="0">iVBORw0KGgo=</Asset></Item>"#;
    rest.put(&format!("{INV}/Textures/logo.jpg"), body)
        .expect(201, "Storing item logo.jpg");
    let after = rest.get(&format!("{INV}/Textures")).text();
    assert_eq!(count(&after, "name=\"logo.jpg\""), 1);
    assert_eq!(attr_of(&after, "logo.jpg", "uuid"), old_uuid);
    assert_eq!(attr_of(&after, "logo.jpg", "desc"), "New logo");
    let asset = rest
        .get(&format!("{INV}/Textures/logo.jpg"))
        .header("location")
        .expect("location")
        .to_owned();
    assert!(!asset.ends_with(REF), "the item points at the new asset");
    rest.get(&asset[asset.find("/admin").expect("path")..])
        .expect(200, ">iVBORw0KGgo=<");
}

#[test]
fn rest_51_put_item_keeps_uuid_and_folder() {
    let rest = start(INI);
    rest.post(&format!("{INV}/Textures"), &item_xml("logo.jpg")).expect(201, "");
    let before = rest.get(&format!("{INV}/Textures")).text();
    let body = r#"<Item name="logo.jpg" desc="changed"><Asset>99999999-9999-9999-9999-999999999999</Asset></Item>"#;
    rest.put(&format!("{INV}/Textures/logo.jpg"), body).expect(200, "Storing item");
    let after = rest.get(&format!("{INV}/Textures")).text();
    assert_eq!(attr_of(&after, "logo.jpg", "uuid"), attr_of(&before, "logo.jpg", "uuid"));
    assert_eq!(attr_of(&after, "logo.jpg", "folder"), rest.uuid_of("Textures"));
    assert!(after.contains("<Asset>99999999-9999-9999-9999-999999999999</Asset>"));
}

#[test]
fn rest_52_put_item_entity_rules() {
    let rest = start(INI);
    rest.post(&format!("{INV}/Textures"), &item_xml("logo.jpg")).expect(201, "");
    let path = format!("{INV}/Textures/logo.jpg");
    let before = rest.inventory();
    rest.put(&path, &format!("<Folder name=\"f\">{}</Folder>", item_xml("a")))
        .expect(400, "folder is not allowed");
    rest.put(&path, &format!("{}{}", item_xml("a"), item_xml("b")))
        .expect(400, "too many items");
    rest.put(&path, "").expect(400, "item required");
    assert_eq!(rest.inventory(), before);
}

#[test]
fn rest_53_put_example_d_replaces_the_folder() {
    let rest = start(INI);
    rest.post(
        &format!("{INV}/Clothing"),
        &format!("<Folder name=\"Old\">{}</Folder>{}", item_xml("shirt"), item_xml("socks")),
    )
    .expect(201, "");
    let clothing = rest.uuid_of("Clothing");
    let root = rest.uuid_of("My Inventory");
    let body = r#"<Folder name="Outfits"><Item name="hat" invtype="18" assettype="5"><Asset>77777777-7777-7777-7777-777777777777</Asset></Item></Folder>"#;
    rest.put(&format!("{INV}/Clothing"), body).expect(200, "Moving folder Outfits");
    assert_eq!(rest.get(&format!("{INV}/Clothing")).status, 404);
    let outfits = rest.get(&format!("{INV}/Outfits"));
    outfits.expect(200, "name=\"hat\"");
    let xml = outfits.text();
    assert!(
        xml.contains(&format!(
            "<Folder name=\"Outfits\" uuid=\"{clothing}\" parent=\"{root}\" owner=\"{}\" type=\"8\" version=\"1\">",
            rest.user_id
        )),
        "{xml}"
    );
    for gone in ["shirt", "socks", "Old"] {
        assert!(!rest.inventory().contains(&format!("name=\"{gone}\"")), "{gone}");
    }
}

#[test]
fn rest_54_put_folder_with_two_candidates() {
    let rest = start(INI);
    let before = rest.inventory();
    rest.put(&format!("{INV}/Clothing"), r#"<Folder name="A"/><Folder name="B"/>"#)
        .expect(409, "context is ambiguous");
    assert_eq!(rest.inventory(), before);
}

#[test]
fn rest_55_put_bare_avatar() {
    let rest = start(INI);
    rest.put(INV, r#"<Folder name="My Inventory"/>"#)
        .expect(400, "explicit resource path required");
}

#[test]
fn rest_56_put_root_needs_root_folder() {
    let rest = start(INI);
    let before = rest.inventory();
    rest.put(&format!("{INV}/My%20Inventory"), r#"<Folder name="Other"/>"#)
        .expect(400, "invalid inventory structure");
    assert_eq!(rest.inventory(), before);
}

#[test]
fn rest_57_put_missing_target() {
    let rest = start(INI);
    rest.put(&format!("{INV}/NoSuchFolder"), r#"<Folder name="x"/>"#)
        .expect(404, "resource put:");
}

// ---- §6.7 DELETE ----

#[test]
fn rest_58_delete_item() {
    let rest = start(INI);
    rest.post(&format!("{INV}/Textures"), &item_xml("logo.jpg")).expect(201, "");
    rest.delete(&format!("{INV}/Textures/logo.jpg"))
        .expect(200, "Deleted item logo.jpg");
    assert_eq!(rest.get(&format!("{INV}/Textures/logo.jpg")).status, 404);
}

#[test]
fn rest_59_delete_folder_subtree_only() {
    let rest = start(INI);
    rest.post(
        &format!("{INV}/Clothing"),
        &format!("<Folder name=\"Sub\"><Folder name=\"Deeper\">{}</Folder></Folder>{}", item_xml("a"), item_xml("b")),
    )
    .expect(201, "");
    let before = rest.inventory();
    rest.delete(&format!("{INV}/Clothing")).expect(200, "Deleted folder Clothing");
    let after = rest.inventory();
    for gone in ["Clothing", "Sub", "Deeper", "\"a\"", "\"b\""] {
        assert!(
            !after.contains(&format!("name={}", if gone.starts_with('"') { gone.to_owned() } else { format!("\"{gone}\"") })),
            "{gone}"
        );
    }
    // Every other folder is byte-for-byte what it was.
    assert_eq!(count(&after, "<Folder "), count(&before, "<Folder ") - 3);
    assert_eq!(rest.get(&format!("{INV}/Textures")).status, 200);
}

#[test]
fn rest_60_delete_without_trash() {
    let rest = start(INI);
    rest.delete(&format!("{INV}/Trash")).expect(200, "Deleted folder Trash");
    rest.delete(&format!("{INV}/Sounds")).expect(200, "Deleted folder Sounds");
}

#[test]
fn rest_61_user_tmp_folder_is_untouched() {
    let rest = start(INI);
    rest.post(&format!("{INV}/Objects"), &format!("<Folder name=\"tmp\">{}</Folder>", item_xml("keep")))
        .expect(201, "");
    rest.delete(&format!("{INV}/Sounds")).expect(200, "");
    rest.get(&format!("{INV}/Objects/tmp")).expect(200, "name=\"keep\"");
}

#[test]
fn rest_62_root_cannot_be_deleted() {
    let rest = start(INI);
    let before = rest.inventory();
    rest.delete(INV).expect(400, "explicit resource path required");
    rest.delete(&format!("{INV}/My%20Inventory"))
        .expect(400, "root folder cannot be deleted");
    assert_eq!(rest.inventory(), before);
}

// ---- §8 assets ----

const A1: &str = "55555555-5555-5555-5555-555555555555";

#[test]
fn rest_63_put_asset_create_then_replace() {
    let rest = start(INI);
    let body = r#"<Asset name="hello" desc="greeting" type="7" local="0" temporary="0">aGVsbG8gd29ybGQ=</Asset>"#;
    rest.put(&format!("/admin/assets/{A1}"), body).expect(201, "Created asset hello");
    rest.put(&format!("/admin/assets/{A1}"), body).expect(200, "Modified asset hello");
}

#[test]
fn rest_64_get_asset() {
    let rest = start(INI);
    let body = r#"<Asset name="hello" desc="greeting" type="7" local="0" temporary="1">aGVsbG8gd29ybGQ=</Asset>"#;
    rest.put(&format!("/admin/assets/{A1}"), body).expect(201, "");
    let r = rest.get(&format!("/admin/assets/{A1}"));
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type(), "application/xml");
    assert_eq!(
        r.text(),
        format!(r#"<Asset id="{A1}" name="hello" desc="greeting" type="7" local="False" temporary="True">aGVsbG8gd29ybGQ=</Asset>"#)
    );
    let stored = rest
        .store()
        .get_asset(uuid::Uuid::parse_str(A1).expect("uuid"))
        .expect("q")
        .expect("asset");
    assert_eq!(stored.data, b"hello world");
}

#[test]
fn rest_65_get_put_round_trip() {
    let rest = start(INI);
    rest.put(&format!("/admin/assets/{A1}"), r#"<Asset name="n" type="7">aGk=</Asset>"#)
        .expect(201, "");
    let text = rest.get(&format!("/admin/assets/{A1}")).text().replace("aGk=", "aGVsbG8=");
    assert!(text.contains("local=\"False\""));
    rest.put(&format!("/admin/assets/{A1}"), &text).expect(200, "Modified asset");
    rest.get(&format!("/admin/assets/{A1}")).expect(200, ">aGVsbG8=<");
}

#[test]
fn rest_66_put_without_asset_element() {
    let rest = start(INI);
    rest.put(&format!("/admin/assets/{A1}"), "<Thing/>")
        .expect(400, "invalid request data");
}

#[test]
fn rest_67_uri_id_wins() {
    let rest = start(INI);
    let u2 = "22222222-0000-0000-0000-000000000002";
    rest.put(&format!("/admin/assets/{A1}"), &format!(r#"<Asset id="{u2}" type="7">aGk=</Asset>"#))
        .expect(201, "");
    rest.get(&format!("/admin/assets/{A1}")).expect(200, "aGk=");
    assert_eq!(rest.get(&format!("/admin/assets/{u2}")).status, 404);
}

#[test]
fn rest_68_post_asset_without_segment() {
    let rest = start(INI);
    let body = format!(r#"<Asset id="{A1}" name="p" type="7">aGk=</Asset>"#);
    let r = rest.post("/admin/assets", &body);
    r.expect(201, "Created asset p");
    assert_eq!(
        r.header("location").map(str::to_owned),
        Some(format!("http://{}/admin/assets/{A1}", rest.host.http))
    );
    rest.post("/admin/assets", &body).expect(200, "Modified asset p");
}

#[test]
fn rest_69_post_asset_without_id() {
    let rest = start(INI);
    rest.post("/admin/assets", r#"<Asset type="7">aGk=</Asset>"#)
        .expect(400, "invalid request data");
}

#[test]
fn rest_70_asset_lookup_errors() {
    let rest = start(INI);
    rest.get(&format!("/admin/assets/{A1}")).expect(404, "invalid parameters");
    rest.get("/admin/assets/not-a-uuid").expect(400, "invalid asset id");
    rest.get("/admin/assets").expect(400, "no agent information provided");
    rest.get(&format!("/admin/assets/{A1}/extra")).expect(404, "invalid parameters");
}

#[test]
fn rest_71_delete_asset_is_405() {
    let rest = start(INI);
    rest.put(&format!("/admin/assets/{A1}"), r#"<Asset type="7">aGk=</Asset>"#)
        .expect(201, "");
    let r = rest.delete(&format!("/admin/assets/{A1}"));
    r.expect(405, "delete not supported");
    assert_eq!(r.header("allow"), Some("GET, HEAD, PUT, POST"));
    assert_eq!(rest.get(&format!("/admin/assets/{A1}")).status, 200);
}

#[test]
fn rest_72_head_asset() {
    let rest = start(INI);
    rest.put(&format!("/admin/assets/{A1}"), r#"<Asset type="7">aGk=</Asset>"#)
        .expect(201, "");
    let r = rest.head(&format!("/admin/assets/{A1}"));
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
}

// ---- §5 conventions ----

#[test]
fn rest_73_status_pages() {
    let rest = start(INI);
    let r = rest.get(&format!("{INV}/Hats"));
    assert_eq!(r.content_type(), "text/html");
    assert_eq!(
        r.text(),
        "<html><body><title>GET status</title><break> (404) : NOT FOUND no such item/folder : Hats</body></html>"
    );
    let created = rest.post(INV, &item_xml("x"));
    assert_eq!(created.content_type(), "text/html");
    assert!(created
        .text()
        .starts_with("<html><body><title>POST status</title><break> <p> Created item x, UUID "));
    let deleted = rest.delete(&format!("{INV}/x"));
    assert!(deleted.text().contains("<title>DELETE status</title>"));
    let unauthorised = rest.send("PUT", INV, None, None);
    assert!(unauthorised
        .text()
        .contains("<title>PUT status</title><break> (401) : NOT AUTHORIZED</body></html>"));
    let braces = rest.get(&format!("{INV}/%7B0%7D"));
    assert!(braces.text().contains("no such item/folder : {0}"));
    // Request text is escaped inside the HTML page.
    let markup = rest.get(&format!("{INV}/%3Cb%3E"));
    assert!(markup.text().contains("no such item/folder : &lt;b&gt;"), "{}", markup.text());
}

#[test]
fn rest_74_204_has_no_body() {
    let rest = start(INI);
    let r = rest.post(INV, "");
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    assert_eq!(r.header("content-type"), None);
}

#[test]
fn rest_75_files_off_by_default() {
    let rest = start(INI);
    let r = rest.get("/admin/files/x/Cargo.toml");
    assert_eq!(r.status, 404);
    assert!(!r.content_type().contains("html"));
}

// ---- beyond the checklist: a whole archive, bad input, the files sandbox ----

/// Assets and objects of tests/fixtures/penrose.oar: (file name, asset id, type, bytes).
fn penrose() -> Vec<(String, String, i8, Vec<u8>)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/penrose.oar");
    let file = std::fs::File::open(path).expect("penrose.oar");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut out = Vec::new();
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let name = entry.path().expect("path").to_string_lossy().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).expect("read");
        let file = name.rsplit('/').next().unwrap_or("").to_owned();
        if let Some(asset) = name.strip_prefix("assets/") {
            let (id, kind) = asset.split_once('_').expect("id_kind");
            let t = match kind.split('.').next() {
                Some("texture") => 0,
                Some("object") => 6,
                Some("script") => 10,
                _ => -1,
            };
            out.push((file, id.to_owned(), t, data));
        } else if name.starts_with("objects/") {
            out.push((file, uuid::Uuid::new_v4().to_string(), 6, data));
        }
    }
    assert!(out.len() >= 10, "archive read");
    out
}

#[test]
fn rest_round_trip_of_the_penrose_archive() {
    let rest = start(INI);
    let entries = penrose();
    let mut body = String::from("<Folder name=\"Penrose\">");
    for (kind, t) in [("Textures", 0), ("Objects", 6), ("Scripts", 10)] {
        body.push_str(&format!("<Folder name=\"{kind}\" type=\"{t}\">"));
        for (file, id, _, data) in entries.iter().filter(|e| e.2 == t) {
            body.push_str(&format!(
                "<Item name=\"{}\" assettype=\"{t}\" invtype=\"{t}\"><Asset inline=\"true\" uuid=\"{id}\" type=\"{t}\">{}</Asset></Item>",
                crate_escape(file),
                B64.encode(data)
            ));
        }
        body.push_str("</Folder>");
    }
    body.push_str("</Folder>");
    rest.post(INV, &body).expect(201, "Created asset");
    for (_, id, t, data) in &entries {
        let stored = rest
            .store()
            .get_asset(uuid::Uuid::parse_str(id).expect("id"))
            .expect("q")
            .expect("asset");
        assert_eq!(&stored.data, data);
        assert_eq!(stored.asset_type.code(), *t);
    }
    let first = rest.inventory();
    assert_eq!(count(&first, "<Item "), entries.len());
    // GET → PUT back (over the whole root) → GET gives the same document.
    rest.put(&format!("{INV}/My%20Inventory"), &first)
        .expect(200, "Moving folder My Inventory");
    assert_eq!(rest.inventory(), first);
    // And the subtree alone, through POST: nothing to do.
    let sub = rest.get(&format!("{INV}/Penrose")).text();
    assert_eq!(rest.post(INV, &sub).status, 204);
    rest.put(&format!("{INV}/Penrose"), &sub).expect(200, "");
    assert_eq!(rest.inventory(), first);
}

fn crate_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;")
}

/// Every refusal leaves the inventory and the asset store as they were.
#[test]
fn rest_bad_input_changes_nothing() {
    let rest = start(DIGEST_INI.replace("auth-scheme = Digest\n", "auth-scheme = Any\n").as_str());
    let before = rest.inventory();
    let marker = "77777777-0000-0000-0000-0000000000aa";
    let with_asset = |inner: &str| {
        format!(r#"<Folder name="New"><Item name="y"><Asset inline="true" uuid="{marker}" type="7">aGk=</Asset></Item>{inner}</Folder>"#)
    };
    let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><Folder name="&lol2;"/>"#;
    let cases: Vec<(String, String, u16, &str)> = vec![
        (INV.into(), with_asset("<Item name=\"x\">"), 400, "malformed XML"),
        (INV.into(), bomb.into(), 400, "DTD"),
        (INV.into(), with_asset("&lol;"), 400, "entity"),
        (
            INV.into(),
            with_asset("<Item name=\"x\"><Assett>66666666-6666-6666-6666-666666666666</Assett></Item>"),
            400,
            "asset information required",
        ),
        ("/admin/inventory/No%20Body".into(), with_asset(""), 404, "unrecognized user identity"),
        (INV.into(), with_asset("<Item name=\"x\"><Asset inline=\"true\">%%%</Asset></Item>"), 400, "base64"),
        (INV.into(), format!("{}<Folder name=\"B\"/>", with_asset("")), 400, "only one root entity"),
        (INV.into(), with_asset(&"<Folder>".repeat(100)), 400, "deeper"),
    ];
    for (path, body, status, message) in &cases {
        rest.post(path, body).expect(*status, message);
    }
    assert_eq!(rest.inventory(), before);
    // Ambiguous path.
    rest.post(INV, r#"<Folder name="Dup"/>"#).expect(201, "");
    rest.post(INV, r#"<Folder name="Dup"/>"#).expect(201, "");
    let before = rest.inventory();
    rest.post(&format!("{INV}/Dup"), &with_asset(""))
        .expect(409, "request is ambiguous");
    // Oversized body (the default cap is 24 MiB).
    let huge = with_asset(&" ".repeat(25 * 1024 * 1024));
    rest.post(INV, &huge).expect(413, "exceeds");
    // Bad credentials, and Digest with a missing or made-up nonce.
    let unauth = rest.send("POST", INV, Some(&basic("Test User:nope")), Some(with_asset("").as_bytes()));
    assert_eq!(unauth.status, 401);
    let hash = rest.stored_hash();
    let no_nonce = digest("Test User", "OpenSim REST", &hash, "POST", INV, "x", "00000001").replace("nonce=\"x\", ", "");
    assert_eq!(rest.send("POST", INV, Some(&no_nonce), Some(with_asset("").as_bytes())).status, 401);
    let wrong = digest("Test User", "OpenSim REST", &hash, "POST", INV, "d3Jvbmc=", "00000001");
    assert_eq!(rest.send("POST", INV, Some(&wrong), Some(with_asset("").as_bytes())).status, 401);
    assert_eq!(rest.inventory(), before);
    assert_eq!(rest.get(&format!("/admin/assets/{marker}")).status, 404);
}

#[test]
fn rest_files_are_confined_to_their_root() {
    let files = tempfile::tempdir().expect("files root");
    std::fs::write(files.path().join("hello.txt"), b"hi").expect("write");
    let rest = start(&format!("{INI}files-root = {}\n", files.path().display()));
    rest.get("/admin/files/x/hello.txt").expect(200, &format!(">{}<", B64.encode("hi")));
    rest.put("/admin/files/x/new.txt", &format!("<File>{}</File>", B64.encode("data")))
        .expect(201, "");
    assert_eq!(std::fs::read(files.path().join("new.txt")).expect("read"), b"data");
    rest.get("/admin/files/x/..%2F..%2Fetc%2Fpasswd")
        .expect(400, "invalid path segment");
    rest.get("/admin/files/x/../secret").expect(400, "invalid path segment");
    assert_eq!(rest.delete("/admin/files/x/new.txt").status, 204);
    assert!(!files.path().join("new.txt").exists());
}

#[test]
fn rest_failed_logins_are_throttled() {
    // Backoff per (name, address) and per address (docs/security.md); the
    // owner's other addresses are tested in net.rs.
    let rest = start(&format!("{INI}[Network]\nlogin_backoff_base_ms = 20000\n"));
    let mut failures = 0;
    while rest.send("GET", INV, Some(&basic("Test User:wrong")), None).status == 401 {
        failures += 1;
        assert!(failures <= 20, "never throttled");
    }
    let r = rest.send("GET", INV, Some(&basic("Test User:password")), None);
    r.expect(429, "too many failed authentication attempts");
    assert!(r.header("retry-after").is_some_and(|s| s.parse::<u64>().is_ok_and(|n| n >= 1)));
}

// ---- §9.1 appearance ----

const APP: &str = "/admin/appearance/Test%20User";

#[test]
fn rest_appearance_lifecycle() {
    let rest = start(INI);
    assert_eq!(rest.get(APP).status, 204, "nothing stored yet");
    let created = rest.post(APP, "");
    created.expect(201, "Default appearance stored");
    assert_eq!(created.header("location").map(str::to_owned), Some(format!("http://{}{APP}", rest.host.http)));
    let xml = rest.get(APP);
    assert_eq!(xml.content_type(), "application/xml");
    let text = xml.text();
    assert!(text.starts_with("<Appearance Height=\""), "{text}");
    assert!(text.contains(&format!("Owner=\"{}\" Serial=\"0\">", rest.user_id)), "{text}");
    assert!(text.contains("<Body Item=\"66c41e39-38f9-f75a-024e-585989bfaba9\" Asset=\"66c41e39-38f9-f75a-024e-585989bfab73\" />"));
    assert!(text.contains("<Texture Default=\"c228d1cf-4b5d-4ba8-84f4-899a0796aa97\">"));
    assert!(!text.contains("<Attachments>"));
    let item = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    let asset = "a55e7000-0004-4b6c-9d8e-112233445566";
    let body = format!(
        r#"<Appearance Serial="5"><Shirt Item="{item}" Asset="{asset}"/><Attachments><Attachment AtPoint="7" Item="{item}" Asset="{asset}"/></Attachments><Texture><Face Index="3" Id="{asset}"/></Texture></Appearance>"#
    );
    rest.put(APP, &body).expect(200, "Appearance updated");
    let text = rest.get(APP).text();
    assert!(text.contains("Serial=\"5\""), "{text}");
    assert!(text.contains(&format!("<Shirt Item=\"{item}\" Asset=\"{asset}\" />")), "{text}");
    assert!(text.contains(&format!("<Attachment AtPoint=\"7\" Item=\"{item}\" Asset=\"{asset}\" />")), "{text}");
    assert!(text.contains(&format!("<Face Index=\"3\" Id=\"{asset}\" />")), "{text}");
    assert!(text.contains("<Body Item="), "PUT changed only what it named");
    rest.delete(APP).expect(200, "Appearance reset");
    let text = rest.get(APP).text();
    assert!(text.contains("Serial=\"0\"") && !text.contains("<Shirt"), "{text}");
    assert_eq!(rest.head(APP).body.len(), 0);
    rest.send("OPTIONS", APP, Some(&auth()), None).expect(405, "options not supported");
}

#[test]
fn rest_appearance_bad_input_changes_nothing() {
    let rest = start(INI);
    rest.post(APP, "").expect(201, "");
    let before = rest.get(APP).text();
    rest.put(APP, r#"<Appearance Bogus="1"/>"#)
        .expect(400, "unrecognized attribute Bogus");
    rest.put(APP, r#"<Appearance Serial="9"><VisualParameters>AAEC</VisualParameters></Appearance>"#)
        .expect(400, "VisualParameters");
    rest.put(
        APP,
        r#"<Appearance><Texture><Face Index="99" Id="a55e7000-0004-4b6c-9d8e-112233445566"/></Texture></Appearance>"#,
    )
    .expect(400, "Face Index");
    assert_eq!(rest.get(APP).text(), before);
    rest.get("/admin/appearance/Test").expect(400, "invalid user identity");
    rest.get("/admin/appearance/No%20Body").expect(404, "unrecognized user identity");
}

/// §10 SHOULD: another avatar's folder or item UUID is refused, not taken over.
#[test]
fn rest_uuid_of_another_avatar_is_refused() {
    let rest = start(INI);
    let ada = rest.get("/admin/inventory/Ada%20Lovelace").text();
    let theirs = attr_of(&ada, "Textures", "uuid");
    let before = rest.inventory();
    rest.post(INV, &format!(r#"<Folder name="Mine" uuid="{theirs}"/>"#))
        .expect(409, "uuid in use");
    rest.put(&format!("{INV}/Sounds"), &format!(r#"<Folder name="Mine" uuid="{theirs}"/>"#))
        .expect(409, "uuid in use");
    assert_eq!(rest.inventory(), before);
    assert_eq!(rest.get("/admin/inventory/Ada%20Lovelace").text(), ada);
}

/// §6.6 step 4: after a replacement, the old subtree is gone unless re-created.
#[test]
fn rest_put_folder_cannot_point_into_the_old_subtree() {
    let rest = start(INI);
    rest.post(&format!("{INV}/Clothing"), r#"<Folder name="Old"/>"#).expect(201, "");
    let old = rest.uuid_of("Old");
    let before = rest.inventory();
    let body = format!(r#"<Folder name="New"/><Item name="x" folder="{old}"><Asset>{REF}</Asset></Item>"#);
    rest.put(&format!("{INV}/Clothing"), &body)
        .expect(400, "parent information required");
    let body = format!(
        r#"<Folder name="New"><Folder name="Old" uuid="{old}"/></Folder><Item name="x" folder="{old}"><Asset>{REF}</Asset></Item>"#
    );
    assert_eq!(rest.inventory(), before);
    rest.put(&format!("{INV}/Clothing"), &body).expect(200, "Storing item x");
    assert_eq!(attr_of(&rest.inventory(), "x", "folder"), old);
}
