//! Grid mode: requests through a host that does not own the region
//! (docs/grid.md, "Request flow"; spec grid.md §1, §2.4). Two real hosts on
//! one real PostgreSQL: sim-a owns [`REGION`] (it prefers it), sim-b owns
//! nothing and forwards.

use std::io::{Read, Write};
use std::time::Duration;

use serde_json::{json, Value};

use crate::grid::GridTest;
use crate::scripting::{base64, box_asset, ok, DOMAINS};
use crate::support::*;

const SECRET: &str = "grid-test-secret-0123456789";

/// A grid of two hosts: `owner` holds [`REGION`], `other` does not.
pub struct TwoHosts {
    pub grid: GridTest,
    pub owner: Host,
    pub other: Host,
}

impl TwoHosts {
    pub fn start() -> TwoHosts {
        let grid = GridTest::new(Some(&[REGION]));
        let owner = grid
            .try_host("sim-a", crate::grid::LEASE_SECONDS, &format!("PreferredRegions = {REGION}\n"))
            .expect("sim-a starts");
        assert!(
            eventually(Duration::from_secs(15), || grid.owner(REGION).as_deref() == Some("sim-a")),
            "sim-a never took {REGION}"
        );
        let other = grid.try_host("sim-b", crate::grid::LEASE_SECONDS, "").expect("sim-b starts");
        // sim-b knows the owner once its first lease pass has run.
        let cap = other.capability(&DOMAINS);
        assert!(
            eventually(Duration::from_secs(10), || get_sun(&other, &cap)["_Success"] == 1),
            "sim-b never forwarded to sim-a: {}",
            get_sun(&other, &cap)
        );
        TwoHosts { grid, owner, other }
    }
}

fn request(kind: &str, cap: &str, extra: Value) -> Value {
    let mut v = json!({
        "$type": format!("RemoteControl.Messages.{kind}"),
        "_domain": "RemoteControl",
        "_scene": REGION,
        "_capability": cap,
    });
    if let (Some(obj), Value::Object(more)) = (v.as_object_mut(), extra) {
        obj.extend(more);
    }
    v
}

fn get_sun(host: &Host, cap: &str) -> Value {
    host.call(&request("GetSunParametersRequest", cap, json!({})))
}

/// POST `body` to `host` with extra headers over a raw connection; returns
/// the status and the body.
fn post_with_headers(host: &Host, body: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut s = std::net::TcpStream::connect(host.http).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let mut head = format!(
        "POST /Dispatcher/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head += &format!("{k}: {v}\r\n");
    }
    head += "\r\n";
    s.write_all(head.as_bytes()).expect("send");
    s.write_all(body.as_bytes()).expect("send body");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let json_start = text.find("\r\n\r\n").map(|i| i + 4).unwrap_or(0);
    // The body may be chunked; the reply object is between the outer braces.
    let body = &text[json_start..];
    let (a, b) = (body.find('{').unwrap_or(0), body.rfind('}').map(|i| i + 1).unwrap_or(0));
    let value = serde_json::from_str(&body[a..b.max(a)]).unwrap_or(Value::Null);
    (status, value)
}

/// Replies with the members that differ per call (new ids) removed.
fn stable(mut v: Value) -> Value {
    if let Some(obj) = v.as_object_mut() {
        // CurrentTime follows the wall clock in whole seconds: two calls
        // may fall on either side of a second.
        for volatile in ["ObjectID", "AssetID", "RequestID", "CurrentTime"] {
            obj.remove(volatile);
        }
        for member in obj.values_mut() {
            *member = stable(member.take());
        }
    }
    v
}

#[test]
fn grid_forward_every_request_kind_through_a_non_owner_gets_the_owners_reply() {
    let h = TwoHosts::start();
    let cap = h.other.capability(&DOMAINS);
    // Writes through the non-owner land on the owner.
    let asset = ok(h.other.call(&request(
        "AddAssetRequest",
        &cap,
        json!({ "Asset": {
            "AssetID": "00000000-0000-0000-0000-000000000000",
            "SerializedAsset": base64(&box_asset()),
            "Name": "box", "Description": "", "ContentType": "application/vnd.ll.primitive", "CreatorID": "",
        }}),
    )));
    let asset_id = asset["AssetID"].as_str().expect("AssetID").to_owned();
    let created = ok(h.other.call(&request(
        "CreateObjectRequest",
        &cap,
        json!({"AssetID": asset_id, "Position": [128.0, 128.0, 25.0], "Name": "forwarded box"}),
    )));
    let object = created["ObjectID"].as_str().expect("ObjectID").to_owned();
    ok(h.other.call(&request(
        "SetObjectPositionRequest",
        &cap,
        json!({"ObjectID": object, "Position": [100.0, 100.0, 30.0]}),
    )));
    ok(h.other.call(&request(
        "SetSunParametersRequest",
        &cap,
        json!({"YearLength": 60.0, "DayLength": 5.0, "HorizonShift": 0.5, "DayTimeSunHourScale": 0.5, "CurrentTime": 0.0}),
    )));
    // Reads (and failures) answer the same through either host, in both encodings.
    let reads = [
        request("GetSunParametersRequest", &cap, json!({})),
        request("FindObjectsRequest", &cap, json!({"Name": "forwarded box"})),
        request("GetTerrainHeightRequest", &cap, json!({"X": 10, "Y": 10})),
        request("GetAssetRequest", &cap, json!({"AssetID": asset_id})),
        request("TestAssetRequest", &cap, json!({"AssetID": asset_id})),
        request("GetDependentAssetsRequest", &cap, json!({"AssetID": asset_id})),
        request("GetAssetFromObjectRequest", &cap, json!({"ObjectID": object})),
        request("GetObjectRequest", &cap, json!({"ObjectID": object})),
        request("TouchObjectRequest", &cap, json!({"ObjectID": uuid::Uuid::new_v4().to_string()})),
        request("NoSuchRequest", &cap, json!({})),
    ];
    for read in &reads {
        let (direct, forwarded) = (h.owner.call(read), h.other.call(read));
        assert_eq!(stable(direct.clone()), stable(forwarded.clone()), "{read}");
        let doc = bson::to_document(read).expect("bson");
        let (direct, forwarded) = (h.owner.call_bson(&doc), h.other.call_bson(&doc));
        let json = |d: bson::Document| stable(serde_json::to_value(d).expect("json"));
        assert_eq!(json(direct), json(forwarded), "BSON {read}");
    }
    assert_eq!(h.grid.owner(REGION).as_deref(), Some("sim-a"), "the region never moved");
    let found = h.other.call(&reads[1]);
    assert!(found.to_string().contains(&object), "{found}");
    // A Scripting request is forwarded alike.
    let list = json!({
        "$type": "Scripting.Messages.ListScriptsRequest", "_domain": "Scripting", "_scene": REGION, "_capability": cap,
    });
    assert_eq!(h.owner.call(&list), h.other.call(&list));
    // Not region-scoped: answered locally (InfoRequest lists the grid's regions).
    let info = h
        .other
        .call(&json!({"$type": "Dispatcher.Messages.InfoRequest", "_domain": "Dispatcher"}));
    assert!(info["SceneList"].as_array().is_some_and(|l| l.iter().any(|s| s == REGION)), "{info}");
}

#[test]
fn grid_forward_capability_checked_grid_wide_and_destroy_seen_within_a_second() {
    let h = TwoHosts::start();
    // Created on the owner, used through the other host.
    let cap = h.owner.capability(&DOMAINS);
    ok(get_sun(&h.other, &cap));
    // A capability without the domain is refused by the non-owner, without a hop.
    let narrow = h.owner.capability(&["Scripting"]);
    let refused = get_sun(&h.other, &narrow);
    assert_eq!(refused["_Success"], 0, "{refused}");
    assert_eq!(refused, get_sun(&h.owner, &narrow), "the same refusal as the owner's");
    // Destroyed on the owner: refused on the other host within 1 s.
    ok(h.owner.call(&json!({
        "$type": "Dispatcher.Messages.DestroyCapabilityRequest", "_domain": "Dispatcher", "_capability": cap,
    })));
    std::thread::sleep(Duration::from_millis(1000));
    let after = get_sun(&h.other, &cap);
    assert_eq!(after["_Success"], 0, "{after}");
    assert!(after["_Message"].as_str().is_some_and(|m| m.contains("Unauthorized")), "{after}");
}

#[test]
fn grid_forward_wrong_secret_and_hop_limit_are_refused() {
    let h = TwoHosts::start();
    let cap = h.other.capability(&DOMAINS);
    let body = request("GetSunParametersRequest", &cap, json!({})).to_string();
    // A client posing as a host: wrong or missing secret.
    for headers in [
        vec![("X-Dispatcher-Grid-Secret", "not-the-secret"), ("X-Dispatcher-Hops", "1")],
        vec![("X-Dispatcher-Hops", "1")],
        vec![("X-Dispatcher-Forwarded-For", "10.9.9.9")],
    ] {
        for host in [&h.owner, &h.other] {
            let (status, reply) = post_with_headers(host, &body, &headers);
            assert_eq!(status, 200);
            assert_eq!(reply["_Success"], 0, "{headers:?}: {reply}");
            assert!(reply["_Message"].as_str().is_some_and(|m| m.contains("forwarded request refused")), "{reply}");
        }
    }
    // The right secret at the hop limit: the owner answers (nothing to
    // forward), the non-owner refuses to forward it again.
    let at_limit = [("X-Dispatcher-Grid-Secret", SECRET), ("X-Dispatcher-Hops", "2")];
    let (_, owner_reply) = post_with_headers(&h.owner, &body, &at_limit);
    assert_eq!(owner_reply["_Success"], 1, "{owner_reply}");
    let (_, refused) = post_with_headers(&h.other, &body, &at_limit);
    assert_eq!(refused["_Success"], 0, "{refused}");
    assert!(
        refused["_Message"]
            .as_str()
            .is_some_and(|m| m.contains("not forwarded") && m.contains("limit is 2")),
        "{refused}"
    );
    // One hop below the limit is forwarded.
    let (_, forwarded) = post_with_headers(&h.other, &body, &[("X-Dispatcher-Grid-Secret", SECRET), ("X-Dispatcher-Hops", "1")]);
    assert_eq!(forwarded["_Success"], 1, "{forwarded}");
    // Out-of-range hop counts are invalid.
    let (_, bad) = post_with_headers(&h.other, &body, &[("X-Dispatcher-Grid-Secret", SECRET), ("X-Dispatcher-Hops", "7")]);
    assert_eq!(bad["_Success"], 0, "{bad}");
}

/// Open a grid link to `host` by hand: the handshake's status line, and the
/// stream when it was upgraded.
fn open_link(host: &Host, secret: Option<&str>) -> (String, std::net::TcpStream) {
    let mut s = std::net::TcpStream::connect(host.http).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let mut head = format!(
        "POST /Dispatcher/ HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: {}\r\nContent-Length: 0\r\n",
        dispatcher_server::grid_link::PROTOCOL
    );
    if let Some(secret) = secret {
        head += &format!("X-Dispatcher-Grid-Secret: {secret}\r\n");
    }
    head += "\r\n";
    s.write_all(head.as_bytes()).expect("send");
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !seen.ends_with(b"\r\n\r\n") && s.read(&mut byte).expect("read") == 1 {
        seen.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&seen).into_owned();
    (text.lines().next().unwrap_or("").to_owned(), s)
}

/// The kind and id of the next frame, and the frame's rest.
fn read_frame(s: &mut std::net::TcpStream) -> Option<(u8, u64, Vec<u8>)> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let mut frame = vec![0u8; u32::from_le_bytes(len) as usize];
    s.read_exact(&mut frame).ok()?;
    let id = u64::from_le_bytes(frame[1..9].try_into().ok()?);
    Some((frame[0], id, frame))
}

/// Read one reply frame: (id, status, body).
fn read_reply(s: &mut std::net::TcpStream) -> Option<(u64, u16, Value)> {
    let (kind, id, frame) = read_frame(s)?;
    assert_eq!(kind, 2, "a reply frame");
    let status = u16::from_le_bytes([frame[9], frame[10]]);
    let type_len = u16::from_le_bytes([frame[11], frame[12]]) as usize;
    let body = &frame[13 + type_len..];
    Some((id, status, serde_json::from_slice(body).unwrap_or(Value::Null)))
}

/// The grid link is a way in for hosts only: the handshake needs the grid
/// secret, and every frame is checked as a forwarded request's headers are
/// (hop count), many frames in one write are each answered, and a frame
/// beyond the request size limit ends the link rather than being buffered.
#[test]
fn grid_forward_link_needs_the_secret_and_checks_every_frame() {
    use dispatcher_server::grid_link::{encode_request, LinkRequest};
    let h = TwoHosts::start();
    for (secret, what) in [(None, "missing"), (Some("not-the-secret"), "wrong")] {
        let (status, _) = open_link(&h.owner, secret);
        assert!(status.contains(" 403 "), "{what} secret: {status}");
    }
    let (status, mut link) = open_link(&h.owner, Some(SECRET));
    assert!(status.contains(" 101 "), "{status}");
    let cap = h.owner.capability(&DOMAINS);
    let body = bytes::Bytes::from(request("GetSunParametersRequest", &cap, json!({})).to_string());
    let frame = |hops: u32| LinkRequest {
        hops,
        udp: false,
        encoding: dispatcher_protocol::Encoding::Json,
        source: Some("10.9.9.9".parse().expect("address")),
        path: "/Dispatcher/".into(),
        body: body.clone(),
    };
    // Hop counts outside 1..=limit are refused per frame.
    for (id, hops) in [(1, 0), (2, 3)] {
        link.write_all(&encode_request(id, &frame(hops))).expect("send");
        let (got, status, reply) = read_reply(&mut link).expect("reply");
        assert_eq!((got, status), (id, 200));
        assert_eq!(reply["_Success"], 0, "{reply}");
        assert!(reply["_Message"].as_str().is_some_and(|m| m.contains("x-dispatcher-hops must be")), "{reply}");
    }
    // Ten requests in one write: ten replies, each to its id.
    let mut burst = Vec::new();
    for id in 10..20 {
        burst.extend_from_slice(&encode_request(id, &frame(1)));
    }
    link.write_all(&burst).expect("send");
    let mut ids: Vec<u64> = (0..10)
        .map(|_| {
            let (id, status, reply) = read_reply(&mut link).expect("reply");
            assert_eq!(status, 200);
            assert_eq!(reply["_Success"], 1, "{reply}");
            id
        })
        .collect();
    ids.sort();
    assert_eq!(ids, (10..20).collect::<Vec<u64>>());
    // A frame announcing 3 GiB: the link ends at once, the owner saying
    // which request it read last (`goaway`).
    link.write_all(&[0, 0, 0, 0xc0, 1]).expect("send");
    let goaway = read_frame(&mut link).map(|(kind, id, _)| (kind, id));
    assert_eq!(goaway, Some((3, 19)), "goaway after the last request read");
    assert!(read_frame(&mut link).is_none(), "the link is closed");
}

#[test]
fn grid_forward_udp_through_a_non_owner() {
    let h = TwoHosts::start();
    let cap = h.other.capability(&DOMAINS);
    let phase = 7.25;
    let datagram = request(
        "SetSunParametersRequest",
        &cap,
        json!({"YearLength": 60.0, "DayLength": phase, "HorizonShift": 0.5, "DayTimeSunHourScale": 0.5, "CurrentTime": 0.0}),
    )
    .to_string();
    h.other.send_udp(datagram.as_bytes());
    assert!(
        eventually(Duration::from_secs(5), || {
            let sun = get_sun(&h.owner, &cap);
            sun["DayLength"].as_f64().is_some_and(|p| (p - phase).abs() < 1e-6)
        }),
        "the datagram sent to sim-b never reached sim-a: {}",
        get_sun(&h.owner, &cap)
    );
}

#[test]
fn grid_forward_endpoint_created_through_a_non_owner_receives_the_owners_callbacks() {
    let h = TwoHosts::start();
    let cap = h.other.capability(&DOMAINS);
    let object = crate::scripting::make_object(&h.other, &cap);
    let socket = callback_socket();
    let port = socket.local_addr().expect("addr").port();
    let endpoint = ok(h.other.call(&json!({
        "$type": "Dispatcher.Messages.CreateEndPointRequest", "_domain": "Dispatcher", "_capability": cap,
        "CallbackHost": "127.0.0.1", "CallbackPort": port, "LifeSpan": 60000,
    })));
    let endpoint_id = endpoint["EndPointID"].as_str().expect("EndPointID").to_owned();
    // Registered and touched through the non-owner; the owner sends the callback.
    touch_reaches(&h.other, &cap, &object, &endpoint_id, &socket);
    // Renew and close through the owner find the same endpoint.
    let owner_cap = h.owner.capability(&DOMAINS);
    let renew = h.owner.call(&json!({
        "$type": "Dispatcher.Messages.RenewEndPointRequest", "_domain": "Dispatcher", "_capability": owner_cap,
        "EndPointID": endpoint_id, "LifeSpan": 60000,
    }));
    ok(renew);
}

/// Register a touch callback of `object` to `endpoint_id` and touch it, both
/// through `host`: the callback datagram naming the object reaches `socket`
/// within 5 s.
fn touch_reaches(host: &Host, cap: &str, object: &str, endpoint_id: &str, socket: &std::net::UdpSocket) {
    ok(host.call(&request(
        "RegisterTouchCallbackRequest",
        cap,
        json!({"ObjectID": object, "EndPointID": endpoint_id}),
    )));
    ok(host.call(&request("TouchObjectRequest", cap, json!({"ObjectID": object, "LinkNum": 0}))));
    socket.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let mut buf = [0u8; 65536];
    let n = socket.recv(&mut buf).expect("a touch callback within 5 s");
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.contains(object), "{text}");
}

#[test]
fn grid_forward_owner_killed_the_request_waits_for_the_takeover() {
    let mut h = TwoHosts::start();
    let cap = h.other.capability(&DOMAINS);
    ok(get_sun(&h.other, &cap));
    // Wait for the process to be gone: a request racing the teardown may
    // reach the dying owner and is then rightly reported as lost mid-way.
    h.owner.kill9();
    // sim-b's pooled connection to sim-a is dead: the request waits for the
    // lease to move (to sim-b, the only host left) and is answered then.
    let started = std::time::Instant::now();
    let reply = get_sun(&h.other, &cap);
    assert_eq!(reply["_Success"], 1, "{reply}");
    assert!(
        started.elapsed() < Duration::from_secs(2 * crate::grid::LEASE_SECONDS + 3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(h.grid.owner(REGION).as_deref(), Some("sim-b"));
}

#[test]
fn grid_forward_endpoint_survives_a_kill_of_its_owner() {
    let mut h = TwoHosts::start();
    let cap = h.other.capability(&DOMAINS);
    let object = crate::scripting::make_object(&h.other, &cap);
    let socket = callback_socket();
    let port = socket.local_addr().expect("addr").port();
    // Created through sim-b, it lives on sim-a (the owner) and in the grid's table.
    let endpoint = ok(h.other.call(&json!({
        "$type": "Dispatcher.Messages.CreateEndPointRequest", "_domain": "Dispatcher", "_capability": cap,
        "CallbackHost": "127.0.0.1", "CallbackPort": port, "LifeSpan": 60000,
    })));
    let endpoint_id = endpoint["EndPointID"].as_str().expect("EndPointID").to_owned();
    h.owner.kill9();
    // The takeover: sim-b, the only host left, now owns the region.
    assert_eq!(get_sun(&h.other, &cap)["_Success"], 1);
    assert_eq!(h.grid.owner(REGION).as_deref(), Some("sim-b"));
    // The client's renewal finds the endpoint on the new owner.
    let renew = ok(h.other.call(&json!({
        "$type": "Dispatcher.Messages.RenewEndPointRequest", "_domain": "Dispatcher", "_capability": cap,
        "EndPointID": endpoint_id, "LifeSpan": 60000,
    })));
    assert_eq!(renew["EndPointID"].as_str(), Some(endpoint_id.as_str()));
    // A touch on the new owner reaches the endpoint's socket.
    touch_reaches(&h.other, &cap, &object, &endpoint_id, &socket);
}
