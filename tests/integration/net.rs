//! The network side of the front door (docs/security.md, "Network side"):
//! callback amplification, login throttling for CreateCapability and REST,
//! connection floods, early 413, files-service errors and log escaping. Every
//! test drives the real binary over real sockets; several source addresses
//! come from binding client sockets to 127.0.0.x (Linux routes 127/8 to lo).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::support::*;

const GENERATOR: &str = "cc75083c-3ca0-433d-9ba5-a51e86a98933";
const NIL: &str = "00000000-0000-0000-0000-000000000000";

// ---------------------------------------------------------------------------
// Raw HTTP from a chosen source address.

struct Raw {
    status: u16,
    head: String,
    body: String,
}

impl Raw {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// A TCP connection to `to` from `source` (port chosen by the kernel).
fn connect_from(source: &str, to: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    let from: SocketAddr = format!("{source}:0").parse().expect("source");
    socket.bind(&from.into()).expect("bind source address");
    socket.connect_timeout(&to.into(), Duration::from_secs(5)).expect("connect");
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(Duration::from_secs(8))).expect("timeout");
    stream
}

fn parse_response(bytes: &[u8]) -> Raw {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Raw {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// One request with `Connection: close` from `source`; the whole response.
fn request_from(source: &str, to: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Raw {
    let mut s = connect_from(source, to);
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("send head");
    s.write_all(body).expect("send body");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    parse_response(&out)
}

fn post_json_from(source: &str, host: &Host, value: &Value) -> Value {
    let r = request_from(
        source,
        host.http,
        "POST",
        "/Dispatcher/",
        &[("Content-Type", "application/json")],
        value.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn create_capability_request(first: &str, last: &str, hashed: &str, lifespan: i64) -> Value {
    json!({
        "$type": "Dispatcher.Messages.CreateCapabilityRequest",
        "_domain": "Dispatcher",
        "_scene": REGION,
        "firstname": first,
        "lastname": last,
        "hashedpasswd": hashed,
        "lifespan": lifespan,
        "domainlist": ["RemoteControl"],
    })
}

// ---------------------------------------------------------------------------
// Callbacks.

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../scene/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn rc(host: &Host, cap: &str, kind: &str, extra: Value) -> Value {
    let mut v = json!({
        "$type": format!("RemoteControl.Messages.{kind}"),
        "_domain": "RemoteControl",
        "_scene": REGION,
        "_capability": cap,
    });
    if let (Some(o), Value::Object(more)) = (v.as_object_mut(), extra) {
        o.extend(more);
    }
    let reply = host.call(&v);
    assert_eq!(reply["_Success"], 1, "{kind}: {reply}");
    reply
}

/// A host with one object (from the penrose fixture) and an owner capability.
fn scene(ini: &str) -> (Host, String, String) {
    let host = Host::start_with(ini);
    let cap = host.capability(&["RemoteControl"]);
    rc(
        &host,
        &cap,
        "AddAssetRequest",
        json!({"Asset": {
            "AssetID": GENERATOR,
            "SerializedAsset": base64::engine::general_purpose::STANDARD.encode(fixture("cc75083c-3ca0-433d-9ba5-a51e86a98933_object.xml")),
            "Name": "fixture", "Description": "", "ContentType": "application/vnd.ll.primitive", "CreatorID": NIL,
        }}),
    );
    let object = rc(&host, &cap, "CreateObjectRequest", json!({"AssetID": GENERATOR}))["ObjectID"]
        .as_str()
        .expect("ObjectID")
        .to_owned();
    (host, cap, object)
}

fn endpoint(host: &Host, cap: &str, sock: &UdpSocket, life_span_ms: i64) -> Value {
    host.call(&json!({
        "$type": "Dispatcher.Messages.CreateEndPointRequest",
        "_domain": "Dispatcher",
        "_scene": REGION,
        "_capability": cap,
        "CallbackHost": "127.0.0.1",
        "CallbackPort": sock.local_addr().expect("addr").port(),
        "LifeSpan": life_span_ms,
    }))
}

fn endpoint_id(host: &Host, cap: &str, sock: &UdpSocket) -> String {
    let reply = endpoint(host, cap, sock, 60_000);
    assert_eq!(reply["_Success"], 1, "{reply}");
    reply["EndPointID"].as_str().expect("EndPointID").to_owned()
}

/// Datagrams arriving on `sock` until it has been quiet for `quiet`.
fn drain(sock: &UdpSocket, quiet: Duration) -> usize {
    sock.set_read_timeout(Some(quiet)).expect("timeout");
    let mut buf = [0u8; 65536];
    let mut n = 0;
    while sock.recv(&mut buf).is_ok() {
        n += 1;
    }
    n
}

/// Datagrams arriving on `sock` during `window`.
fn count_for(sock: &UdpSocket, window: Duration) -> usize {
    let end = Instant::now() + window;
    let mut buf = [0u8; 65536];
    let mut n = 0;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return n;
        }
        sock.set_read_timeout(Some(left)).expect("timeout");
        if sock.recv(&mut buf).is_ok() {
            n += 1;
        }
    }
}

fn move_to(host: &Host, cap: &str, object: &str, x: f64) {
    rc(host, cap, "SetObjectPositionRequest", json!({"ObjectID": object, "Position": [x, 20.0, 30.0]}));
}

fn stats_line(host: &mut Host) -> String {
    let out = host.console_all("dispatcher stats");
    out.into_iter()
        .find(|l| l.starts_with("Callbacks sent"))
        .unwrap_or_else(|| panic!("no callback line in dispatcher stats"))
}

/// "… dropped N over endpoint rate, M over request budget …" → (N, M).
fn dropped(line: &str) -> (u64, u64) {
    let num = |label: &str| -> u64 {
        let before = line.split(label).next().expect("label");
        before
            .split_whitespace()
            .last()
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("{line}"))
    };
    (num(" over endpoint rate"), num(" over request budget"))
}

#[test]
fn net_updated_callback_duplicate_ids_collapse() {
    let (host, cap, object) = scene("");
    let sock = callback_socket();
    let ep = endpoint_id(&host, &cap, &sock);
    let ids: Vec<&str> = std::iter::repeat_n(object.as_str(), 1000).collect();
    rc(&host, &cap, "RegisterUpdatedCallbackRequest", json!({"ObjectIDs": ids, "EndPointID": ep}));
    move_to(&host, &cap, &object, 40.0);
    assert_eq!(drain(&sock, Duration::from_millis(800)), 1, "one move, one registration, one datagram");
}

#[test]
fn net_callbacks_per_request_are_bounded_by_its_size() {
    let (mut host, cap, object) = scene("[Dispatcher]\nCallbackBytesPerRequestByte = 1\n");
    let sock = callback_socket();
    let ep = endpoint_id(&host, &cap, &sock);
    // Twenty independent registrations (allowed: remote-control.md §4.8).
    for _ in 0..20 {
        rc(&host, &cap, "RegisterUpdatedCallbackRequest", json!({"ObjectIDs": [object], "EndPointID": ep}));
    }
    move_to(&host, &cap, &object, 41.0);
    let got = drain(&sock, Duration::from_millis(800));
    // A ~300-byte request may cause ~300 callback bytes: one ~190-byte datagram.
    assert!((1..=2).contains(&got), "{got} datagrams from one small request");
    let (_, budget) = dropped(&stats_line(&mut host));
    assert!(budget >= 18, "drops not counted: {budget}");
}

#[test]
fn net_callback_rate_per_endpoint_drops_and_counts() {
    let (mut host, cap, object) = scene("[Dispatcher]\nCallbackDatagramsPerSecond = 10\n[RemoteControl]\nTickRateHz = 20\n");
    let sock = callback_socket();
    let ep = endpoint_id(&host, &cap, &sock);
    for _ in 0..10 {
        rc(&host, &cap, "RegisterUpdatedCallbackRequest", json!({"ObjectIDs": [object], "EndPointID": ep}));
    }
    // A velocity makes the tick move the object 20 times a second: 200
    // datagrams a second for ten registrations, unthrottled.
    rc(
        &host,
        &cap,
        "BulkDynamicsRequest",
        json!({"Updates": [{"ObjectID": object, "Velocity": [0.5, 0.0, 0.0]}]}),
    );
    let got = count_for(&sock, Duration::from_secs(2));
    rc(
        &host,
        &cap,
        "BulkDynamicsRequest",
        json!({"Updates": [{"ObjectID": object, "Velocity": [0.0, 0.0, 0.0]}]}),
    );
    assert!(got <= 45, "{got} datagrams in 2 s at a limit of 10/s");
    assert!(got >= 5, "callbacks stopped altogether: {got}");
    let (rate, _) = dropped(&stats_line(&mut host));
    assert!(rate >= 100, "drops not counted: {rate}");
}

#[test]
fn net_endpoint_lifespan_is_capped() {
    let host = Host::start();
    let cap = host.capability(&["RemoteControl"]);
    let sock = callback_socket();
    let reply = endpoint(&host, &cap, &sock, i64::from(i32::MAX));
    assert_eq!(reply["_Success"], 1, "{reply}");
    assert_eq!(reply["LifeSpan"], 300_000, "{reply}");
    let host = Host::start_with("[Dispatcher]\nMaxEndPointLifeSpan = 20000\n");
    let cap = host.capability(&["RemoteControl"]);
    assert_eq!(endpoint(&host, &cap, &sock, 100_000)["LifeSpan"], 20_000);
}

#[test]
fn net_endpoints_end_with_their_capability() {
    let (host, watcher_cap, object) = scene("");
    let mover = host.capability(&["RemoteControl"]);
    let sock = callback_socket();
    let ep = endpoint_id(&host, &watcher_cap, &sock);
    rc(
        &host,
        &watcher_cap,
        "RegisterUpdatedCallbackRequest",
        json!({"ObjectIDs": [object], "EndPointID": ep}),
    );
    move_to(&host, &mover, &object, 42.0);
    assert_eq!(drain(&sock, Duration::from_millis(800)), 1, "callbacks flow while the capability lives");
    let destroyed = host.call(&json!({
        "$type": "Dispatcher.Messages.DestroyCapabilityRequest",
        "_domain": "Dispatcher", "_scene": REGION, "_capability": watcher_cap,
    }));
    assert_eq!(destroyed["_Success"], 1, "{destroyed}");
    move_to(&host, &mover, &object, 43.0);
    assert_eq!(drain(&sock, Duration::from_millis(800)), 0, "callbacks after the capability was destroyed");

    // Expiry: a 1-second capability, left idle.
    let short = post_json_from("127.0.0.1", &host, &create_capability_request(OWNER.0, OWNER.1, PASSWORD_MD5, 1));
    assert_eq!(short["_Success"], 1, "{short}");
    let short = short["Capability"].as_str().expect("cap").to_owned();
    let ep = endpoint_id(&host, &short, &sock);
    rc(&host, &short, "RegisterUpdatedCallbackRequest", json!({"ObjectIDs": [object], "EndPointID": ep}));
    std::thread::sleep(Duration::from_millis(2500));
    move_to(&host, &mover, &object, 44.0);
    assert_eq!(drain(&sock, Duration::from_millis(800)), 0, "callbacks after the capability expired");
}

// ---------------------------------------------------------------------------
// Login throttling.

/// Wrong guesses from `source` until refused; the number of guesses answered
/// normally before that (None: never refused within `limit`).
fn guesses_until_refused(host: &Host, source: &str, first: &str, last: &str, limit: usize) -> Option<usize> {
    for i in 0..limit {
        let reply = post_json_from(source, host, &create_capability_request(first, last, "00000000000000000000000000000000", 300));
        assert_eq!(reply["_Success"], 0, "{reply}");
        let message = reply["_Message"].as_str().unwrap_or("");
        if message.starts_with("too many failed login attempts") {
            assert!(message.contains("retry in"), "{message}");
            return Some(i);
        }
    }
    None
}

#[test]
fn net_create_capability_guessing_backs_off_without_locking_the_owner_out() {
    let dir = tempfile::tempdir().expect("tmp");
    let ids = seed(dir.path());
    // A long first backoff, so that the checks below fall inside it on a slow machine.
    let ini = "[Network]\nlogin_backoff_base_ms = 20000\n";
    let host = Host::try_launch_args(dir, ids, ini, &["--http-port", "0", "--udp-port", "0"]).expect("start");
    let known = guesses_until_refused(&host, "127.0.0.2", OWNER.0, OWNER.1, 30).expect("guessing a known account is throttled");
    assert!(known <= 6, "{known} guesses before backoff");
    // The right password from the guessing address waits too…
    let reply = post_json_from("127.0.0.2", &host, &create_capability_request(OWNER.0, OWNER.1, PASSWORD_MD5, 300));
    assert_eq!(reply["_Success"], 0, "{reply}");
    // …but the owner's own address is never refused.
    let reply = post_json_from("127.0.0.1", &host, &create_capability_request(OWNER.0, OWNER.1, PASSWORD_MD5, 300));
    assert_eq!(reply["_Success"], 1, "{reply}");
    // An unknown account is throttled exactly like a known one.
    let unknown = guesses_until_refused(&host, "127.0.0.3", "No", "Body", 30).expect("unknown accounts are throttled");
    assert_eq!(unknown, known);
    // Failures are logged, without the secret.
    let log = std::fs::read_to_string(host.dir.path().join("serve.stderr")).expect("log");
    assert!(log.contains("login failed"), "{log}");
    assert!(log.contains("127.0.0.2"), "{log}");
    assert!(!log.contains("00000000000000000000000000000000"), "a guessed secret reached the log");
}

const REST_INI: &str = "[RestPlugins]\nenabled = true\ngod_key = SECRET\nprefix = /admin\n[RestHandler]\nenabled = true\n";

fn basic(credentials: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials))
}

fn rest_get(host: &Host, source: &str, path: &str, credentials: &str) -> Raw {
    let auth = basic(credentials);
    request_from(source, host.http, "GET", path, &[("Authorization", auth.as_str())], b"")
}

fn rest_host(ini: &str) -> Host {
    let dir = tempfile::tempdir().expect("tmp");
    let ids = seed(dir.path());
    cli(dir.path(), &["user", "create", "--first", "Test", "--last", "User", "--password", "password"]);
    Host::launch(dir, ids, ini)
}

const INV: &str = "/admin/inventory/Test%20User";

#[test]
fn net_rest_guessing_backs_off_with_retry_after_and_never_locks_the_owner_out() {
    let host = rest_host(&format!("{REST_INI}[Network]\nlogin_backoff_base_ms = 20000\n"));
    let mut refused = None;
    for _ in 0..20 {
        let r = rest_get(&host, "127.0.0.2", INV, "Test User:wrong");
        if r.status == 429 {
            refused = Some(r);
            break;
        }
        assert_eq!(r.status, 401, "{}", r.body);
    }
    let refused = refused.expect("guessing was never throttled");
    let retry: u64 = refused.header("Retry-After").expect("Retry-After").parse().expect("seconds");
    assert!(retry >= 1, "{retry}");
    // The owner, from an address that has not failed, gets in at once.
    assert_eq!(rest_get(&host, "127.0.0.1", INV, "Test User:password").status, 200);
    // God-key guessing that rotates names from one address is throttled.
    let mut god = None;
    for i in 0..40 {
        let r = rest_get(&host, "127.0.0.3", "/admin/inventory/Nobody%20Here", &format!("Name{i} X:guess{i}"));
        if r.status == 429 {
            god = Some(i);
            break;
        }
    }
    assert!(god.is_some(), "rotating names was never throttled");
}

#[test]
fn net_rest_guessing_that_rotates_names_and_addresses_is_throttled() {
    let host = rest_host(&format!(
        "{REST_INI}[Network]\nlogin_attack_failures_per_minute = 10\nlogin_backoff_base_ms = 20000\n"
    ));
    for i in 1..=12 {
        let r = rest_get(&host, &format!("127.0.1.{i}"), INV, &format!("Name{i} X:guess"));
        assert_eq!(r.status, 401);
    }
    // Under attack a fresh address gets one failure, then backoff.
    assert_eq!(rest_get(&host, "127.0.2.1", INV, "Other Name:guess").status, 401);
    assert_eq!(rest_get(&host, "127.0.2.1", INV, "Third Name:guess").status, 429);
    // And still: an address without failures is never refused.
    assert_eq!(rest_get(&host, "127.0.2.2", INV, "Test User:password").status, 200);
}

// ---------------------------------------------------------------------------
// Connections.

/// A connection that sends half a request head and then stalls.
fn half_sent(source: &str, to: SocketAddr) -> TcpStream {
    let mut s = connect_from(source, to);
    s.write_all(b"POST /Dispatcher/ HTTP/1.1\r\nHost: x\r\nContent-Ty")
        .expect("half a head");
    s
}

fn info_from(source: &str, to: SocketAddr) -> Raw {
    let body = br#"{"$type":"Dispatcher.Messages.InfoRequest"}"#;
    request_from(source, to, "POST", "/Dispatcher/", &[("Content-Type", "application/json")], body)
}

#[test]
fn net_slow_header_flood_leaves_room_for_a_fresh_client() {
    let host = Host::start_with("[Network]\nmax_connections = 40\nmax_connections_per_address = 10\npressure_header_timeout_ms = 300\n");
    let mut flood = Vec::new();
    for _ in 0..10 {
        flood.push(half_sent("127.0.0.2", host.http));
    }
    // The per-address cap: an eleventh connection is refused at once.
    let mut extra = connect_from("127.0.0.2", host.http);
    let mut out = Vec::new();
    let started = Instant::now();
    let _ = extra.read_to_end(&mut out);
    let refused = parse_response(&out);
    assert_eq!(refused.status, 503, "{}", refused.head);
    assert!(started.elapsed() < Duration::from_secs(3));
    // Fill every other slot from three more addresses.
    for a in 3..=5 {
        for _ in 0..10 {
            flood.push(half_sent(&format!("127.0.0.{a}"), host.http));
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let reply = info_from("127.0.0.1", host.http);
    let waited = started.elapsed();
    assert_eq!(reply.status, 200, "{}", reply.head);
    assert_eq!(reply.json()["$type"], "Dispatcher.Messages.InfoResponse");
    // Without the pressure deadline the client waits for the 10 s header time.
    assert!(waited < Duration::from_secs(3), "a fresh client waited {waited:?}");
    drop(flood);
}

#[test]
fn net_declared_oversized_body_is_refused_before_it_is_read() {
    let host = Host::start_with("[Network]\nmax_body_bytes = 1000\n");
    let mut s = connect_from("127.0.0.1", host.http);
    s.write_all(b"POST /Dispatcher/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n")
        .expect("head");
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).expect("an answer before the body is sent");
    let r = parse_response(&buf[..n]);
    assert_eq!(r.status, 413, "{}", r.head);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(r.header("Connection").as_deref(), Some("close"));
}

// ---------------------------------------------------------------------------
// Files service and logs.

#[test]
fn net_files_service_errors_are_4xx() {
    let files = tempfile::tempdir().expect("files root");
    let outside = tempfile::tempdir().expect("outside");
    std::fs::write(outside.path().join("secret.txt"), b"secret").expect("write");
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), files.path().join("link.txt")).expect("symlink");
    let host = rest_host(&format!("{REST_INI}files-root = {}\n", files.path().display()));
    let auth = basic("Test User:password");
    let headers = [("Authorization", auth.as_str())];
    let body = format!("<File>{}</File>", base64::engine::general_purpose::STANDARD.encode("data"));
    let put = request_from("127.0.0.1", host.http, "PUT", "/admin/files/x/missing/new.txt", &headers, body.as_bytes());
    assert_eq!(put.status, 404, "missing subdirectory: {}", put.body);
    let link = request_from("127.0.0.1", host.http, "GET", "/admin/files/x/link.txt", &headers, b"");
    assert_eq!(link.status, 403, "symlink outside the root: {}", link.body);
    assert!(!link.body.contains("secret"));
    let nul = request_from("127.0.0.1", host.http, "GET", "/admin/files/x/a%00b.txt", &headers, b"");
    assert_eq!(nul.status, 400, "NUL in a name: {}", nul.body);
}

#[test]
fn net_udp_errors_cannot_forge_log_lines() {
    let dir = tempfile::tempdir().expect("tmp");
    let ids = seed(dir.path());
    let host = Host::try_launch_args(dir, ids, "", &["--http-port", "0", "--udp-port", "0"]).expect("start");
    host.send_udp(br#"{"$type":"Bogus\nFORGED ERROR dispatcher: admin logged in","_Capability":"00000000-0000-0000-0000-000000000000"}"#);
    let path = host.dir.path().join("serve.stderr");
    let found = eventually(Duration::from_secs(5), || std::fs::read_to_string(&path).is_ok_and(|l| l.contains("FORGED")));
    assert!(found, "the UDP failure was not logged");
    let log = std::fs::read_to_string(&path).expect("log");
    assert!(!log.lines().any(|l| l.starts_with("FORGED")), "a forged log line: {log}");
    assert!(log.contains("Bogus\\nFORGED"), "{log}");
}
