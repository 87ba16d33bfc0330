//! Scripting spec (WebAssembly scripts in regions) against the real binary:
//! guests from guest-examples/out uploaded over the real protocol, acting
//! through the RemoteControl domain, faults and throttles named in the status.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::*;

/// Standard base64 with padding (the protocol's byte encoding in JSON).
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A guest component, built on demand by guest-examples/build.sh.
pub(crate) fn guest(name: &str) -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guest-examples");
    let path: PathBuf = root.join("out").join(format!("{name}.wasm"));
    if !path.exists() {
        let status = std::process::Command::new(root.join("build.sh"))
            .arg(name)
            .status()
            .expect("run build.sh");
        assert!(status.success(), "build.sh {name}");
    }
    std::fs::read(&path).expect("guest component")
}

/// An object asset with one box prim (remote-control §5.2), NUL-terminated.
pub(crate) fn box_asset() -> Vec<u8> {
    let zero = "<UUID>00000000-0000-0000-0000-000000000000</UUID>";
    let mut xml = String::from("<SceneObjectGroup><RootPart><SceneObjectPart>");
    xml += &format!("<CreatorID>{zero}</CreatorID><UUID><UUID>b0b0b0b0-0000-4000-8000-000000000001</UUID></UUID><Name>box</Name>");
    for tag in ["GroupPosition", "OffsetPosition", "Velocity", "Acceleration"] {
        xml += &format!("<{tag}><X>0</X><Y>0</Y><Z>0</Z></{tag}>");
    }
    xml += "<RotationOffset><X>0</X><Y>0</Y><Z>0</Z><W>1</W></RotationOffset><Description /><LinkNum>0</LinkNum>";
    xml += "<Shape><ProfileCurve>1</ProfileCurve><PathCurve>16</PathCurve><PCode>9</PCode>";
    xml += &format!("<SculptTexture>{zero}</SculptTexture><SculptEntry>false</SculptEntry></Shape>");
    xml += "<Scale><X>1</X><Y>1</Y><Z>1</Z></Scale>";
    for tag in ["GroupID", "OwnerID", "LastOwnerID"] {
        xml += &format!("<{tag}>{zero}</{tag}>");
    }
    xml += "</SceneObjectPart></RootPart><OtherParts /></SceneObjectGroup>";
    let mut bytes = xml.into_bytes();
    bytes.push(0);
    bytes
}

pub(crate) fn request(domain: &str, kind: &str, cap: &str, extra: Value) -> Value {
    let mut v = json!({
        "$type": format!("{domain}.Messages.{kind}"),
        "_domain": domain,
        "_scene": REGION,
        "_capability": cap,
    });
    if let (Some(obj), Value::Object(more)) = (v.as_object_mut(), extra) {
        obj.extend(more);
    }
    v
}

pub(crate) fn rc(host: &Host, cap: &str, kind: &str, extra: Value) -> Value {
    host.call(&request("RemoteControl", kind, cap, extra))
}

pub(crate) fn sc(host: &Host, cap: &str, kind: &str, extra: Value) -> Value {
    host.call(&request("Scripting", kind, cap, extra))
}

pub(crate) fn ok(reply: Value) -> Value {
    assert_eq!(reply["_Success"], 1, "{reply}");
    reply
}

/// Rez a box at the region centre; returns its id.
pub(crate) fn make_object(host: &Host, cap: &str) -> String {
    let asset = ok(rc(
        host,
        cap,
        "AddAssetRequest",
        json!({ "Asset": {
            "AssetID": "00000000-0000-0000-0000-000000000000",
            "SerializedAsset": base64(&box_asset()),
            "Name": "box", "Description": "", "ContentType": "application/vnd.ll.primitive", "CreatorID": "",
        }}),
    ));
    let created = ok(rc(
        host,
        cap,
        "CreateObjectRequest",
        json!({
            "AssetID": asset["AssetID"], "Position": [128.0, 128.0, 20.0], "Name": "scripted box",
        }),
    ));
    created["ObjectID"].as_str().expect("ObjectID").to_owned()
}

pub(crate) fn upload(host: &Host, cap: &str, object: &str, component: &[u8], grants: &[&str], start_parameter: &str) -> Value {
    sc(
        host,
        cap,
        "UploadScriptRequest",
        json!({
            "ObjectID": object, "Name": "test", "Component": base64(component),
            "Grants": grants, "StartParameter": start_parameter,
        }),
    )
}

pub(crate) fn upload_ok(host: &Host, cap: &str, object: &str, name: &str, grants: &[&str], start_parameter: &str) -> String {
    let reply = ok(upload(host, cap, object, &guest(name), grants, start_parameter));
    reply["ScriptID"].as_str().expect("ScriptID").to_owned()
}

pub(crate) fn status(host: &Host, cap: &str, script: &str) -> Value {
    sc(host, cap, "GetScriptStatusRequest", json!({ "ScriptID": script }))
}

pub(crate) fn log_text(host: &Host, cap: &str, script: &str) -> String {
    let reply = sc(host, cap, "GetScriptLogRequest", json!({ "ScriptID": script, "Since": 0 }));
    reply["Lines"]
        .as_array()
        .map(|lines| lines.iter().map(|l| format!("{}\n", l["Text"].as_str().unwrap_or(""))).collect())
        .unwrap_or_default()
}

pub(crate) fn wait_log(host: &Host, cap: &str, script: &str, needle: &str) -> bool {
    // Generous: under a loaded 2-core machine a restart recompiles nothing but
    // still competes with the other tests for the runner threads.
    eventually(Duration::from_secs(30), || log_text(host, cap, script).contains(needle))
}

fn wait_fault(host: &Host, cap: &str, script: &str, reason: &str) {
    let done = eventually(Duration::from_secs(30), || {
        let s = status(host, cap, script);
        s["State"] == "faulted" && s["FaultReason"] == reason
    });
    assert!(done, "expected {reason}: {} / log:\n{}", status(host, cap, script), log_text(host, cap, script));
}

pub(crate) fn position(host: &Host, cap: &str, object: &str) -> Vec<f64> {
    let reply = ok(rc(host, cap, "GetObjectPositionRequest", json!({ "ObjectID": object })));
    reply["Position"]
        .as_array()
        .expect("Position")
        .iter()
        .map(|v| v.as_f64().unwrap_or(f64::NAN))
        .collect()
}

fn touch(host: &Host, cap: &str, object: &str) {
    let avatar = host.ids["Ada"].clone();
    ok(rc(host, cap, "TouchObjectRequest", json!({ "ObjectID": object, "AvatarID": avatar, "LinkNum": 0 })));
}

pub(crate) const DOMAINS: [&str; 2] = ["RemoteControl", "Scripting"];

#[test]
fn scripting_touch_lifts_the_object() {
    let host = Host::start();
    let cap = host.capability(&DOMAINS);
    let object = make_object(&host, &cap);
    let script = upload_ok(&host, &cap, &object, "touch-lift", &["objects:read", "objects:write"], "");
    assert!(wait_log(&host, &cap, &script, "touch-lift ready"), "{}", log_text(&host, &cap, &script));
    touch(&host, &cap, &object);
    assert!(
        wait_log(&host, &cap, &script, "now at <128.00, 128.00, 21.00>"),
        "{}",
        log_text(&host, &cap, &script)
    );
    assert_eq!(position(&host, &cap, &object), vec![128.0, 128.0, 21.0]);
    let s = ok(status(&host, &cap, &script));
    assert_eq!(s["State"], "running");
    assert_eq!(s["Grants"], json!(["objects:read", "objects:write"]));
}

#[test]
fn scripting_chat_echo_answers_without_echo_loops() {
    let host = Host::start();
    let cap = host.capability(&DOMAINS);
    let a = upload_ok(&host, &cap, &make_object(&host, &cap), "chat-echo", &["chat"], "7");
    let b = upload_ok(&host, &cap, &make_object(&host, &cap), "chat-echo", &["chat"], "7");
    for s in [&a, &b] {
        assert!(wait_log(&host, &cap, s, "listening on channel 7"), "{}", log_text(&host, &cap, s));
    }
    ok(rc(
        &host,
        &cap,
        "ChatRequest",
        json!({ "Channel": 7, "Message": "hi", "Position": [128.0, 128.0, 20.0] }),
    ));
    // Each hears "hi" and the other's "echo: hi", never its own line: on-start + 2.
    for s in [&a, &b] {
        assert!(
            eventually(Duration::from_secs(10), || status(&host, &cap, s)["EventsHandled"] == 3),
            "{}",
            status(&host, &cap, s)
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    for s in [&a, &b] {
        assert_eq!(status(&host, &cap, s)["EventsHandled"], 3);
    }
}

#[test]
fn scripting_counter_survives_a_host_restart() {
    let host = Host::start();
    let cap = host.capability(&DOMAINS);
    let object = make_object(&host, &cap);
    let script = upload_ok(&host, &cap, &object, "counter", &["storage", "chat"], "");
    for n in 1..=2 {
        ok(rc(&host, &cap, "MessageObjectRequest", json!({ "ObjectID": object, "Message": "bump" })));
        assert!(wait_log(&host, &cap, &script, &format!("count = {n}")), "{}", log_text(&host, &cap, &script));
    }
    let ids = host.ids.clone();
    let (code, dir) = host.stop();
    assert_eq!(code, Some(0));
    let host = Host::launch(dir, ids, "");
    let cap = host.capability(&DOMAINS);
    assert!(wait_log(&host, &cap, &script, "counter started, count = 2"), "{}", log_text(&host, &cap, &script));
    ok(rc(&host, &cap, "MessageObjectRequest", json!({ "ObjectID": object, "Message": "bump" })));
    assert!(wait_log(&host, &cap, &script, "count = 3"), "{}", log_text(&host, &cap, &script));
    // Deleting the object removes its scripts.
    ok(rc(&host, &cap, "DeleteObjectRequest", json!({ "ObjectID": object })));
    assert!(eventually(Duration::from_secs(5), || status(&host, &cap, &script)["_Success"] == 0));
}

/// The script's component, as GetObjectInventory lists it: (name, asset id, item type).
fn inventory(host: &Host, cap: &str, object: &str) -> Vec<(String, String, i64)> {
    let reply = ok(rc(host, cap, "GetObjectInventoryRequest", json!({ "ObjectID": object })));
    reply["Inventory"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| {
                    let text = |k: &str| i[k].as_str().unwrap_or("").to_owned();
                    (text("Name"), text("AssetID"), i["ItemType"].as_i64().unwrap_or(0))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn scripting_uploaded_script_is_listed_in_the_object_inventory() {
    let host = Host::start();
    let cap = host.capability(&DOMAINS);
    let object = make_object(&host, &cap);
    let reply = ok(upload(&host, &cap, &object, &guest("counter"), &["storage"], ""));
    let script = reply["ScriptID"].as_str().expect("ScriptID").to_owned();
    let asset = reply["AssetID"].as_str().expect("AssetID").to_owned();
    let listed = (String::from("test"), asset.clone(), 100);
    assert_eq!(inventory(&host, &cap, &object), vec![listed.clone()]);
    // The component asset is the uploaded bytes.
    let got = ok(rc(&host, &cap, "GetAssetRequest", json!({ "AssetID": asset })));
    assert_eq!(got["Asset"]["ContentType"], "application/wasm");
    assert_eq!(got["Asset"]["SerializedAsset"], base64(&guest("counter")).as_str());
    // Kept across a restart, gone with the script.
    let ids = host.ids.clone();
    let (code, dir) = host.stop();
    assert_eq!(code, Some(0));
    let host = Host::launch(dir, ids, "");
    let cap = host.capability(&DOMAINS);
    assert_eq!(inventory(&host, &cap, &object), vec![listed]);
    ok(sc(&host, &cap, "RemoveScriptRequest", json!({ "ScriptID": script })));
    assert_eq!(inventory(&host, &cap, &object), vec![]);
}

#[test]
fn scripting_every_grant_denial_is_named() {
    let host = Host::start();
    let cap = host.capability(&DOMAINS);
    let cases = [
        ("touch-lift", "objects:read not granted"),
        ("chat-echo", "chat not granted"),
        ("counter", "storage not granted"),
    ];
    for (guest_name, needle) in cases {
        let object = make_object(&host, &cap);
        let script = upload_ok(&host, &cap, &object, guest_name, &[], "");
        // counter needs an event to touch its storage; the others fail on start or touch.
        touch(&host, &cap, &object);
        assert!(wait_log(&host, &cap, &script, needle), "{guest_name}: {}", log_text(&host, &cap, &script));
        let s = ok(status(&host, &cap, &script));
        assert_eq!(s["State"], "running", "{s}");
        assert!(s["DeniedCalls"].as_u64().unwrap_or(0) >= 1, "{s}");
    }
    // Grants never exceed the uploader: a capability without RemoteControl
    // yields a script without the RemoteControl grants.
    let narrow = host.capability(&["Scripting"]);
    let object = make_object(&host, &cap);
    let reply = ok(upload(&host, &narrow, &object, &guest("touch-lift"), &["objects:read", "storage"], ""));
    assert_eq!(reply["Grants"], json!(["storage"]));
}

#[test]
fn scripting_chaos_faults_and_throttles_while_a_probe_works() {
    let host = Host::start_with("[Scripting]\nMaxRestarts = 0\nMemoryLimitBytes = 4194304\n");
    let cap = host.capability(&DOMAINS);
    let probe_object = make_object(&host, &cap);
    let probe = upload_ok(&host, &cap, &probe_object, "counter", &["storage", "chat"], "");
    let faults = [
        ("spin", "timeout"),
        ("alloc", "out-of-memory"),
        ("recurse", "stack-overflow"),
        ("trap", "trap"),
        ("flood-calls", "host-call-limit"),
        ("flood-chat", "host-call-limit"),
    ];
    let mut scripts = Vec::new();
    for (command, _) in faults {
        let object = make_object(&host, &cap);
        scripts.push(upload_ok(&host, &cap, &object, "chaos", &["objects:read", "chat"], command));
    }
    for (n, (script, (_, reason))) in scripts.iter().zip(faults).enumerate() {
        wait_fault(&host, &cap, script, reason);
        ok(rc(&host, &cap, "MessageObjectRequest", json!({ "ObjectID": probe_object, "Message": "bump" })));
        assert!(
            wait_log(&host, &cap, &probe, &format!("count = {}", n + 1)),
            "probe stalled: {}",
            log_text(&host, &cap, &probe)
        );
    }
    let polite = upload_ok(&host, &cap, &make_object(&host, &cap), "chaos", &["chat"], "flood-chat-polite");
    assert!(wait_log(&host, &cap, &polite, "then Error::RateLimited"), "{}", log_text(&host, &cap, &polite));
    let timer = upload_ok(&host, &cap, &make_object(&host, &cap), "chaos", &[], "timer-1ms");
    assert!(wait_log(&host, &cap, &timer, "timer asked 1 ms, got 100 ms"), "{}", log_text(&host, &cap, &timer));
    assert!(wait_log(&host, &cap, &timer, "tick 3"), "{}", log_text(&host, &cap, &timer));
    assert_eq!(ok(status(&host, &cap, &probe))["State"], "running");
    // External clients are unaffected.
    ok(rc(&host, &cap, "GetObjectPositionRequest", json!({ "ObjectID": probe_object })));
}

#[test]
fn scripting_bad_uploads_are_refused_with_a_clear_message() {
    let host = Host::start_with("[Scripting]\nMaxComponentBytes = 200000\n");
    let cap = host.capability(&DOMAINS);
    let object = make_object(&host, &cap);
    let refuse = |bytes: &[u8], needle: &str| {
        let reply = upload(&host, &cap, &object, bytes, &[], "");
        assert_eq!(reply["_Success"], 0, "{reply}");
        let message = reply["_Message"].as_str().unwrap_or("");
        assert!(message.contains(needle), "{message:?} should contain {needle:?}");
    };
    refuse(b"definitely not wasm", "not a WebAssembly component");
    refuse(b"\0asm\x01\0\0\0", "core WebAssembly module");
    let mut corrupt = guest("touch-lift");
    corrupt.truncate(corrupt.len() / 2);
    refuse(&corrupt, "invalid component");
    refuse(&vec![7u8; 200_001], "exceeds MaxComponentBytes");
    let reply = upload(&host, &cap, "0badf00d-0000-4000-8000-000000000000", &guest("touch-lift"), &[], "");
    assert_eq!(reply["_Message"], "no such object");
    let reply = upload(&host, &cap, &object, &guest("touch-lift"), &["fly"], "");
    assert_eq!(reply["_Message"], "unknown grant \"fly\"");
    let list = ok(sc(&host, &cap, "ListScriptsRequest", json!({})));
    assert_eq!(list["Scripts"], json!([]), "nothing stored: {list}");
}

#[test]
fn scripting_bson_upload_and_lifecycle() {
    let host = Host::start();
    let cap = host.capability(&DOMAINS);
    let object = make_object(&host, &cap);
    let mut doc = bson::Document::new();
    doc.insert("$type", "Scripting.Messages.UploadScriptRequest");
    doc.insert("_domain", "Scripting");
    doc.insert("_scene", REGION);
    doc.insert("_capability", cap.clone());
    doc.insert("ObjectID", object.clone());
    doc.insert(
        "Component",
        bson::Binary {
            subtype: bson::spec::BinarySubtype::Generic,
            bytes: guest("chaos"),
        },
    );
    doc.insert("Grants", vec!["chat"]);
    doc.insert("Start", false);
    let reply = host.call_bson(&doc);
    assert_eq!(reply.get_i32("_Success").ok(), Some(1), "{reply}");
    assert_eq!(reply.get_str("State").ok(), Some("stopped"));
    let script = reply.get_str("ScriptID").expect("ScriptID").to_owned();
    assert_eq!(reply.get_str("Hash").ok().map(str::len), Some(64));
    ok(sc(&host, &cap, "StartScriptRequest", json!({ "ScriptID": script })));
    assert!(wait_log(&host, &cap, &script, "chaos: ok"), "{}", log_text(&host, &cap, &script));
    ok(sc(&host, &cap, "StopScriptRequest", json!({ "ScriptID": script })));
    assert_eq!(ok(status(&host, &cap, &script))["State"], "stopped");
    ok(sc(&host, &cap, "ResetScriptRequest", json!({ "ScriptID": script })));
    assert!(eventually(Duration::from_secs(5), || log_text(&host, &cap, &script).matches("chaos: ok").count() == 2));
    let list = ok(sc(&host, &cap, "ListScriptsRequest", json!({ "ObjectID": object })));
    assert_eq!(list["Scripts"].as_array().map(Vec::len), Some(1));
    ok(sc(&host, &cap, "RemoveScriptRequest", json!({ "ScriptID": script })));
    assert_eq!(status(&host, &cap, &script)["_Success"], 0);
}

/// The `dispatcher script ...` client subcommands against a running host.
#[test]
fn scripting_cli_upload_list_logs_stop_and_remove() {
    let host = Host::start();
    let cap = host.capability(&DOMAINS);
    let object = make_object(&host, &cap);
    guest("touch-lift");
    let wasm = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guest-examples/out/touch-lift.wasm");
    let url = host.url("/Dispatcher/");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(BIN)
            .arg("script")
            .args(args)
            .args(["--url", &url, "--user", "Ada Lovelace", "--password", PASSWORD])
            .output()
            .expect("run dispatcher script");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let wasm_arg = wasm.to_string_lossy().into_owned();
    let (ok_upload, out, err) = run(&["upload", &wasm_arg, "--object", &object, "--grant", "objects:read", "--grant", "objects:write"]);
    assert!(ok_upload, "{err}");
    assert!(err.contains("uploading: 100%"), "progress expected on stderr: {err}");
    let script = out.trim().to_owned();
    assert_eq!(script.len(), 36, "script id expected, got {out:?}");

    let (ok_list, out, err) = run(&["list"]);
    assert!(ok_list, "{err}");
    assert!(out.contains(&script) && out.contains("running"), "{out}");
    assert!(wait_log(&host, &cap, &script, "touch-lift ready"));
    let (ok_logs, out, err) = run(&["logs", &script]);
    assert!(ok_logs, "{err}");
    assert!(out.contains("touch-lift ready"), "{out}");

    let (ok_stop, _, err) = run(&["stop", &script]);
    assert!(ok_stop, "{err}");
    let (_, out, _) = run(&["status", &script]);
    assert!(out.contains("stopped"), "{out}");
    let (ok_rm, _, err) = run(&["rm", &script]);
    assert!(ok_rm, "{err}");
    let (ok_status, _, err) = run(&["status", &script]);
    assert!(!ok_status, "status of a removed script must fail");
    assert!(err.starts_with("error: "), "{err}");
}

/// RC-57 over real sockets: a chat on channel 5 reaches a listener within 20 m
/// of its position and not one 35 m away (listeners here are chat-echo scripts;
/// the status record's EventsHandled counts what each one heard).
#[test]
fn rc_57_chat_reaches_listeners_within_20_m_only() {
    let host = Host::start();
    let cap = host.capability(&DOMAINS);
    let place = |x: f64| {
        let object = make_object(&host, &cap);
        ok(rc(
            &host,
            &cap,
            "SetObjectPositionRequest",
            json!({"ObjectID": object, "Position": [x, 100.0, 20.0]}),
        ));
        object
    };
    let near_object = place(110.0);
    let far_object = place(135.0);
    let near = upload_ok(&host, &cap, &near_object, "chat-echo", &["chat"], "5");
    let far = upload_ok(&host, &cap, &far_object, "chat-echo", &["chat"], "5");
    for script in [&near, &far] {
        assert!(
            wait_log(&host, &cap, script, "chat-echo listening on channel 5"),
            "{}",
            log_text(&host, &cap, script)
        );
    }
    let handled = |script: &str| ok(status(&host, &cap, script))["EventsHandled"].as_i64().expect("EventsHandled");
    let (near_before, far_before) = (handled(&near), handled(&far));
    ok(rc(
        &host,
        &cap,
        "ChatRequest",
        json!({"Message": "ping", "Channel": 5, "Position": [100.0, 100.0, 20.0]}),
    ));
    assert!(
        eventually(Duration::from_secs(10), || handled(&near) > near_before),
        "the listener 10 m away did not hear the chat"
    );
    // Give the far listener the same time the near one needed, and more.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(handled(&far), far_before, "the listener 35 m away heard the chat");
}
