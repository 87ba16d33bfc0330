//! dispatcher-core.md §15, one test per CORE-nn row.

use serde_json::json;

use crate::support::*;

fn info() -> serde_json::Value {
    json!({"$type": "Dispatcher.Messages.InfoRequest", "_asyncrequest": false, "_domain": "Dispatcher"})
}

#[test]
fn core_01_json_info_request() {
    let host = Host::start();
    let ex = host.post("/Dispatcher/", Some("application/json"), info().to_string().as_bytes());
    assert_eq!(ex.status, 200);
    assert_eq!(ex.content_type, "application/json");
    let reply = ex.json();
    assert_eq!(reply["$type"], "Dispatcher.Messages.InfoResponse");
    assert_eq!(reply["_Success"], 1);
}

#[test]
fn core_02_bson_info_request() {
    let host = Host::start();
    let reply = host.call_bson(&bson::doc! {
        "$type": "Dispatcher.Messages.InfoRequest", "_asyncrequest": false, "_domain": "Dispatcher"
    });
    assert_eq!(reply.get_str("$type").expect("type"), "Dispatcher.Messages.InfoResponse");
    assert_eq!(reply.get_i32("_Success").expect("int32 _Success"), 1);
}

#[test]
fn core_04_text_plain_gets_no_response_object() {
    let host = Host::start();
    let ex = host.post("/Dispatcher/", Some("text/plain"), info().to_string().as_bytes());
    assert_eq!(ex.status, 415);
    assert!(!ex.content_type.starts_with("application/json"));
    assert!(ex.text().contains("unsupported Content-Type"));
}
