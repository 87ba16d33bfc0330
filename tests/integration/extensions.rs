//! Extensions (issue 13, docs/extensions.md) against the real binary: the
//! guest-examples `ext-chaos`, `ext-leaderboard` and `ext-spatial` installed
//! over the real protocol and called over HTTP JSON, BSON, UDP and from a
//! script; install refusals leave nothing stored; every chaos behaviour ends
//! in a Failure naming it while other domains keep answering.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::sandbox_rights::{command, escape};
use crate::scripting::{base64, guest, make_object, ok, rc, request};
use crate::support::*;

const EXT_DOMAINS: [&str; 3] = ["RemoteControl", "Scripting", "Extensions"];

fn ex(host: &Host, cap: &str, kind: &str, extra: Value) -> Value {
    host.call(&request("Extensions", kind, cap, extra))
}

/// A host where a plain user (no estate role) gets a capability too, so the
/// tests can show what such a caller may do.
const PLAIN_USERS: &str = "[Dispatcher]\nGrantGridManagersAccess = true\nGridManagerAccessLevel = 0\n";

/// A capability of `who` for the Extensions domain plus `more`.
fn cap_of(host: &Host, who: (&str, &str), more: &[&str]) -> String {
    let mut domains = EXT_DOMAINS.to_vec();
    domains.extend_from_slice(more);
    let reply = host.create_capability(who, &domains, 300);
    assert_eq!(reply["_Success"], 1, "{reply}");
    reply["Capability"].as_str().expect("Capability").to_owned()
}

fn install(host: &Host, cap: &str, name: &str, scope: &str, grants: &[&str], config: &str) -> Value {
    ex(
        host,
        cap,
        "InstallExtensionRequest",
        json!({ "Component": base64(&guest(name)), "Scope": scope, "Grants": grants, "Config": config }),
    )
}

fn install_ok(host: &Host, cap: &str, name: &str, grants: &[&str], config: &str) -> String {
    let reply = ok(install(host, cap, name, REGION, grants, config));
    reply["ExtensionID"].as_str().expect("ExtensionID").to_owned()
}

fn call(host: &Host, cap: &str, domain: &str, kind: &str, body: Value) -> Value {
    host.call(&request(domain, kind, cap, body))
}

fn listed(host: &Host, cap: &str) -> Vec<Value> {
    ok(ex(host, cap, "ListExtensionsRequest", json!({})))["Extensions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn extensions_install_as_estate_owner_and_call_over_json_bson_and_udp() {
    let host = Host::start();
    let cap = cap_of(&host, OWNER, &["Echo"]);
    let id = install_ok(&host, &cap, "ext-chaos", &[], "Echo");
    // HTTP JSON: the body without envelope members and the caller.
    let reply = ok(call(&host, &cap, "Echo", "EchoRequest", json!({ "Text": "hi" })));
    assert_eq!(reply["$type"], "Echo.Messages.EchoResponse", "{reply}");
    assert_eq!(reply["Body"], r#"{"Text":"hi"}"#, "{reply}");
    assert_eq!(reply["CallerID"], host.ids["Ada"].as_str(), "{reply}");
    // err(text) is a Failure with that text.
    let failed = call(&host, &cap, "Echo", "EchoRequest", json!({ "Text": "fail:no luck" }));
    assert_eq!(failed["_Success"], 0, "{failed}");
    assert_eq!(failed["_Message"], "no luck", "{failed}");
    // InfoRequest lists the type; MessageFormatRequest answers its default body.
    let info = host.call(&json!({ "$type": "Dispatcher.Messages.InfoRequest", "_domain": "Dispatcher" }));
    assert!(info.to_string().contains("Echo.Messages.EchoRequest"), "{info}");
    let format = host.call(&json!({
        "$type": "Dispatcher.Messages.MessageFormatRequest", "_domain": "Dispatcher",
        "MessageName": "Echo.Messages.EchoRequest",
    }));
    assert!(format.to_string().contains("Text"), "{format}");
    // HTTP BSON: the reply in BSON.
    let doc = bson::doc! {
        "$type": "Echo.Messages.EchoRequest", "_Domain": "Echo", "_Scene": REGION, "_Capability": cap.as_str(), "Text": "bson",
    };
    let reply = host.call_bson(&doc);
    assert_eq!(reply.get_i32("_Success").ok(), Some(1), "{reply}");
    assert_eq!(reply.get_str("Body").ok(), Some(r#"{"Text":"bson"}"#), "{reply}");
    // UDP: no reply; the extension counts the request.
    let datagram = json!({
        "$type": "Echo.Messages.EchoRequest", "_Domain": "Echo", "_Scene": REGION, "_Capability": cap, "Text": "udp",
    });
    host.send_udp(datagram.to_string().as_bytes());
    let handled = eventually(Duration::from_secs(10), || {
        ok(ex(&host, &cap, "GetExtensionStatusRequest", json!({ "ExtensionID": id })))["RequestsHandled"]
            .as_u64()
            .unwrap_or(0)
            >= 3
    });
    assert!(handled, "{}", ex(&host, &cap, "GetExtensionStatusRequest", json!({ "ExtensionID": id })));
    // A capability whose DomainList lacks the domain is refused.
    let narrow = cap_of(&host, OWNER, &[]);
    let refused = call(&host, &narrow, "Echo", "EchoRequest", json!({ "Text": "hi" }));
    assert_eq!(refused["_Success"], 0, "{refused}");
    assert!(refused["_Message"].as_str().unwrap_or("").contains("Unauthorized"), "{refused}");
}

#[test]
fn extensions_install_refusals_store_nothing() {
    let host = Host::start_with(PLAIN_USERS);
    let cap = cap_of(&host, OWNER, &[]);
    let visitor = cap_of(&host, VISITOR, &[]);
    let cases: Vec<(Value, &str)> = vec![
        (install(&host, &visitor, "ext-chaos", REGION, &[], "Named"), "not permitted"),
        (install(&host, &cap, "ext-chaos", "", &[], "Named"), "a god only"),
        (
            ex(
                &host,
                &cap,
                "InstallExtensionRequest",
                json!({ "Component": base64(b"hello world"), "Scope": REGION }),
            ),
            "not a WebAssembly component",
        ),
        (install(&host, &cap, "chaos", REGION, &[], ""), "domain-extension"),
        (install(&host, &cap, "ext-chaos", REGION, &[], "lower"), "not well formed"),
        (install(&host, &cap, "ext-chaos", REGION, &[], "RemoteControl"), "reserved"),
        (install(&host, &cap, "ext-chaos", REGION, &[], "Named Other"), "outside the domain's namespace"),
        (
            install(&host, &cap, "ext-chaos", REGION, &[], "Named Named describe-spin"),
            "describe failed: timeout",
        ),
        (install(&host, &cap, "ext-chaos", REGION, &[], "Named Named describe-trap"), "describe failed: trap"),
        (install(&host, &cap, "ext-chaos", REGION, &["act-as-installer"], "Named"), ""),
    ];
    let (last, rest) = cases.split_last().expect("cases");
    for (reply, needle) in rest {
        assert_eq!(reply["_Success"], 0, "{reply}");
        assert!(reply["_Message"].as_str().unwrap_or("").contains(needle), "want {needle:?}: {reply}");
    }
    // The estate owner may give act-as-installer; it shows in the listing.
    let act = ok(last.0.clone());
    assert!(act["Grants"].to_string().contains("act-as-installer"), "{act}");
    assert_eq!(listed(&host, &cap).len(), 1, "only the accepted install is stored");
    // The same domain again in the same scope: refused, nothing more stored.
    let again = install(&host, &cap, "ext-chaos", REGION, &[], "Named");
    assert_eq!(again["_Success"], 0, "{again}");
    assert!(again["_Message"].as_str().unwrap_or("").contains("already served"), "{again}");
    assert_eq!(listed(&host, &cap).len(), 1);
    // A manager may install for the region, but not give act-as-installer.
    let manager = cap_of(&host, MANAGER, &[]);
    let refused = install(&host, &manager, "ext-chaos", REGION, &["act-as-installer"], "Other");
    assert_eq!(refused["_Success"], 0, "{refused}");
    // A god installs for the whole host.
    let god = cap_of(&host, GOD, &[]);
    ok(install(&host, &god, "ext-leaderboard", "", &["storage"], ""));
}

/// One chaos behaviour: the caller gets a Failure naming it within the
/// budget (plus the machine's slack), and another domain keeps answering.
fn chaos(text: &str, needle: &str) {
    let host = Host::start_with("[Extensions]\nRequestCpuBudgetMs = 100\n");
    let cap = cap_of(&host, OWNER, &["Chaos"]);
    let id = install_ok(&host, &cap, "ext-chaos", &[], "Chaos");
    let started = Instant::now();
    let reply = call(&host, &cap, "Chaos", "EchoRequest", json!({ "Text": text }));
    let took = started.elapsed();
    assert_eq!(reply["_Success"], 0, "{reply}");
    assert!(reply["_Message"].as_str().unwrap_or("").contains(needle), "want {needle:?}: {reply}");
    assert!(took < Duration::from_secs(5), "{text}: answered after {took:?}");
    ok(rc(&host, &cap, "FindObjectsRequest", json!({})));
    // The extension answers again (a new instance after the backoff).
    let again = eventually(Duration::from_secs(10), || {
        call(&host, &cap, "Chaos", "EchoRequest", json!({ "Text": "ok" }))["_Success"] == 1
    });
    assert!(again, "{}", ex(&host, &cap, "GetExtensionStatusRequest", json!({ "ExtensionID": id })));
}

#[test]
fn extensions_chaos_spin_is_a_timeout() {
    chaos("spin", "extension Chaos faulted: timeout");
}

#[test]
fn extensions_chaos_alloc_is_out_of_memory() {
    chaos("alloc", "extension Chaos faulted: out-of-memory");
}

/// The WASI calls whose synchronous bindings would `block_on` (a blocking
/// stdin read, stderr and stdout) made while the guest runs on an HTTP
/// worker: answered, no fault, and the host keeps serving. Run on the
/// worker without the shadowing of wasi_offload.rs, the first of them
/// panics the worker and the caller gets no reply.
#[test]
fn extensions_chaos_blocking_wasi_calls_on_the_http_worker_are_answered() {
    let host = Host::start_with("[Extensions]\nRequestCpuBudgetMs = 100\n");
    let cap = cap_of(&host, OWNER, &["Chaos"]);
    install_ok(&host, &cap, "ext-chaos", &[], "Chaos");
    for _ in 0..3 {
        let reply = call(&host, &cap, "Chaos", "EchoRequest", json!({ "Text": "wasi-io" }));
        assert_eq!(reply["_Success"], 1, "{reply}");
        assert!(reply["Stdin"].as_str().is_some_and(|s| !s.is_empty()), "{reply}");
        ok(rc(&host, &cap, "FindObjectsRequest", json!({})));
    }
}

#[test]
fn extensions_chaos_recurse_is_a_stack_overflow() {
    chaos("recurse", "extension Chaos faulted: stack-overflow");
}

#[test]
fn extensions_chaos_trap_is_a_trap() {
    chaos("trap", "extension Chaos faulted: trap");
}

#[test]
fn extensions_chaos_flood_is_stopped() {
    chaos("flood", "extension Chaos faulted:");
}

#[test]
fn extensions_chaos_bad_json_reply_is_refused() {
    chaos("bad-json", "not a JSON object");
}

#[test]
fn extensions_chaos_big_reply_is_refused() {
    chaos("big", "over MaxReplyBytes");
}

#[test]
fn extensions_repeated_faults_end_faulted() {
    let host = Host::start_with("[Extensions]\nMaxRestarts = 1\n");
    let cap = cap_of(&host, OWNER, &["Chaos"]);
    let id = install_ok(&host, &cap, "ext-chaos", &[], "Chaos");
    for _ in 0..2 {
        let done = eventually(Duration::from_secs(10), || {
            call(&host, &cap, "Chaos", "EchoRequest", json!({ "Text": "trap" }))["_Message"]
                .as_str()
                .unwrap_or("")
                .contains("faulted: trap")
        });
        assert!(done);
    }
    let status = ok(ex(&host, &cap, "GetExtensionStatusRequest", json!({ "ExtensionID": id })));
    assert_eq!(status["State"], "faulted", "{status}");
    assert_eq!(status["FaultReason"], "trap", "{status}");
    let reply = call(&host, &cap, "Chaos", "EchoRequest", json!({ "Text": "ok" }));
    assert!(reply["_Message"].as_str().unwrap_or("").contains("is faulted"), "{reply}");
    // An explicit start brings it back.
    ok(ex(&host, &cap, "StartExtensionRequest", json!({ "ExtensionID": id })));
    ok(call(&host, &cap, "Chaos", "EchoRequest", json!({ "Text": "ok" })));
}

#[test]
fn extensions_leaderboard_storage_survives_update_stop_and_host_restart() {
    let host = Host::start();
    let cap = cap_of(&host, OWNER, &["Leaderboard"]);
    let id = install_ok(&host, &cap, "ext-leaderboard", &["storage"], "");
    ok(call(&host, &cap, "Leaderboard", "SubmitScoreRequest", json!({ "Player": "ada", "Score": 10 })));
    let rank = ok(call(&host, &cap, "Leaderboard", "SubmitScoreRequest", json!({ "Player": "bob", "Score": 20 })));
    assert_eq!(rank["Rank"], 1, "{rank}");
    // Update: same domain, storage kept.
    ok(ex(
        &host,
        &cap,
        "UpdateExtensionRequest",
        json!({ "ExtensionID": id, "Component": base64(&guest("ext-leaderboard")) }),
    ));
    let top = ok(call(&host, &cap, "Leaderboard", "GetTopScoresRequest", json!({ "Count": 5 })));
    assert_eq!(top["Scores"], json!([{ "Player": "bob", "Score": 20 }, { "Player": "ada", "Score": 10 }]), "{top}");
    // An update may not change the domain.
    let other = ex(
        &host,
        &cap,
        "UpdateExtensionRequest",
        json!({ "ExtensionID": id, "Component": base64(&guest("ext-chaos")), "Config": "Other" }),
    );
    assert_eq!(other["_Success"], 0, "{other}");
    // Stop and start.
    ok(ex(&host, &cap, "StopExtensionRequest", json!({ "ExtensionID": id })));
    let stopped = call(&host, &cap, "Leaderboard", "GetTopScoresRequest", json!({}));
    assert!(stopped["_Message"].as_str().unwrap_or("").contains("is stopped"), "{stopped}");
    ok(ex(&host, &cap, "StartExtensionRequest", json!({ "ExtensionID": id })));
    // Across a host restart: record, state and storage.
    let ids = host.ids.clone();
    let (_, dir) = host.stop();
    let host = Host::launch(dir, ids.clone(), "");
    let cap = cap_of(&host, OWNER, &["Leaderboard"]);
    let top = ok(call(&host, &cap, "Leaderboard", "GetTopScoresRequest", json!({ "Count": 1 })));
    assert_eq!(top["Scores"], json!([{ "Player": "bob", "Score": 20 }]), "{top}");
    ok(ex(&host, &cap, "StopExtensionRequest", json!({ "ExtensionID": id })));
    let (_, dir) = host.stop();
    let host = Host::launch(dir, ids, "");
    let cap = cap_of(&host, OWNER, &["Leaderboard"]);
    let status = ok(ex(&host, &cap, "GetExtensionStatusRequest", json!({ "ExtensionID": id })));
    assert_eq!(status["State"], "stopped", "{status}");
    // Remove: the domain is gone.
    ok(ex(&host, &cap, "RemoveExtensionRequest", json!({ "ExtensionID": id })));
    let gone = call(&host, &cap, "Leaderboard", "GetTopScoresRequest", json!({}));
    assert!(gone["_Message"].as_str().unwrap_or("").contains("Unknown message type"), "{gone}");
    assert!(listed(&host, &cap).is_empty());
}

#[test]
fn extensions_spatial_shows_a_plain_user_only_what_find_objects_shows() {
    let host = Host::start_with(PLAIN_USERS);
    let owner = cap_of(&host, OWNER, &["Spatial"]);
    ok(install(&host, &owner, "ext-spatial", REGION, &["objects:read", "scope:region"], ""));
    let objects: Vec<String> = (0..3).map(|_| make_object(&host, &owner)).collect();
    let near = ok(call(
        &host,
        &owner,
        "Spatial",
        "NearestObjectsRequest",
        json!({ "X": 128, "Y": 128, "Z": 20, "Count": 10 }),
    ));
    assert_eq!(near["Objects"].as_array().map(Vec::len), Some(3), "{near}");
    // A visitor whose capability lacks RemoteControl cannot find objects,
    // so neither can the extension acting for them.
    let visitor = cap_of(&host, VISITOR, &["Spatial"]);
    let theirs = call(&host, &visitor, "Spatial", "NearestObjectsRequest", json!({ "Count": 10 }));
    let mine = rc(&host, &visitor, "FindObjectsRequest", json!({}));
    let seen = theirs["Objects"].as_array().map_or(0, Vec::len);
    let findable = mine["Objects"].as_array().map_or(0, Vec::len);
    assert!(seen <= findable, "the extension showed {seen} objects, FindObjects {findable}: {theirs} / {mine}");
    for id in &objects {
        if !mine.to_string().contains(id.as_str()) {
            assert!(!theirs.to_string().contains(id.as_str()), "{theirs}");
        }
    }
}

/// Regression (the lost attempt's bug): a script granted objects only with
/// `scope:self`, calling Spatial through `messages.send`, sees only its own
/// object, exactly what it could find itself.
#[test]
fn extensions_scope_self_script_sees_only_what_it_may_find_through_spatial() {
    let host = Host::start();
    let cap = cap_of(&host, OWNER, &["Spatial"]);
    ok(install(&host, &cap, "ext-spatial", REGION, &["objects:read", "scope:region"], ""));
    let (own, script) = escape(&host, &cap, &["objects:read", "scope:self", "ext:Spatial"]);
    let others: Vec<String> = (0..3).map(|_| make_object(&host, &cap)).collect();
    let line = command(
        &host,
        &cap,
        &own,
        &script,
        r#"send {"$type":"Spatial.Messages.NearestObjectsRequest","X":128,"Y":128,"Z":20,"Count":10}"#,
        "send ",
    );
    assert!(line.starts_with("send ok: "), "{line}");
    let reply: Value = serde_json::from_str(line.trim_start_matches("send ok: ")).unwrap_or_else(|_| panic!("not a reply: {line}"));
    let ids: Vec<&str> = reply["Objects"]
        .as_array()
        .map(|a| a.iter().filter_map(|o| o["ObjectID"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, vec![own.as_str()], "{line}");
    for other in &others {
        assert!(!line.contains(other.as_str()), "{line}");
    }
    // Without the ext:Spatial grant the script is refused.
    let (own2, script2) = escape(&host, &cap, &["objects:read", "scope:self"]);
    let line = command(&host, &cap, &own2, &script2, r#"send {"$type":"Spatial.Messages.NearestObjectsRequest"}"#, "send ");
    assert!(line.contains("not granted") || line.contains("NotPermitted"), "{line}");
}

#[test]
fn extensions_hundred_concurrent_requests_are_all_answered() {
    let host = Host::start();
    let cap = cap_of(&host, OWNER, &["Echo"]);
    install_ok(&host, &cap, "ext-chaos", &[], "Echo");
    // 100 threads, each its own HTTP connection (the Host handle is not Sync).
    let url = host.url("/Dispatcher/");
    let answers: Vec<(usize, Value)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..100)
            .map(|i| {
                let (url, cap) = (&url, &cap);
                s.spawn(move || {
                    let body = request("Echo", "EchoRequest", cap, json!({ "Text": format!("n{i}") })).to_string();
                    let mut reply = ureq::post(url)
                        .header("Content-Type", "application/json")
                        .send(body.as_bytes())
                        .expect("HTTP exchange");
                    let text = reply.body_mut().read_to_string().expect("reply body");
                    (i, serde_json::from_str::<Value>(&text).expect("JSON reply"))
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    assert_eq!(answers.len(), 100);
    for (i, reply) in answers {
        assert_eq!(reply["_Success"], 1, "{reply}");
        assert_eq!(reply["Body"], format!(r#"{{"Text":"n{i}"}}"#), "{reply}");
    }
}

/// The ticker's count of `on-timer` calls.
fn ticks(host: &Host, cap: &str) -> u64 {
    let reply = ok(call(host, cap, "Ticker", "GetTicksRequest", json!({})));
    reply["Ticks"].as_u64().unwrap_or_else(|| panic!("no Ticks: {reply}"))
}

/// Whether the ticker's count grows by at least `more` within 10 s.
fn ticking(host: &Host, cap: &str, more: u64) -> bool {
    let from = ticks(host, cap);
    eventually(Duration::from_secs(10), || ticks(host, cap) >= from + more)
}

#[test]
fn extensions_timer_runs_on_timer_from_install_until_stop_and_again_after_start_and_host_restart() {
    let host = Host::start();
    let cap = cap_of(&host, OWNER, &["Ticker"]);
    // on-start (run at install, before any request) sets a 100 ms timer;
    // on-timer counts in storage, acting as the installer.
    let id = install_ok(&host, &cap, "ext-ticker", &["storage"], "100");
    std::thread::sleep(Duration::from_millis(1500));
    let first = ticks(&host, &cap);
    assert!(first >= 3, "only {first} ticks in 1.5 s at 100 ms");
    // Cancelled from a request: the count stays.
    let set = ok(call(&host, &cap, "Ticker", "SetIntervalRequest", json!({ "IntervalMs": 0 })));
    assert_eq!(set["IntervalMs"], 0, "{set}");
    std::thread::sleep(Duration::from_millis(300));
    let cancelled = ticks(&host, &cap);
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(ticks(&host, &cap), cancelled, "ticks after the timer was cancelled");
    // Set again from a request; below the minimum is raised to it.
    let set = ok(call(&host, &cap, "Ticker", "SetIntervalRequest", json!({ "IntervalMs": 1 })));
    assert_eq!(set["IntervalMs"], 100, "{set}");
    assert!(ticking(&host, &cap, 3), "no ticks after the timer was set again");
    // Stop ends the timer; start runs on-start again, which sets it.
    // (While stopped nothing can read the count: compare across the gap, in
    // which a live timer would have ticked about 15 times.)
    let before_stop = ticks(&host, &cap);
    ok(ex(&host, &cap, "StopExtensionRequest", json!({ "ExtensionID": id })));
    std::thread::sleep(Duration::from_millis(1500));
    ok(ex(&host, &cap, "StartExtensionRequest", json!({ "ExtensionID": id })));
    let after_start = ticks(&host, &cap);
    assert!(after_start <= before_stop + 2, "{before_stop} ticks before stop, {after_start} right after start");
    assert!(ticking(&host, &cap, 3), "no ticks after start");
    // Across a host restart: loaded, started and ticking before any request
    // of its domain (one would start an instance itself).
    let before_restart = ticks(&host, &cap);
    let cached_before = cache_file(&host.dir);
    assert!(cached_before.is_some(), "no compile cache file after install");
    let ids = host.ids.clone();
    let (_, dir) = host.stop();
    let host = Host::launch(dir, ids, "");
    let cap = cap_of(&host, OWNER, &["Ticker"]);
    std::thread::sleep(Duration::from_millis(1500));
    let status = ok(ex(&host, &cap, "GetExtensionStatusRequest", json!({ "ExtensionID": id })));
    assert_eq!(status["RequestsHandled"], 0, "{status}");
    let after_restart = ticks(&host, &cap);
    assert!(
        after_restart >= before_restart + 3,
        "{before_restart} ticks before the restart, {after_restart} 1.5 s after"
    );
    let status = ok(ex(&host, &cap, "GetExtensionStatusRequest", json!({ "ExtensionID": id })));
    assert_eq!(status["State"], "running", "{status}");
    assert_eq!(status["Restarts"], 0, "{status}");
    // The compile cache file of an installed extension is kept by the start's
    // sweep and reused, not deleted and written again by a recompile.
    assert_eq!(cache_file(&host.dir), cached_before, "the extension's compile cache file after a host restart");
}

/// The one compile cache file of a host with one component: name and time written.
fn cache_file(dir: &tempfile::TempDir) -> Option<(String, std::time::SystemTime)> {
    let entries = std::fs::read_dir(dir.path().join("script-cache")).ok()?;
    entries.flatten().find_map(|e| {
        let written = e.metadata().and_then(|m| m.modified()).ok()?;
        Some((e.file_name().to_string_lossy().into_owned(), written))
    })
}

/// One request over its own HTTP connection: the reply's text.
fn post_text(url: &str, body: &Value) -> String {
    let mut reply = ureq::post(url)
        .header("Content-Type", "application/json")
        .send(body.to_string().as_bytes())
        .expect("HTTP exchange");
    reply.body_mut().read_to_string().expect("reply body")
}

/// A BSON reply read as JSON members (to compare with the JSON reply).
fn bson_as_json(doc: &bson::Document) -> Value {
    serde_json::to_value(doc).expect("BSON as JSON")
}

/// The guest's reply text is the guest's: a JSON request's reply passes it
/// through after one checking scan, a BSON one (and text the scan is not
/// sure of) goes through the value tree. Either way the members the host
/// owns (`$type`, `_Success`, `_Message`) are the host's: smuggled ones, also
/// escaped, are dropped at the top level and kept in nested objects;
/// duplicates stay as the guest wrote them; both encodings carry the same
/// members.
#[test]
fn extensions_reply_cannot_smuggle_host_members_and_reads_the_same_in_json_and_bson() {
    let host = Host::start();
    let cap = cap_of(&host, OWNER, &["Echo"]);
    install_ok(&host, &cap, "ext-chaos", &[], "Echo");
    let url = host.url("/Dispatcher/");
    // Passed through (plain names, \u escapes outside the surrogates, numbers
    // without exponent) and left to the tree (escaped names, a surrogate
    // pair, an exponent, an integer beyond i64).
    let passed = r#"{"_Success":0,"$type":"Evil.Messages.X","_Message":"smuggled","Body":"first","Body":"second","Nested":{"_Success":0,"$type":"Inner","Deep":[1,{"x":null}]},"Uni":"caf\u00e9 中","N":[1,-2.5,0.125,-0.0]}"#;
    let tree = r#"{"\u005fSuccess":0,"\u0024type":"E","\u005fMessage":"smuggled","Body":"first","Body":"second","Nested":{"_Success":0,"$type":"Inner","Deep":[1,{"x":null}]},"Uni":"caf\u00e9 \ud83d\ude00","N":[1e3,12345678901234567890]}"#;
    for guest_text in [passed, tree] {
        let text = format!("reply:{guest_text}");
        let raw = post_text(&url, &request("Echo", "EchoRequest", &cap, json!({ "Text": text })));
        assert!(!raw.contains("smuggled") && !raw.contains("Evil") && !raw.contains(r#""E""#), "{raw}");
        assert_eq!(raw.matches(r#""_Success":1"#).count(), 1, "{raw}");
        assert!(raw.starts_with(r#"{"$type":"Echo.Messages.EchoResponse","#), "{raw}");
        assert!(raw.ends_with(r#","_Success":1,"_Message":""}"#), "{raw}");
        let reply: Value = serde_json::from_str(&raw).expect("JSON reply");
        assert_eq!(reply["$type"], "Echo.Messages.EchoResponse", "{reply}");
        assert_eq!(reply["_Success"], 1, "{reply}");
        assert_eq!(reply["_Message"], "", "{reply}");
        assert_eq!(reply["Body"], "second", "{reply}");
        assert_eq!(reply["Nested"], json!({ "_Success": 0, "$type": "Inner", "Deep": [1, { "x": null }] }), "{reply}");
        assert!(reply["Uni"].as_str().is_some_and(|u| u.starts_with("café ")), "{reply}");
        // BSON: the tree path; the same members.
        let doc = bson::doc! {
            "$type": "Echo.Messages.EchoRequest", "_Domain": "Echo", "_Scene": REGION, "_Capability": cap.as_str(), "Text": text.as_str(),
        };
        let from_bson = bson_as_json(&host.call_bson(&doc));
        assert_eq!(from_bson, reply, "JSON {raw}");
    }
    assert_eq!(
        serde_json::from_str::<Value>(&post_text(
            &url,
            &request("Echo", "EchoRequest", &cap, json!({ "Text": format!("reply:{passed}") }))
        ))
        .expect("JSON")["N"],
        json!([1, -2.5, 0.125, -0.0]),
    );
    // What the tree refuses is refused as before, whichever path looked first.
    for bad in [r#"{"a":1"#, r#"[1]"#, r#"{"a":1e400}"#, r#"{"a":"\ud800"}"#, "{\"a\":\"tab\there\"}"] {
        let reply = call(&host, &cap, "Echo", "EchoRequest", json!({ "Text": format!("reply:{bad}") }));
        assert_eq!(reply["_Success"], 0, "{bad}: {reply}");
        assert_eq!(reply["_Message"], "extension Echo replied a body that is not a JSON object", "{bad}: {reply}");
    }
}

/// The storage read cache: every instance of an extension reads what the
/// last write (by any instance) stored. Three callers keep instances busy
/// while one counts (`count`: read, add one, write) one request at a time,
/// so the counting requests land on different instances; each must see the
/// count the one before wrote. Then across an update, a fault's restart and
/// a removal.
#[test]
fn extensions_storage_writes_are_seen_by_the_next_read_of_any_instance() {
    let host = Host::start_with("[Extensions]\nMaxInstances = 4\n");
    let cap = cap_of(&host, OWNER, &["Echo"]);
    let id = install_ok(&host, &cap, "ext-chaos", &["storage"], "Echo");
    let url = host.url("/Dispatcher/");
    let count = |n: u64| {
        let reply: Value =
            serde_json::from_str(&post_text(&url, &request("Echo", "EchoRequest", &cap, json!({ "Text": "count" })))).expect("JSON");
        assert_eq!(reply["_Success"], 1, "{reply}");
        assert_eq!(reply["Count"], n, "{reply}");
    };
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        for i in 0..3 {
            let (url, cap, stop) = (&url, &cap, &stop);
            s.spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let text = post_text(url, &request("Echo", "EchoRequest", cap, json!({ "Text": format!("busy{i}") })));
                    assert!(text.contains(r#""_Success":1"#), "{text}");
                }
            });
        }
        for n in 1..=60 {
            count(n);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    // Update: storage kept, read afresh.
    ok(ex(
        &host,
        &cap,
        "UpdateExtensionRequest",
        json!({ "ExtensionID": id, "Component": base64(&guest("ext-chaos")) }),
    ));
    count(61);
    // A fault: the instances that start after the backoff read it again.
    let trapped = call(&host, &cap, "Echo", "EchoRequest", json!({ "Text": "trap" }));
    assert_eq!(trapped["_Success"], 0, "{trapped}");
    let again = eventually(Duration::from_secs(10), || {
        call(&host, &cap, "Echo", "EchoRequest", json!({ "Text": "ok" }))["_Success"] == 1
    });
    assert!(again);
    count(62);
    // Removed and installed again: a new extension with new (empty) storage.
    ok(ex(&host, &cap, "RemoveExtensionRequest", json!({ "ExtensionID": id })));
    install_ok(&host, &cap, "ext-chaos", &["storage"], "Echo");
    count(1);
}
