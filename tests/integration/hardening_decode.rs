//! Issue 11, finding 1: decoders linear in their input. Each test sends the
//! hostile body to the real binary and checks the answer; before the fix the
//! 100,000-member InfoRequest cost 26 s of CPU (release build) per request.

use std::io::Read;
use std::time::{Duration, Instant};

use crate::support::*;

/// `{"$type":"…InfoRequest","k0":0,…,"k{n-1}":0,"_domain":"Dispatcher"}` as JSON text.
fn many_members_json(n: usize) -> Vec<u8> {
    let mut s = String::from(r#"{"$type":"Dispatcher.Messages.InfoRequest""#);
    for i in 0..n {
        s.push_str(&format!(r#","k{i}":0"#));
    }
    s.push_str(r#","_domain":"Dispatcher"}"#);
    s.into_bytes()
}

fn many_members_bson(n: usize) -> Vec<u8> {
    let mut doc = bson::Document::new();
    doc.insert("$type", "Dispatcher.Messages.InfoRequest");
    for i in 0..n {
        doc.insert(format!("k{i}"), 0_i32);
    }
    doc.insert("_domain", "Dispatcher");
    let mut bytes = Vec::new();
    doc.to_writer(&mut bytes).expect("bson");
    bytes
}

/// Generous: linear decoding takes well under a second even in a debug build;
/// the quadratic decoder took minutes there.
const BOUND: Duration = Duration::from_secs(20);

#[test]
fn hardening_decode_100k_members_json_and_bson_are_answered() {
    let host = Host::start();
    let started = Instant::now();
    let ex = host.post("/Dispatcher/", Some("application/json"), &many_members_json(100_000));
    assert_eq!(ex.status, 200, "{}", ex.text());
    let reply = ex.json();
    assert_eq!(reply["$type"], "Dispatcher.Messages.InfoResponse", "{reply}");
    assert_eq!(reply["_Success"], 1);

    let ex = host.post("/Dispatcher/", Some("application/bson"), &many_members_bson(100_000));
    assert_eq!(ex.status, 200);
    let reply = bson::Document::from_reader(&mut ex.body.as_slice()).expect("BSON reply");
    assert_eq!(reply.get_str("$type").expect("$type"), "Dispatcher.Messages.InfoResponse");
    assert_eq!(reply.get_i32("_Success").expect("_Success"), 1);
    assert!(started.elapsed() < BOUND, "took {:?}", started.elapsed());
}

#[test]
fn hardening_decode_members_over_the_cap_get_a_failure() {
    let host = Host::start();
    let ex = host.post("/Dispatcher/", Some("application/json"), &many_members_json(200_000));
    assert_eq!(ex.status, 200, "{}", ex.text());
    let reply = ex.json();
    assert_eq!(reply["_Success"], 0, "{reply}");
    let message = reply["_Message"].as_str().expect("_Message");
    assert!(message.starts_with("Fatal error; "), "{message}");
    assert!(message.contains("more than 131072 members (limit max_members_per_object)"), "{message}");

    let ex = host.post("/Dispatcher/", Some("application/bson"), &many_members_bson(200_000));
    let reply = bson::Document::from_reader(&mut ex.body.as_slice()).expect("BSON reply");
    assert_eq!(reply.get_i32("_Success").expect("_Success"), 0);
    assert!(reply.get_str("_Message").expect("_Message").contains("max_members_per_object"));
    // The host is still answering.
    assert_eq!(host.call(&serde_json::json!({"$type": "Dispatcher.Messages.InfoRequest"}))["_Success"], 1);
}

const REST_INI: &str = "[RestPlugins]\nenabled = true\nprefix = /admin\n[RestHandler]\nenabled = true\nauthenticate = false\n";

fn put(host: &Host, path: &str, body: &[u8]) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut resp = agent.put(&host.url(path)).send(body).expect("HTTP exchange");
    let mut text = String::new();
    let _ = resp.body_mut().as_reader().read_to_string(&mut text);
    (resp.status().as_u16(), text)
}

#[test]
fn hardening_decode_rest_unknown_and_excess_attributes_get_400() {
    let host = Host::start_with(REST_INI);
    let path = "/admin/assets/55555555-5555-5555-5555-555555555555";
    // docs/rest.md promises 400 for an unknown attribute; the asset service ignored it.
    let (status, text) = put(&host, path, br#"<Asset name="n" type="7" colour="red">aGk=</Asset>"#);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("unrecognized attribute colour"), "{text}");
    // 120,000 attributes on one element (1.8 MB): 21 s before, a prompt 400 now.
    let mut body = String::from("<Asset");
    for i in 0..120_000 {
        body.push_str(&format!(" a{i}=\"x\""));
    }
    body.push_str(">aGk=</Asset>");
    let started = Instant::now();
    let (status, text) = put(&host, path, body.as_bytes());
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("element Asset has more than 64 attributes"), "{text}");
    assert!(started.elapsed() < BOUND, "took {:?}", started.elapsed());
    // The known attributes still work, and nothing was stored by the refusals.
    let (status, text) = put(&host, path, br#"<Asset name="n" desc="d" type="7" local="0" temporary="0">aGk=</Asset>"#);
    assert_eq!(status, 201, "{text}");
}
