//! Closing the sandbox, runtime side (issue 10, findings 3–6): no guest holds
//! a host thread, the host interrupts any event on stop, remove, reset, object
//! deletion and shutdown, script-caused loops end in a named throttle, and a
//! well-behaved script stays responsive among hostile ones. Real binary, real
//! guests (`chaos`, `touch-lift` from guest-examples/out).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::scripting::{box_asset, ok};
use crate::support::*;

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= chunk.len() { ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char } else { '=' });
        }
    }
    out
}

/// A guest component, built on demand by guest-examples/build.sh.
fn guest(name: &str) -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guest-examples");
    let path = root.join("out").join(format!("{name}.wasm"));
    if !path.exists() {
        let status = std::process::Command::new(root.join("build.sh"))
            .arg(name)
            .status()
            .expect("run build.sh");
        assert!(status.success(), "build.sh {name}");
    }
    std::fs::read(&path).expect("guest component")
}

const DOMAINS: [&str; 2] = ["RemoteControl", "Scripting"];

/// One client identity on a host.
struct Client<'a> {
    host: &'a Host,
    cap: String,
}

impl<'a> Client<'a> {
    fn owner(host: &'a Host) -> Client<'a> {
        Client {
            host,
            cap: host.capability(&DOMAINS),
        }
    }

    /// The region manager: a second owner of objects and scripts.
    fn manager(host: &'a Host) -> Client<'a> {
        let reply = host.create_capability(MANAGER, &DOMAINS, 300);
        assert_eq!(reply["_Success"], 1, "{reply}");
        Client {
            host,
            cap: reply["Capability"].as_str().expect("Capability").to_owned(),
        }
    }

    fn call(&self, domain: &str, kind: &str, extra: Value) -> Value {
        let mut v = json!({
            "$type": format!("{domain}.Messages.{kind}"),
            "_domain": domain, "_scene": REGION, "_capability": self.cap,
        });
        if let (Some(obj), Value::Object(more)) = (v.as_object_mut(), extra) {
            obj.extend(more);
        }
        self.host.call(&v)
    }

    fn rc(&self, kind: &str, extra: Value) -> Value {
        self.call("RemoteControl", kind, extra)
    }

    fn sc(&self, kind: &str, extra: Value) -> Value {
        self.call("Scripting", kind, extra)
    }

    fn make_object(&self) -> String {
        let asset = ok(self.rc(
            "AddAssetRequest",
            json!({ "Asset": {
                "AssetID": "00000000-0000-0000-0000-000000000000",
                "SerializedAsset": base64(&box_asset()),
                "Name": "box", "Description": "", "ContentType": "application/vnd.ll.primitive", "CreatorID": "",
            }}),
        ));
        let created = ok(self.rc(
            "CreateObjectRequest",
            json!({
                "AssetID": asset["AssetID"], "Position": [128.0, 128.0, 20.0], "Name": "scripted box",
            }),
        ));
        created["ObjectID"].as_str().expect("ObjectID").to_owned()
    }

    fn upload(&self, object: &str, name: &str, grants: &[&str], start_parameter: &str) -> String {
        let reply = ok(self.sc(
            "UploadScriptRequest",
            json!({
                "ObjectID": object, "Name": name, "Component": base64(&guest(name)),
                "Grants": grants, "StartParameter": start_parameter,
            }),
        ));
        reply["ScriptID"].as_str().expect("ScriptID").to_owned()
    }

    /// A chaos script in a new object; returns (object, script).
    fn chaos(&self, grants: &[&str], command: &str) -> (String, String) {
        let object = self.make_object();
        let script = self.upload(&object, "chaos", grants, command);
        (object, script)
    }

    fn status(&self, script: &str) -> Value {
        self.sc("GetScriptStatusRequest", json!({ "ScriptID": script }))
    }

    fn log(&self, script: &str) -> String {
        let reply = self.sc("GetScriptLogRequest", json!({ "ScriptID": script, "Since": 0 }));
        reply["Lines"]
            .as_array()
            .map(|lines| lines.iter().map(|l| format!("{}\n", l["Text"].as_str().unwrap_or(""))).collect())
            .unwrap_or_default()
    }

    fn wait_log(&self, script: &str, needle: &str, limit: Duration) -> bool {
        eventually(limit, || self.log(script).contains(needle))
    }

    fn z(&self, object: &str) -> f64 {
        let reply = ok(self.rc("GetObjectPositionRequest", json!({ "ObjectID": object })));
        reply["Position"][2].as_f64().unwrap_or(f64::NAN)
    }

    fn touch(&self, object: &str) {
        let avatar = self.host.ids["Ada"].clone();
        ok(self.rc("TouchObjectRequest", json!({ "ObjectID": object, "AvatarID": avatar, "LinkNum": 0 })));
    }

    /// Touch the probe (touch-lift) and wait for it to rise; the latency, or
    /// None when it did not react within `limit`.
    fn touch_latency(&self, object: &str, limit: Duration) -> Option<Duration> {
        let before = self.z(object);
        let started = Instant::now();
        self.touch(object);
        while started.elapsed() < limit {
            if self.z(object) > before + 0.5 {
                return Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        None
    }

    /// A touch-lift probe, ready.
    fn probe(&self, limit: Duration) -> (String, String) {
        let object = self.make_object();
        let script = self.upload(&object, "touch-lift", &["objects:read", "objects:write"], "");
        assert!(self.wait_log(&script, "touch-lift ready", limit), "probe never started: {}", self.log(&script));
        (object, script)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Finding 3: scripts that sleep in a loop (a blocking WASI wait, no CPU) no
/// longer hold the runners: their waits are charged to the budget, they fault
/// with `timeout`, and every other script keeps reacting.
#[test]
fn sandbox_runtime_sleeping_scripts_do_not_stop_scripting() {
    let host = Host::start();
    let ada = Client::owner(&host);
    let sleepers: Vec<String> = (0..2).map(|_| ada.chaos(&[], "sleep-loop").1).collect();
    let (probe_object, _) = ada.probe(Duration::from_secs(20));
    assert!(ada.touch_latency(&probe_object, Duration::from_secs(10)).is_some(), "the probe does not react");
    for s in &sleepers {
        let faulted = eventually(Duration::from_secs(30), || {
            let st = ada.status(s);
            st["State"] == "faulted" && st["FaultReason"] == "timeout"
        });
        assert!(faulted, "a sleeping script never faulted: {} / {}", ada.status(s), ada.log(s));
    }
}

/// Finding 3: Stop, Remove, Reset and DeleteObject interrupt an event that
/// would otherwise run on (a budget of ten minutes here), and free its runner.
#[test]
fn sandbox_runtime_stop_remove_reset_and_delete_interrupt_a_running_event() {
    let host = Host::start_with("[Scripting]\nEventCpuBudgetMs = 600000\n");
    let ada = Client::owner(&host);
    // Two sleepers hold both runners (the default pool) for their budget.
    let (_, a) = ada.chaos(&[], "sleep-loop");
    let (_, b) = ada.chaos(&[], "sleep-loop");
    assert!(ada.wait_log(&a, "chaos: sleep-loop", Duration::from_secs(20)));
    assert!(ada.wait_log(&b, "chaos: sleep-loop", Duration::from_secs(20)));
    // A reset interrupts the running on-start and starts a fresh one.
    ok(ada.sc("ResetScriptRequest", json!({ "ScriptID": a })));
    assert!(
        eventually(Duration::from_secs(10), || ada.log(&a).matches("chaos: sleep-loop").count() >= 2),
        "reset did not interrupt the running event: {}",
        ada.log(&a)
    );
    ok(ada.sc("StopScriptRequest", json!({ "ScriptID": a })));
    ok(ada.sc("RemoveScriptRequest", json!({ "ScriptID": b })));
    let (probe_object, _) = ada.probe(Duration::from_secs(10));
    assert!(ada.touch_latency(&probe_object, Duration::from_secs(10)).is_some(), "the probe does not react");
    assert_eq!(ok(ada.status(&a))["State"], "stopped");
    // Object deletion interrupts the scripts in it.
    let (c_object, c) = ada.chaos(&[], "sleep-loop");
    let (d_object, d) = ada.chaos(&[], "sleep-loop");
    assert!(ada.wait_log(&c, "chaos: sleep-loop", Duration::from_secs(20)));
    assert!(ada.wait_log(&d, "chaos: sleep-loop", Duration::from_secs(20)));
    ok(ada.rc("DeleteObjectRequest", json!({ "ObjectID": c_object })));
    ok(ada.rc("DeleteObjectRequest", json!({ "ObjectID": d_object })));
    assert!(
        ada.touch_latency(&probe_object, Duration::from_secs(10)).is_some(),
        "deletion did not free the runners"
    );
}

/// Finding 3: after a crash (kill -9) the scripts that were faulting start
/// with backoff, not at once, and the outage does not come back.
#[test]
fn sandbox_runtime_faulting_scripts_do_not_bring_the_outage_back_after_a_crash() {
    let ini = "[Scripting]\nMaxRestarts = 1000\n";
    let host = Host::start_with(ini);
    let ada = Client::owner(&host);
    let (probe_object, _) = ada.probe(Duration::from_secs(20));
    let sleepers: Vec<String> = (0..2).map(|_| ada.chaos(&[], "sleep-loop").1).collect();
    for s in &sleepers {
        assert!(ada.wait_log(s, "fault timeout", Duration::from_secs(20)), "never faulted: {}", ada.log(s));
    }
    let status = std::process::Command::new("kill")
        .args(["-KILL", &host.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let ids = host.ids.clone();
    let (_, dir) = host.stop();
    let host = Host::launch(dir, ids, ini);
    let ada = Client::owner(&host);
    for s in &sleepers {
        assert!(
            ada.wait_log(s, "before the host restarted", Duration::from_secs(20)),
            "no backoff across the restart: {}",
            ada.log(s)
        );
    }
    for _ in 0..3 {
        assert!(
            ada.touch_latency(&probe_object, Duration::from_secs(10)).is_some(),
            "the outage came back after restart"
        );
    }
}

/// Finding 4: SIGTERM ends the process within `ShutdownTimeoutMs`, exit 0,
/// with the write-behind flushed, while guests spin, sleep and call the host
/// in loops (with a ten-minute budget, so only the interrupt can stop them).
#[test]
fn sandbox_runtime_sigterm_finishes_whatever_guests_do() {
    let ini = "[Dispatcher]\nShutdownTimeoutMs = 3000\n[Scripting]\nEventCpuBudgetMs = 600000\n";
    let host = Host::start_with(ini);
    let ada = Client::owner(&host);
    let mut busy = Vec::new();
    for command in ["spin", "sleep-loop", "flood-now"] {
        busy.push(ada.chaos(&["objects:read"], command).1);
    }
    // Both runners busy: two of them are mid-event.
    assert!(eventually(Duration::from_secs(20), || busy
        .iter()
        .filter(|s| ada.log(s).contains("chaos:"))
        .count()
        >= 2));
    std::thread::sleep(Duration::from_millis(300));
    let moved = ada.make_object();
    ok(ada.rc("SetObjectPositionRequest", json!({ "ObjectID": moved, "Position": [40.0, 50.0, 60.0] })));
    let ids = host.ids.clone();
    let started = Instant::now();
    let (code, dir) = host.stop();
    let took = started.elapsed();
    assert_eq!(code, Some(0), "SIGTERM did not end the process with 0 (after {took:?})");
    assert!(took < Duration::from_secs(10), "shutdown took {took:?}");
    let host = Host::launch(dir, ids, "");
    let ada = Client::owner(&host);
    let reply = ok(ada.rc("GetObjectPositionRequest", json!({ "ObjectID": moved })));
    assert_eq!(reply["Position"], json!([40.0, 50.0, 60.0]), "the write-behind was not flushed");
}

/// Finding 5: loops that used to run for ever end in a named throttle or
/// fault: two scripts messaging each other, a script touching its own
/// object, a flood of asset reads, 20,000 storage writes in one event.
#[test]
fn sandbox_runtime_script_caused_loops_end_in_a_throttle() {
    let host = Host::start();
    let ada = Client::owner(&host);
    let (pong_object, pong) = ada.chaos(&["objects:write", "scope:owner"], "");
    let (_, ping) = ada.chaos(&["objects:write", "scope:owner"], &format!("ping {pong_object}"));
    let (_, toucher) = ada.chaos(&["objects:write"], "touch-self");
    let (_, assets) = ada.chaos(&["objects:read", "assets:write"], "flood-assets");
    let started = Instant::now();
    let (_, writer) = ada.chaos(&["storage"], "flood-storage 20000");
    let ended = eventually(Duration::from_secs(30), || {
        ada.log(&ping).contains("ping: stopped after") || ada.log(&pong).contains("ping: stopped after")
    });
    assert!(ended, "the ping-pong never stopped: {} / {}", ada.status(&ping), ada.status(&pong));
    assert!(
        ada.log(&ping).contains("RateLimited") || ada.log(&pong).contains("RateLimited"),
        "{} / {}",
        ada.log(&ping),
        ada.log(&pong)
    );
    std::thread::sleep(Duration::from_millis(500));
    let handled = |s: &str| ok(ada.status(s))["EventsHandled"].as_u64().unwrap_or(u64::MAX);
    let (a, b) = (handled(&ping), handled(&pong));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!((handled(&ping), handled(&pong)), (a, b), "the ping-pong goes on");
    assert!(a + b < 2_000, "{a} + {b} events before the throttle");
    assert!(
        ada.wait_log(&toucher, "touch-self: stopped after", Duration::from_secs(30)),
        "{}",
        ada.log(&toucher)
    );
    assert!(ada.log(&toucher).contains("RateLimited"), "{}", ada.log(&toucher));
    let faulted = eventually(Duration::from_secs(30), || ada.status(&assets)["FaultReason"] == "host-call-limit");
    assert!(faulted, "asset flood: {} / {}", ada.status(&assets), ada.log(&assets));
    // The storage flood ends (a fault, or a throttled finish) within seconds.
    let done = eventually(Duration::from_secs(20), || {
        let st = ada.status(&writer);
        st["FaultReason"] != "" || ada.log(&writer).contains("flood-storage:")
    });
    assert!(done, "storage flood: {} / {}", ada.status(&writer), ada.log(&writer));
    assert!(started.elapsed() < Duration::from_secs(40));
    let st = ada.status(&writer);
    assert!(
        ["timeout", "host-call-limit"].contains(&st["FaultReason"].as_str().unwrap_or("")),
        "20,000 writes in one event were not stopped: {st} / {}",
        ada.log(&writer)
    );
}

/// Every hostile behaviour of `chaos` a script can ask for.
const HOSTILE: [(&[&str], &str); 16] = [
    (&[], "spin"),
    (&[], "alloc"),
    (&[], "recurse"),
    (&[], "trap"),
    (&[], "panic"),
    (&["objects:read"], "flood-calls"),
    (&["chat"], "flood-chat"),
    (&["chat"], "flood-chat-polite"),
    (&[], "flood-log"),
    (&[], "timer-1ms"),
    (&[], "sleep-loop"),
    (&[], "flood-now"),
    (&["objects:write"], "touch-self"),
    (&["objects:read", "assets:write"], "flood-assets"),
    (&["storage"], "flood-storage 20000"),
    (&[], "sleep 10000"),
];

/// Findings 5 and 6, and the hostile-guest matrix: every chaos behaviour at
/// once (twice over, plus a ping-pong pair), owned by another user and reset
/// whenever it faults, while a touch-lift probe is touched and an external
/// client polls. Both stay bounded.
#[test]
fn sandbox_runtime_hostile_matrix_keeps_the_probe_responsive() {
    let host = Host::start_with("[Scripting]\nMaxRestarts = 1\nMemoryLimitBytes = 4194304\n");
    let ada = Client::owner(&host);
    let bob = Client::manager(&host);
    let (probe_object, probe) = ada.probe(Duration::from_secs(20));
    let mut hostile = Vec::new();
    for _ in 0..2 {
        for (grants, command) in HOSTILE {
            hostile.push(bob.chaos(grants, command).1);
        }
    }
    let (pong_object, pong) = bob.chaos(&["objects:write", "scope:owner"], "");
    hostile.push(pong);
    hostile.push(bob.chaos(&["objects:write", "scope:owner"], &format!("ping {pong_object}")).1);
    // Keep them hostile: reset every one that gave up.
    let stop = Arc::new(AtomicBool::new(false));
    let resetter = {
        let stop = stop.clone();
        let hostile = hostile.clone();
        let (http, cap) = (host.http, bob.cap.clone());
        std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
            let post = |body: Value| -> Option<Value> {
                let mut r = agent
                    .post(&format!("http://{http}/Dispatcher/"))
                    .header("Content-Type", "application/json")
                    .send(body.to_string().as_bytes())
                    .ok()?;
                serde_json::from_str(&r.body_mut().read_to_string().ok()?).ok()
            };
            let mut resets = 0u32;
            while !stop.load(Ordering::Relaxed) {
                for s in &hostile {
                    let envelope = |kind: &str| {
                        json!({
                            "$type": format!("Scripting.Messages.{kind}"), "_domain": "Scripting",
                            "_scene": REGION, "_capability": cap, "ScriptID": s,
                        })
                    };
                    if post(envelope("GetScriptStatusRequest")).is_some_and(|st| st["State"] == "faulted") {
                        post(envelope("ResetScriptRequest"));
                        resets += 1;
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            resets
        })
    };
    std::thread::sleep(Duration::from_secs(2));
    let mut touches = Vec::new();
    let mut requests = Vec::new();
    for _ in 0..30 {
        match ada.touch_latency(&probe_object, Duration::from_secs(10)) {
            Some(d) => touches.push(d),
            None => panic!("a touch was lost: {}", ada.log(&probe)),
        }
        let started = Instant::now();
        ok(ada.rc("GetSunParametersRequest", json!({})));
        requests.push(started.elapsed());
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let resets = resetter.join().expect("resetter");
    touches.sort();
    requests.sort();
    let (t50, t99) = (percentile(&touches, 0.5), percentile(&touches, 0.99));
    let (r50, r99) = (percentile(&requests, 0.5), percentile(&requests, 0.99));
    eprintln!(
        "matrix: {} hostile scripts, {resets} resets; touch p50 {t50:?} p99 {t99:?}; request p50 {r50:?} p99 {r99:?}",
        hostile.len()
    );
    assert!(t99 < Duration::from_secs(1), "probe touch latency p99 {t99:?} (p50 {t50:?})");
    assert!(r99 < Duration::from_secs(1), "client request latency p99 {r99:?} (p50 {r50:?})");
    assert_eq!(ok(ada.status(&probe))["State"], "running");
}
