//! Closing the sandbox, compilation and disk (issue 10, findings 7 and 8),
//! against the real binary: hostile components generated here, real guests
//! from guest-examples/out.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::scripting::{box_asset, ok, request};
use crate::support::*;

fn make_object(host: &Host, cap: &str) -> String {
    let asset = ok(host.call(&request(
        "RemoteControl",
        "AddAssetRequest",
        cap,
        json!({ "Asset": {
            "AssetID": "00000000-0000-0000-0000-000000000000",
            "SerializedAsset": base64::engine::general_purpose::STANDARD.encode(box_asset()),
            "Name": "box", "Description": "", "ContentType": "application/vnd.ll.primitive", "CreatorID": "",
        }}),
    )));
    let created = ok(host.call(&request(
        "RemoteControl",
        "CreateObjectRequest",
        cap,
        json!({
            "AssetID": asset["AssetID"], "Position": [128.0, 128.0, 20.0], "Name": "scripted box",
        }),
    )));
    created["ObjectID"].as_str().expect("ObjectID").to_owned()
}

fn upload(host: &Host, cap: &str, object: &str, component: &[u8]) -> Value {
    host.call(&upload_request(cap, object, component))
}

fn remove(host: &Host, cap: &str, script: &str) {
    ok(host.call(&request("Scripting", "RemoveScriptRequest", cap, json!({ "ScriptID": script }))));
}

/// POST a JSON request to the host at `http` from any thread.
fn call_at(http: std::net::SocketAddr, request: &Value) -> Value {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut resp = agent
        .post(&format!("http://{http}/Dispatcher/"))
        .header("Content-Type", "application/json")
        .send(request.to_string().as_bytes())
        .expect("HTTP exchange");
    let body = resp.body_mut().with_config().limit(64 << 20).read_to_vec().expect("body");
    serde_json::from_slice(&body).expect("JSON reply")
}

fn upload_request(cap: &str, object: &str, component: &[u8]) -> Value {
    request(
        "Scripting",
        "UploadScriptRequest",
        cap,
        json!({
            "ObjectID": object, "Name": "test",
            "Component": base64::engine::general_purpose::STANDARD.encode(component),
            "Grants": [], "Start": false,
        }),
    )
}

/// A real guest from guest-examples/out.
fn guest(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../guest-examples/out")
        .join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run guest-examples/build.sh {name})", path.display()))
}

/// The same component with a custom section appended: another hash, the
/// same code.
fn variant(component: &[u8], n: u32) -> Vec<u8> {
    let name = b"variant";
    let payload = n.to_le_bytes();
    let mut out = component.to_vec();
    out.push(0); // custom section
    out.push((1 + name.len() + payload.len()) as u8);
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.extend_from_slice(&payload);
    out
}

/// A component whose one core module has `functions` small functions (each
/// returns its own index, so no two bodies are alike). `salt` makes the bytes
/// distinct.
fn many_functions(functions: usize, salt: u32) -> Vec<u8> {
    let mut wat = String::with_capacity(functions * 40);
    wat.push_str("(component (core module\n");
    for i in 0..functions {
        wat.push_str(&format!("(func (result i32) i32.const {i})\n"));
    }
    wat.push_str(&format!("(func (export \"salt\") (result i32) i32.const {salt})))"));
    wat::parse_str(&wat).expect("generated component")
}

/// Bytes of every file under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}

fn cache_files(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("script-cache")).map(|d| d.count()).unwrap_or(0)
}

/// Finding 7: a 0.5 MB component of 100,000 functions used to be compiled
/// (seconds of CPU, hundreds of MB); it is refused before compiling, naming
/// the limit.
#[test]
fn sandbox_compile_100k_function_component_is_refused_quickly_naming_the_limit() {
    let host = Host::start();
    let cap = host.capability(&["RemoteControl", "Scripting"]);
    let object = make_object(&host, &cap);
    let hostile = many_functions(100_000, 0);
    assert!(hostile.len() < 1_000_000, "{} bytes", hostile.len());
    let started = Instant::now();
    let reply = upload(&host, &cap, &object, &hostile);
    let took = started.elapsed();
    assert_eq!(reply["_Success"], 0, "{reply}");
    let message = reply["_Message"].as_str().unwrap_or_default();
    assert!(message.contains("MaxComponentFunctions"), "{message}");
    assert!(message.contains("100001 functions"), "{message}");
    assert!(took < Duration::from_secs(3), "refusal took {took:?}");
    assert_eq!(cache_files(host.dir.path()), 0, "nothing compiled");
}

/// Finding 7: two large uploads compiling at once held every other request
/// (GetSunParameters waited 9.5 s). Compiles now run on the compile pool, off
/// the request threads, so other requests are answered promptly; a third
/// upload beyond the queue is refused at once.
#[test]
fn sandbox_compile_requests_stay_prompt_while_two_big_compiles_run() {
    let host = Host::start_with("[Scripting]\nMaxComponentFunctions = 80000\nCompileQueueLength = 1\n");
    let http = host.http;
    let cap = host.capability(&["RemoteControl", "Scripting"]);
    let object = make_object(&host, &cap);
    let sun = request("RemoteControl", "GetSunParametersRequest", &cap, json!({}));
    ok(host.call(&sun));
    let big: Vec<Value> = (1..=2)
        .map(|salt| upload_request(&cap, &object, &many_functions(70_000, salt)))
        .collect();
    let done = Arc::new(AtomicBool::new(false));
    let uploads: Vec<_> = big
        .into_iter()
        .map(|req| {
            std::thread::spawn(move || {
                let started = Instant::now();
                let reply = call_at(http, &req);
                (reply, started.elapsed())
            })
        })
        .collect();
    let probing = {
        let (sun, done) = (sun.clone(), done.clone());
        std::thread::spawn(move || {
            let (mut worst, mut probes) = (Duration::ZERO, 0);
            while !done.load(Ordering::Relaxed) {
                let started = Instant::now();
                ok(call_at(http, &sun));
                worst = worst.max(started.elapsed());
                probes += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            (worst, probes)
        })
    };
    // Let both reach the pool (one compiling, one queued).
    std::thread::sleep(Duration::from_millis(500));
    let third = upload(&host, &cap, &object, &many_functions(100, 3));
    let mut longest = Duration::ZERO;
    let mut replies = vec![third];
    for u in uploads {
        let (reply, took) = u.join().expect("upload thread");
        longest = longest.max(took);
        replies.push(reply);
    }
    done.store(true, Ordering::Relaxed);
    let (worst, probes) = probing.join().expect("probe thread");
    eprintln!("GetSunParameters: worst {worst:?} over {probes} probes while uploads compiled for up to {longest:?}");
    assert!(probes >= 3, "{probes} probes during {longest:?} of compiling");
    assert!(longest > Duration::from_secs(1), "compiles took {longest:?}: too small to show anything");
    assert!(
        worst < Duration::from_millis(1000),
        "GetSunParameters took up to {worst:?} while uploads compiled for {longest:?}"
    );
    // One compiling, one queued: whichever of the three came last was refused
    // at once; the others compiled in full (not scripts: no handlers export).
    let message = |r: &Value| r["_Message"].as_str().unwrap_or_default().to_owned();
    let refused = replies.iter().filter(|r| message(r).contains("CompileQueueLength")).count();
    let compiled = replies.iter().filter(|r| message(r).contains("does not export")).count();
    assert_eq!((refused, compiled), (1, 2), "{replies:?}");
    // Refused components leave nothing on disk.
    assert_eq!(cache_files(host.dir.path()), 0);
}

/// Finding 8: every upload left its stored component and its compiled-code
/// cache file behind for ever. Now identical uploads share one, and removing
/// the last script using a component deletes both, and the space goes back to
/// the file system.
#[test]
fn sandbox_disk_upload_remove_cycles_leave_the_data_directory_as_it_was() {
    let host = Host::start();
    let cap = host.capability(&["RemoteControl", "Scripting"]);
    let object = make_object(&host, &cap);
    let counter = guest("counter");
    // Warm-up cycle: first-use growth of the database (tables' first pages).
    let id = ok(upload(&host, &cap, &object, &variant(&counter, 0)))["ScriptID"]
        .as_str()
        .expect("id")
        .to_owned();
    remove(&host, &cap, &id);
    let start = dir_bytes(host.dir.path());
    // Identical uploads share one cache file; it goes with the last script.
    let a = ok(upload(&host, &cap, &object, &counter));
    let b = ok(upload(&host, &cap, &object, &counter));
    assert_eq!(a["AssetID"], b["AssetID"], "identical components share one stored asset");
    assert_eq!(cache_files(host.dir.path()), 1);
    remove(&host, &cap, a["ScriptID"].as_str().expect("id"));
    assert_eq!(cache_files(host.dir.path()), 1, "still used by the second script");
    remove(&host, &cap, b["ScriptID"].as_str().expect("id"));
    assert_eq!(cache_files(host.dir.path()), 0, "the last script took the cache file along");
    // Distinct components: each cycle stores ~60 KB and a ~300 KB cache file.
    for n in 1..=40 {
        let reply = ok(upload(&host, &cap, &object, &variant(&counter, n)));
        remove(&host, &cap, reply["ScriptID"].as_str().expect("id"));
    }
    let end = dir_bytes(host.dir.path());
    assert_eq!(cache_files(host.dir.path()), 0);
    assert!(
        end <= start + 1024 * 1024,
        "data directory grew from {start} to {end} bytes over 42 upload/remove cycles"
    );
    // The object's inventory no longer lists any script.
    let inv = ok(host.call(&request("RemoteControl", "GetObjectInventoryRequest", &cap, json!({ "ObjectID": object }))));
    assert!(!inv.to_string().contains("WebAssembly script"), "{inv}");
}
