//! Sandbox, grants and scope (issue "Close the sandbox", findings 1 and 2;
//! docs/security.md "Scripts: grants and scope"): the hostile guest
//! guest-examples/escape, told what to try through MessageObjectRequest,
//! against the real binary. Each test checks the effect in the region, not
//! only the guest's answer.

use std::time::Duration;

use serde_json::{json, Value};

use crate::scripting::{log_text, make_object, ok, position, rc, sc, status, upload_ok, DOMAINS};
use crate::support::*;

/// Log lines of `script` that start with `prefix`.
fn lines_with(host: &Host, cap: &str, script: &str, prefix: &str) -> Vec<String> {
    log_text(host, cap, script)
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

/// Tell the escape script in `object` to run `command`; wait for its next log
/// line starting with `prefix` and return it.
pub(crate) fn command(host: &Host, cap: &str, object: &str, script: &str, command: &str, prefix: &str) -> String {
    let before = lines_with(host, cap, script, prefix).len();
    ok(rc(host, cap, "MessageObjectRequest", json!({ "ObjectID": object, "Message": command })));
    let mut line = None;
    let done = eventually(Duration::from_secs(30), || {
        line = lines_with(host, cap, script, prefix).into_iter().nth(before);
        line.is_some()
    });
    assert!(done, "no {prefix:?} line after {command:?}; log:\n{}", log_text(host, cap, script));
    line.unwrap_or_default()
}

fn exists(host: &Host, cap: &str, object: &str) -> bool {
    rc(host, cap, "GetObjectDataRequest", json!({ "ObjectID": object }))["_Success"] == 1
}

/// An escape script holding `grants` in a fresh object; returns (object, script).
pub(crate) fn escape(host: &Host, cap: &str, grants: &[&str]) -> (String, String) {
    let object = make_object(host, cap);
    let script = upload_ok(host, cap, &object, "escape", grants, "");
    let started = eventually(Duration::from_secs(30), || status(host, cap, &script)["State"] == "running");
    assert!(started, "{}", status(host, cap, &script));
    (object, script)
}

/// Finding 1: a repeated member (`ObjectID` naming the script's own object,
/// `objectid` another one) must not let `scope:self` act on the other object,
/// for every message type that names objects, single, listed or in entries.
#[test]
fn sandbox_repeated_member_cannot_escape_scope_self() {
    let host = Host::start();
    let cap = host.capability(&DOMAINS);
    let (own, script) = escape(&host, &cap, &["objects:read", "objects:write", "objects:delete", "scope:self"]);
    let rcm = |kind: &str| format!("RemoteControl.Messages.{kind}");
    // (name, request naming `own` first and the victim last, in another case)
    // Each case builds its body from the type name, `own` and the victim.
    type Body = fn(&str, &str, &str) -> String;
    let cases: Vec<(&str, Body)> = vec![
        ("DeleteObject", |t, own, v| format!(r#"{{"$type":"{t}","ObjectID":"{own}","objectid":"{v}"}}"#)),
        ("SetObjectPosition", |t, own, v| {
            format!(r#"{{"$type":"{t}","ObjectID":"{own}","objectid":"{v}","Position":[10,10,30]}}"#)
        }),
        ("BulkDynamics", |t, own, v| {
            format!(r#"{{"$type":"{t}","Updates":[{{"ObjectID":"{own}","objectid":"{v}","Position":[20,20,40]}}]}}"#)
        }),
        ("SetPartColor", |t, own, v| {
            format!(r#"{{"$type":"{t}","ObjectID":"{own}","LinkNum":0,"Color":[1,0,0],"Alpha":1,"OBJECTID":"{v}"}}"#)
        }),
        ("TouchObject", |t, own, v| {
            format!(r#"{{"ObjectID":"{own}","$type":"{t}","objectId":"{v}","LinkNum":0}}"#)
        }),
        ("DeleteBulkObjects", |t, own, v| {
            format!(r#"{{"$type":"{t}","ObjectIDs":["{own}"],"objectids":["{v}"]}}"#)
        }),
    ];
    let mut escapes = Vec::new();
    for (name, build) in &cases {
        let victim = make_object(&host, &cap);
        let before = position(&host, &cap, &victim);
        let request = build(&rcm(&format!("{name}Request")), &own, &victim);
        let line = command(&host, &cap, &own, &script, &format!("send {request}"), "send ");
        let refused =
            line.starts_with("send err:") && line.contains("NotPermitted") && line.contains(&format!("object {victim} is out of scope"));
        if !refused {
            escapes.push(format!("{name}: not refused: {line}"));
        }
        if !exists(&host, &cap, &victim) {
            escapes.push(format!("{name}: the other object was deleted"));
        } else if position(&host, &cap, &victim) != before {
            escapes.push(format!("{name}: the other object moved"));
        }
        assert!(exists(&host, &cap, &own), "{name}: the script's own object is gone");
    }
    assert!(escapes.is_empty(), "scope:self escaped through a repeated member:\n{}", escapes.join("\n"));
    // Not vacuous: the same path acts on the script's own object.
    let request = format!(r#"{{"$type":"{}","objectid":"{own}","Position":[64,64,25]}}"#, rcm("SetObjectPositionRequest"));
    let line = command(&host, &cap, &own, &script, &format!("send {request}"), "send ");
    assert!(line.starts_with("send ok:") && line.contains(r#""_Success":1"#), "{line}");
    assert_eq!(position(&host, &cap, &own), vec![64.0, 64.0, 25.0]);
    let s = ok(status(&host, &cap, &script));
    assert!(s["DeniedCalls"].as_u64().unwrap_or(0) >= cases.len() as u64, "{s}");
}

/// Finding 1, listing: `FindObjects` through `messages.send` under
/// `scope:self` lists what the typed `objects.find` lists: the own object only.
#[test]
fn sandbox_find_objects_under_scope_self_lists_only_the_own_object() {
    let host = Host::start();
    let cap = host.capability(&DOMAINS);
    let (own, script) = escape(&host, &cap, &["objects:read", "scope:self"]);
    let others: Vec<String> = (0..3).map(|_| make_object(&host, &cap)).collect();
    let all = ok(rc(&host, &cap, "FindObjectsRequest", json!({})));
    assert_eq!(all["Objects"].as_array().map(Vec::len), Some(4), "{all}");

    let line = command(
        &host,
        &cap,
        &own,
        &script,
        r#"send {"pattern":"","$type":"RemoteControl.Messages.FindObjectsRequest"}"#,
        "send ",
    );
    let reply: Value = serde_json::from_str(line.trim_start_matches("send ok: ")).unwrap_or_else(|_| panic!("not a reply: {line}"));
    assert_eq!(reply["Objects"], json!([own]), "messages.send listed more than the scope: {line}");
    for other in &others {
        assert!(!line.contains(other.as_str()), "{line}");
    }
    let typed = command(&host, &cap, &own, &script, "find", "find");
    assert_eq!(typed, format!("find: 1 {own}"));
}

/// Finding 2: a script's upload is bounded by its own grants and scope,
/// never by its uploader's capability.
#[test]
fn sandbox_reupload_cannot_widen_grants() {
    let host = Host::start();
    let cap = host.capability(&DOMAINS);
    let (own, parent) = escape(&host, &cap, &["objects:read", "assets:read", "scripts", "scope:self"]);
    let line = command(&host, &cap, &own, &parent, "reupload child scope:region,objects:delete,region:write", "reupload");
    assert!(line.starts_with("reupload failed:"), "the escalation was granted: {line}");
    for grant in ["objects:delete", "region:write", "scope:region"] {
        assert!(line.contains(grant), "the refusal does not name {grant}: {line}");
    }
    assert!(line.contains("not held by the uploading script"), "{line}");
    let listed = ok(sc(&host, &cap, "ListScriptsRequest", json!({ "ObjectID": own })));
    assert_eq!(listed["Scripts"].as_array().map(Vec::len), Some(1), "{listed}");

    // Rights may shrink: a child with a subset is accepted with exactly that subset.
    let line = command(&host, &cap, &own, &parent, "reupload child objects:read,scope:self", "reupload");
    assert!(line.starts_with("reupload ok:"), "{line}");
    let reply: Value = serde_json::from_str(line.trim_start_matches("reupload ok: ")).expect("reply");
    assert_eq!(reply["Grants"], json!(["objects:read", "scope:self"]), "{reply}");

    // Uploading into another object is out of `scope:self`.
    let other = make_object(&host, &cap);
    let request =
        format!(r#"send {{"$type":"Scripting.Messages.UploadScriptRequest","ObjectID":"{other}","Component":"AGFzbQ0AAQA=","Grants":[]}}"#);
    let line = command(&host, &cap, &own, &parent, &request, "send ");
    assert!(
        line.starts_with("send err:") && line.contains("NotPermitted") && line.contains(&format!("object {other} is out of scope")),
        "{line}"
    );
}

/// Finding 2: `scripts` under `scope:self` manages only the scripts of its
/// own object: stop, log, status, start and listing of another object's
/// script are refused or hidden.
#[test]
fn sandbox_scripts_grant_cannot_manage_another_object() {
    let host = Host::start();
    let cap = host.capability(&DOMAINS);
    let (own, parent) = escape(&host, &cap, &["scripts", "scope:self"]);
    let (_, other) = escape(&host, &cap, &["objects:read"]);
    let sent = |kind: &str, extra: &str| {
        let request = format!(r#"send {{"$type":"Scripting.Messages.{kind}","ScriptID":"{other}"{extra}}}"#);
        command(&host, &cap, &own, &parent, &request, "send ")
    };
    for (kind, extra) in [
        ("StopScriptRequest", ""),
        ("GetScriptLogRequest", r#","Since":0"#),
        ("GetScriptStatusRequest", ""),
        ("RemoveScriptRequest", ""),
    ] {
        let line = sent(kind, extra);
        assert!(
            line.contains(r#""_Success":0"#) && line.contains("out of the calling script's scope"),
            "{kind} was not refused: {line}"
        );
    }
    assert_eq!(ok(status(&host, &cap, &other))["State"], "running");
    let line = command(&host, &cap, &own, &parent, r#"send {"$type":"Scripting.Messages.ListScriptsRequest"}"#, "send ");
    assert!(
        line.contains(&parent) && !line.contains(&other),
        "the listing shows another object's script: {line}"
    );
    // Not vacuous: its own status is readable.
    let request = format!(r#"send {{"$type":"Scripting.Messages.GetScriptStatusRequest","ScriptID":"{parent}"}}"#);
    let line = command(&host, &cap, &own, &parent, &request, "send ");
    assert!(line.contains(r#""_Success":1"#) && line.contains(r#""State":"running""#), "{line}");
}

/// Finding 2, running: a script may not (re)start a script of its own object
/// that holds more than it does.
#[test]
fn sandbox_scripts_grant_cannot_start_a_stronger_script() {
    let host = Host::start();
    let cap = host.capability(&DOMAINS);
    let (own, parent) = escape(&host, &cap, &["scripts", "scope:self"]);
    let strong = upload_ok(&host, &cap, &own, "escape", &["region:write", "scope:region"], "");
    ok(sc(&host, &cap, "StopScriptRequest", json!({ "ScriptID": strong })));
    for kind in ["StartScriptRequest", "ResetScriptRequest"] {
        let request = format!(r#"send {{"$type":"Scripting.Messages.{kind}","ScriptID":"{strong}"}}"#);
        let line = command(&host, &cap, &own, &parent, &request, "send ");
        assert!(line.contains(r#""_Success":0"#) && line.contains("region:write"), "{kind}: {line}");
    }
    assert_eq!(ok(status(&host, &cap, &strong))["State"], "stopped");
}

/// `scope:owner`: the owner's other objects are reachable, someone else's are
/// not — with a repeated member as well — and listings show only the owner's.
#[test]
fn sandbox_scope_owner_reaches_only_the_owners_objects() {
    let host = Host::start();
    let cap = host.capability(&DOMAINS);
    let (own, script) = escape(&host, &cap, &["objects:read", "objects:write", "scope:owner"]);
    let mine = make_object(&host, &cap);
    let bob = host.create_capability(MANAGER, &["RemoteControl"], 300);
    let bob = bob["Capability"]
        .as_str()
        .unwrap_or_else(|| panic!("Bob's capability: {bob}"))
        .to_owned();
    let theirs = make_object(&host, &bob);
    let before = position(&host, &cap, &theirs);
    let t = "RemoteControl.Messages.SetObjectPositionRequest";

    let request = format!(r#"send {{"$type":"{t}","ObjectID":"{mine}","objectid":"{theirs}","Position":[30,30,30]}}"#);
    let line = command(&host, &cap, &own, &script, &request, "send ");
    assert!(
        line.contains("NotPermitted") && line.contains(&format!("object {theirs} is out of scope; scope:region not granted")),
        "{line}"
    );
    assert_eq!(position(&host, &cap, &theirs), before, "someone else's object moved");

    let request = format!(r#"send {{"$type":"{t}","ObjectID":"{mine}","Position":[40,40,30]}}"#);
    let line = command(&host, &cap, &own, &script, &request, "send ");
    assert!(line.contains(r#""_Success":1"#), "{line}");
    assert_eq!(position(&host, &cap, &mine), vec![40.0, 40.0, 30.0]);

    let line = command(&host, &cap, &own, &script, r#"send {"$type":"RemoteControl.Messages.FindObjectsRequest"}"#, "send ");
    assert!(line.contains(&own) && line.contains(&mine) && !line.contains(&theirs), "{line}");
    let typed = command(&host, &cap, &own, &script, "find", "find");
    assert!(typed.starts_with("find: 2 ") && !typed.contains(&theirs), "{typed}");
}
