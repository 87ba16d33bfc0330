//! The runtime in-process: a real `Dispatcher` with small stand-in RemoteControl
//! handlers (object position and data, chat, message), the real guest examples
//! from guest-examples/out, and the scene-event bus. End-to-end tests against
//! the binary live in tests/integration/scripting.rs.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use dispatcher_dispatch::directory::{Account, Directory, DirectoryError, SceneInfo};
use dispatcher_dispatch::endpoints::NullSink;
use dispatcher_dispatch::{Dispatcher, DispatcherConfig, HandlerError, RequestContext, SceneEvent, Transport};
use dispatcher_messages::remote_control::chat::ChatRequest;
use dispatcher_messages::remote_control::object::{
    GetObjectDataRequest, GetObjectDataResponse, GetObjectPositionRequest, MessageObjectRequest, ObjectPositionResponse,
    SetObjectPositionRequest,
};
use dispatcher_messages::remote_control::wire::{WireQuat, WireVec3};
use dispatcher_protocol::{DecodeLimits, Done, Encoding, WireUuid};
use dispatcher_scripting::{ScriptHost, ScriptingLimits};
use dispatcher_store::Store;
use parking_lot::Mutex;
use serde_json::{json, Value};
use uuid::Uuid;

const REGION: &str = "R";
const OWNER: Uuid = Uuid::from_u128(0xada);
const OTHER: Uuid = Uuid::from_u128(0xc0);

struct Dir;

impl Directory for Dir {
    fn scenes(&self) -> Result<Vec<SceneInfo>, DirectoryError> {
        Ok(vec![SceneInfo {
            id: Uuid::from_u128(1),
            name: REGION.into(),
            estate_owner: OWNER,
            estate_managers: vec![],
        }])
    }
    fn account_by_id(&self, id: Uuid) -> Result<Option<Account>, DirectoryError> {
        Ok((id == OWNER || id == OTHER).then(|| Account {
            id,
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            email: String::new(),
            level: 0,
            password_hash: String::new(),
            password_salt: String::new(),
        }))
    }
    fn account_by_name(&self, _: &str, _: &str) -> Result<Option<Account>, DirectoryError> {
        Ok(None)
    }
    fn account_by_email(&self, _: &str) -> Result<Option<Account>, DirectoryError> {
        Ok(None)
    }
}

// --- stand-in RemoteControl handlers (the real message types) -------------

type Objects = Arc<Mutex<HashMap<Uuid, (Uuid, [f32; 3])>>>;

fn register_stand_ins(d: &Dispatcher, objects: &Objects) {
    let reg = d.registry();
    let o = objects.clone();
    let lookup = move |id: WireUuid| {
        o.lock()
            .get(&id.0)
            .copied()
            .ok_or_else(|| HandlerError::NotFound("no such object".into()))
    };
    let l = lookup.clone();
    reg.register(Some(REGION), "RemoteControl", move |_: &RequestContext, r: GetObjectDataRequest| {
        let (owner, p) = l(r.object_id)?;
        Ok(GetObjectDataResponse {
            object_id: r.object_id,
            name: "thing".into(),
            position: WireVec3::new(p[0], p[1], p[2]),
            rotation: WireQuat::IDENTITY,
            owner_id: owner.into(),
        })
    });
    let l = lookup.clone();
    reg.register(Some(REGION), "RemoteControl", move |_: &RequestContext, r: GetObjectPositionRequest| {
        let (_, p) = l(r.object_id)?;
        Ok(ObjectPositionResponse {
            object_id: r.object_id,
            position: WireVec3::new(p[0], p[1], p[2]),
        })
    });
    let o = objects.clone();
    reg.register(Some(REGION), "RemoteControl", move |_: &RequestContext, r: SetObjectPositionRequest| {
        let mut objects = o.lock();
        let entry = objects
            .get_mut(&r.object_id.0)
            .ok_or_else(|| HandlerError::NotFound("no such object".into()))?;
        if let Some(p) = r.position {
            entry.1 = [p.0.x, p.0.y, p.0.z];
        }
        let p = entry.1;
        Ok(ObjectPositionResponse {
            object_id: r.object_id,
            position: WireVec3::new(p[0], p[1], p[2]),
        })
    });
    let l = lookup;
    reg.register(Some(REGION), "RemoteControl", move |ctx: &RequestContext, r: MessageObjectRequest| {
        l(r.object_id)?;
        let sender = ctx.user.as_ref().map(|u| u.id).unwrap_or_default();
        ctx.services.events.publish(SceneEvent::Message {
            region: ctx.scene.clone(),
            object_id: r.object_id.0,
            sender_id: sender,
            text: r.message,
        });
        Ok(Done::ok())
    });
    reg.register(Some(REGION), "RemoteControl", move |ctx: &RequestContext, r: ChatRequest| {
        let name = ctx.user.as_ref().map(|u| u.name.clone()).unwrap_or_default();
        // Absent positions are the origin here (the real handler's default differs).
        let p = r.position.map_or([0.0; 3], |v| [v.0.x, v.0.y, v.0.z]);
        ctx.services.events.publish(SceneEvent::Chat {
            region: ctx.scene.clone(),
            channel: r.channel,
            speaker_id: Uuid::nil(),
            name,
            text: r.message,
            position: p,
        });
        Ok(Done::ok())
    });
}

// --- harness ---------------------------------------------------------------

fn guest(name: &str) -> Vec<u8> {
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

struct Harness {
    dispatcher: Dispatcher,
    host: ScriptHost,
    objects: Objects,
    cap: Uuid,
    dir: tempfile::TempDir,
}

fn limits() -> ScriptingLimits {
    ScriptingLimits {
        max_restarts: 0,
        host_calls_per_second: 2_000,
        event_cpu_budget_ms: 20,
        memory_limit_bytes: 8 * 1024 * 1024,
        pool_instances: 64,
        ..ScriptingLimits::default()
    }
}

impl Harness {
    fn new() -> Harness {
        Harness::with_limits(limits())
    }

    fn with_limits(limits: ScriptingLimits) -> Harness {
        Harness::in_dir_with(tempfile::tempdir().expect("tempdir"), Arc::new(Mutex::new(HashMap::new())), limits)
    }

    fn in_dir(dir: tempfile::TempDir, objects: Objects) -> Harness {
        Harness::in_dir_with(dir, objects, limits())
    }

    fn in_dir_with(dir: tempfile::TempDir, objects: Objects, limits: ScriptingLimits) -> Harness {
        let dispatcher = Dispatcher::new(DispatcherConfig::default(), Arc::new(Dir), Arc::new(NullSink), DecodeLimits::default());
        register_stand_ins(&dispatcher, &objects);
        let store = Arc::new(Store::open(dir.path()).expect("store"));
        let host = ScriptHost::start(dispatcher.clone(), store, dir.path(), limits, None).expect("script host");
        let cap = dispatcher
            .services()
            .capabilities
            .create(
                OWNER,
                "Ada Lovelace".into(),
                REGION.into(),
                vec!["RemoteControl".into(), "Scripting".into()],
                Duration::from_secs(600),
            )
            .id;
        Harness {
            dispatcher,
            host,
            objects,
            cap,
            dir,
        }
    }

    fn restart(self) -> Harness {
        self.host.shutdown();
        let Harness { dir, objects, .. } = self;
        Harness::in_dir(dir, objects)
    }

    fn object(&self, n: u128) -> Uuid {
        let id = Uuid::from_u128(0x000b_1ec7_0000 + n);
        self.objects.lock().insert(id, (OWNER, [128.0, 128.0, 20.0]));
        id
    }

    fn call(&self, mut request: Value) -> Value {
        request["_Scene"] = json!(REGION);
        request["_Capability"] = json!(self.cap.to_string());
        if request.get("_Domain").is_none() {
            request["_Domain"] = json!("Scripting");
        }
        let bytes = serde_json::to_vec(&request).expect("json");
        let reply = self
            .dispatcher
            .handle(
                &bytes,
                Encoding::Json,
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                Transport::Http {
                    path_domain: String::new(),
                },
            )
            .expect("reply");
        serde_json::from_slice(&reply.encode(Encoding::Json)).expect("reply json")
    }

    fn upload(&self, object: Uuid, component: &[u8], grants: &[&str], start_parameter: &str) -> Value {
        self.call(json!({
            "$type": "Scripting.Messages.UploadScriptRequest",
            "ObjectID": object.to_string(),
            "Name": "test",
            "Component": base64::engine::general_purpose::STANDARD.encode(component),
            "Grants": grants,
            "StartParameter": start_parameter,
        }))
    }

    fn upload_ok(&self, object: Uuid, name: &str, grants: &[&str], start_parameter: &str) -> String {
        let reply = self.upload(object, &guest(name), grants, start_parameter);
        assert_eq!(reply["_Success"], 1, "{reply}");
        reply["ScriptID"].as_str().expect("ScriptID").to_owned()
    }

    fn status(&self, script: &str) -> Value {
        self.call(json!({ "$type": "Scripting.Messages.GetScriptStatusRequest", "ScriptID": script }))
    }

    fn log_text(&self, script: &str) -> String {
        let reply = self.call(json!({ "$type": "Scripting.Messages.GetScriptLogRequest", "ScriptID": script, "Since": 0 }));
        reply["Lines"]
            .as_array()
            .map(|lines| lines.iter().map(|l| format!("{}\n", l["Text"].as_str().unwrap_or(""))).collect())
            .unwrap_or_default()
    }

    fn publish(&self, event: SceneEvent) {
        self.dispatcher.services().events.publish(event);
    }

    fn message(&self, object: Uuid, text: &str) {
        self.publish(SceneEvent::Message {
            region: REGION.into(),
            object_id: object,
            sender_id: OWNER,
            text: text.into(),
        });
    }
}

fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

fn wait_log(h: &Harness, script: &str, needle: &str) -> bool {
    eventually(Duration::from_secs(10), || h.log_text(script).contains(needle))
}

fn wait_fault(h: &Harness, script: &str, reason: &str) {
    let ok = eventually(Duration::from_secs(20), || {
        let s = h.status(script);
        s["State"] == "faulted" && s["FaultReason"] == reason
    });
    assert!(ok, "expected fault {reason}: {} / log:\n{}", h.status(script), h.log_text(script));
}

// --- tests -----------------------------------------------------------------

#[test]
fn chaos_faults_are_named_while_a_probe_keeps_working() {
    let h = Harness::new();
    let probe_obj = h.object(0);
    let probe = h.upload_ok(probe_obj, "counter", &["storage"], "");
    assert!(wait_log(&h, &probe, "counter started"), "{}", h.log_text(&probe));
    let cases = [
        ("spin", "timeout"),
        ("alloc", "out-of-memory"),
        ("recurse", "stack-overflow"),
        ("trap", "trap"),
        ("panic", "trap"),
        ("flood-calls", "host-call-limit"),
    ];
    let mut scripts = Vec::new();
    for (i, (command, _)) in cases.iter().enumerate() {
        let obj = h.object(10 + i as u128);
        scripts.push(h.upload_ok(obj, "chaos", &["objects:read", "chat"], command));
    }
    for (n, (script, (_, reason))) in scripts.iter().zip(cases.iter()).enumerate() {
        wait_fault(&h, script, reason);
        // The probe answers between the culprits' faults.
        h.message(probe_obj, "bump");
        assert!(wait_log(&h, &probe, &format!("count = {}", n + 1)), "probe stalled: {}", h.log_text(&probe));
    }
    let s = h.status(&probe);
    assert_eq!(s["State"], "running", "{s}");
    assert_eq!(s["FaultReason"], "", "{s}");
}

#[test]
fn an_event_fuel_limit_stops_a_spin_with_out_of_fuel_and_fuel_is_counted() {
    let h = Harness::with_limits(ScriptingLimits {
        event_fuel_limit: 2_000_000,
        ..limits()
    });
    let probe = h.upload_ok(h.object(1), "counter", &["storage"], "");
    assert!(wait_log(&h, &probe, "counter started"), "{}", h.log_text(&probe));
    assert!(h.status(&probe)["FuelConsumed"].as_u64().unwrap_or(0) > 0, "{}", h.status(&probe));
    let spin = h.upload_ok(h.object(2), "chaos", &[], "spin");
    wait_fault(&h, &spin, "out-of-fuel");
    // The fuel limit, not the 20 ms time budget, stopped it.
    let s = h.status(&spin);
    assert!(s["FuelConsumed"].as_u64().unwrap_or(0) >= 2_000_000, "{s}");
}

#[test]
fn restarts_with_backoff_then_faulted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let objects: Objects = Arc::new(Mutex::new(HashMap::new()));
    let dispatcher = Dispatcher::new(DispatcherConfig::default(), Arc::new(Dir), Arc::new(NullSink), DecodeLimits::default());
    register_stand_ins(&dispatcher, &objects);
    let store = Arc::new(Store::open(dir.path()).expect("store"));
    let lim = ScriptingLimits {
        max_restarts: 2,
        restart_backoff_base_ms: 20,
        ..limits()
    };
    let host = ScriptHost::start(dispatcher.clone(), store, dir.path(), lim, None).expect("host");
    let cap = dispatcher
        .services()
        .capabilities
        .create(OWNER, "Ada".into(), REGION.into(), vec!["Scripting".into()], Duration::from_secs(60))
        .id;
    let h = Harness {
        dispatcher,
        host,
        objects,
        cap,
        dir,
    };
    let obj = h.object(1);
    let script = h.upload_ok(obj, "chaos", &[], "trap");
    wait_fault(&h, &script, "trap");
    assert_eq!(h.status(&script)["Restarts"], 3);
    assert!(h.log_text(&script).contains("restart 2 in 40 ms"), "{}", h.log_text(&script));
}

#[test]
fn grants_are_checked_per_call_and_counted() {
    let h = Harness::new();
    let obj = h.object(1);
    let lift = h.upload_ok(obj, "touch-lift", &[], "");
    h.publish(SceneEvent::Touch {
        region: REGION.into(),
        object_id: obj,
        avatar_id: OWNER,
        link_num: 0,
        position: [0.0; 3],
    });
    assert!(wait_log(&h, &lift, "objects:read not granted"), "{}", h.log_text(&lift));
    let echo = h.upload_ok(h.object(2), "chat-echo", &[], "");
    assert!(wait_log(&h, &echo, "chat not granted"), "{}", h.log_text(&echo));
    let counter = h.upload_ok(h.object(3), "counter", &[], "");
    assert!(wait_log(&h, &counter, "storage not granted"), "{}", h.log_text(&counter));
    for s in [&lift, &echo, &counter] {
        let status = h.status(s);
        assert_eq!(status["State"], "running", "{status}");
        assert!(status["DeniedCalls"].as_u64().unwrap_or(0) >= 1, "{status}");
    }
    // Scope: a script confined to its own object cannot move another one.
    let lift2 = h.upload_ok(h.object(4), "touch-lift", &["objects:read", "objects:write"], "");
    h.publish(SceneEvent::Touch {
        region: REGION.into(),
        object_id: h.object(4),
        avatar_id: OWNER,
        link_num: 0,
        position: [0.0; 3],
    });
    assert!(wait_log(&h, &lift2, "now at <128.00, 128.00, 21.00>"), "{}", h.log_text(&lift2));
}

#[test]
fn grants_never_exceed_the_uploader() {
    let h = Harness::new();
    let obj = h.object(1);
    // The uploader's capability lacks nothing here, but scope:region needs the
    // estate role, which OWNER has; a capability without RemoteControl does not
    // pass on objects:*.
    let narrow = h
        .dispatcher
        .services()
        .capabilities
        .create(OWNER, "Ada".into(), REGION.into(), vec!["Scripting".into()], Duration::from_secs(60))
        .id;
    let mut req = json!({
        "$type": "Scripting.Messages.UploadScriptRequest",
        "_Scene": REGION, "_Domain": "Scripting", "_Capability": narrow.to_string(),
        "ObjectID": obj.to_string(), "Name": "x",
        "Component": base64::engine::general_purpose::STANDARD.encode(guest("touch-lift")),
        "Grants": ["objects:read", "storage", "scope:region"],
    });
    let bytes = serde_json::to_vec(&req).expect("json");
    let reply = h
        .dispatcher
        .handle(
            &bytes,
            Encoding::Json,
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            Transport::Http {
                path_domain: String::new(),
            },
        )
        .expect("reply");
    let reply: Value = serde_json::from_slice(&reply.encode(Encoding::Json)).expect("json");
    assert_eq!(reply["_Success"], 1, "{reply}");
    assert_eq!(reply["Grants"], json!(["scope:region", "storage"]));
    req["Grants"] = json!(["teleport"]);
    let bytes = serde_json::to_vec(&req).expect("json");
    let reply = h
        .dispatcher
        .handle(
            &bytes,
            Encoding::Json,
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            Transport::Http {
                path_domain: String::new(),
            },
        )
        .expect("reply");
    assert!(reply.message.contains("unknown grant \"teleport\""), "{}", reply.message);
}

#[test]
fn chat_echo_answers_and_never_hears_itself() {
    let h = Harness::new();
    let a = h.upload_ok(h.object(1), "chat-echo", &["chat"], "7");
    let b = h.upload_ok(h.object(2), "chat-echo", &["chat"], "7");
    assert!(wait_log(&h, &a, "listening on channel 7") && wait_log(&h, &b, "listening on channel 7"));
    let reply = h.call(json!({ "$type": "RemoteControl.Messages.ChatRequest", "_Domain": "RemoteControl", "Channel": 7, "Message": "hi", "Position": [128.0, 128.0, 20.0] }));
    assert_eq!(reply["_Success"], 1, "{reply}");
    // Each hears the line and the other's echo, never its own echo: 1 start + 2 chats.
    for s in [&a, &b] {
        assert!(eventually(Duration::from_secs(10), || h.status(s)["EventsHandled"] == 3), "{}", h.status(s));
    }
    std::thread::sleep(Duration::from_millis(300));
    for s in [&a, &b] {
        assert_eq!(h.status(s)["EventsHandled"], 3, "no echo loop: {}", h.status(s));
    }
}

#[test]
fn floods_are_throttled() {
    let h = Harness::new();
    let polite = h.upload_ok(h.object(1), "chaos", &["chat"], "flood-chat-polite");
    assert!(wait_log(&h, &polite, "then Error::RateLimited"), "{}", h.log_text(&polite));
    let rude = h.upload_ok(h.object(2), "chaos", &["chat"], "flood-chat");
    wait_fault(&h, &rude, "host-call-limit");
    let log = h.upload_ok(h.object(3), "chaos", &[], "flood-log");
    wait_fault(&h, &log, "host-call-limit");
    let timer = h.upload_ok(h.object(4), "chaos", &[], "timer-1ms");
    assert!(wait_log(&h, &timer, "timer asked 1 ms, got 100 ms"), "{}", h.log_text(&timer));
    assert!(wait_log(&h, &timer, "tick 3"), "{}", h.log_text(&timer));
    let started = Instant::now();
    assert!(wait_log(&h, &timer, "tick 8"));
    assert!(started.elapsed() >= Duration::from_millis(400), "ticks faster than the minimum");
    let s = h.status(&timer);
    assert_eq!(s["State"], "running", "{s}");
}

#[test]
fn counter_storage_survives_a_host_restart() {
    let h = Harness::new();
    let obj = h.object(1);
    let counter = h.upload_ok(obj, "counter", &["storage"], "");
    for n in 1..=3 {
        h.message(obj, "bump");
        assert!(wait_log(&h, &counter, &format!("count = {n}")), "{}", h.log_text(&counter));
    }
    let h = h.restart();
    assert!(wait_log(&h, &counter, "counter started, count = 3"), "{}", h.log_text(&counter));
    h.message(obj, "bump");
    assert!(wait_log(&h, &counter, "count = 4"), "{}", h.log_text(&counter));
    // Deleting the object removes its scripts and their storage.
    h.publish(SceneEvent::ObjectRemoved {
        region: REGION.into(),
        object_id: obj,
    });
    assert!(eventually(Duration::from_secs(5), || h.status(&counter)["_Success"] == 0));
}

#[test]
fn bad_uploads_are_refused_and_nothing_is_stored() {
    let h = Harness::new();
    let obj = h.object(1);
    let refuse = |bytes: &[u8], needle: &str| {
        let reply = h.upload(obj, bytes, &[], "");
        assert_eq!(reply["_Success"], 0, "{reply}");
        let msg = reply["_Message"].as_str().unwrap_or("");
        assert!(msg.contains(needle), "{msg:?} should contain {needle:?}");
    };
    refuse(b"this is not wasm", "not a WebAssembly component");
    refuse(b"\0asm\x01\0\0\0", "core WebAssembly module");
    let mut corrupt = guest("touch-lift");
    corrupt.truncate(corrupt.len() / 2);
    refuse(&corrupt, "invalid component");
    refuse(&vec![0u8; limits().max_component_bytes + 1], "exceeds MaxComponentBytes");
    refuse(b"", "Component is empty");
    let wat = |text: &str| wat::parse_str(text).expect("wat");
    refuse(
        &wat(r#"(component (import "wasi:filesystem/types@0.2.6" (instance)) (import "wasi:sockets/tcp@0.2.6" (instance)))"#),
        "imports not allowed for scripts: wasi:filesystem/types@0.2.6, wasi:sockets/tcp@0.2.6",
    );
    refuse(&wat("(component)"), "does not export opensim:dispatcher/handlers@0.1.0");
    refuse(
        &wat(r#"(component
            (import "opensim:dispatcher/objects@0.1.0" (instance (export "get-position" (func (param "x" u32)))))
            (core module $m (func (export "f")))
            (core instance $i (instantiate $m))
            (func $f (canon lift (core func $i "f")))
            (instance $h (export "on-start" (func $f)))
            (export "opensim:dispatcher/handlers@0.1.0" (instance $h)))"#),
        "does not fit the region-script world",
    );
    let reply = h.upload(Uuid::from_u128(999), &guest("touch-lift"), &[], "");
    assert_eq!(reply["_Message"], "no such object");
    let list = h.call(json!({ "$type": "Scripting.Messages.ListScriptsRequest" }));
    assert_eq!(list["Scripts"], json!([]), "{list}");
}

#[test]
fn python_and_javascript_guests_behave_like_the_rust_examples() {
    // The interpreters need more than the Rust guests' 8 MiB and more than one
    // event's default budget to initialise.
    let h = Harness::with_limits(ScriptingLimits {
        memory_limit_bytes: 128 * 1024 * 1024,
        event_cpu_budget_ms: 2_000,
        // componentize-py output (18.4 MB) is over the 16 MiB default.
        max_component_bytes: 32 * 1024 * 1024,
        ..limits()
    });
    let started = Instant::now();
    let js_obj = h.object(1);
    let js = h.upload_ok(js_obj, "js-hello", &["objects:read", "objects:write"], "");
    let py = h.upload_ok(h.object(2), "python-hello", &["chat"], "7");
    eprintln!("js + python upload (compile) took {:?}", started.elapsed());
    assert!(wait_log(&h, &js, "js-hello ready in R"), "{}\n{}", h.log_text(&js), h.status(&js));
    h.publish(SceneEvent::Touch {
        region: REGION.into(),
        object_id: js_obj,
        avatar_id: OWNER,
        link_num: 0,
        position: [0.0; 3],
    });
    assert!(wait_log(&h, &js, "now at <128.00, 128.00, 21.00>"), "{}", h.log_text(&js));
    assert!(
        wait_log(&h, &py, "python-hello listening on channel 7 in R"),
        "{}\n{}",
        h.log_text(&py),
        h.status(&py)
    );
    for s in [&js, &py] {
        eprintln!("{}", h.status(s));
    }
}

#[test]
fn removing_the_last_script_of_a_component_frees_its_compiled_code_and_cache_file() {
    let h = Harness::new();
    let obj = h.object(1);
    let engine = &h.host.shared.engine;
    let cache_files = || std::fs::read_dir(h.dir.path().join("script-cache")).map(|d| d.count()).unwrap_or(0);
    assert_eq!((engine.compiled_count(), cache_files()), (0, 0));
    let a = h.upload_ok(obj, "touch-lift", &[], "");
    let b = h.upload_ok(obj, "touch-lift", &[], "");
    let c = h.upload_ok(obj, "counter", &["storage"], "");
    assert_eq!((engine.compiled_count(), cache_files()), (2, 2), "identical components share one entry");
    let remove = |id: &str| {
        let reply = h.call(json!({ "$type": "Scripting.Messages.RemoveScriptRequest", "ScriptID": id }));
        assert_eq!(reply["_Success"], 1, "{reply}");
    };
    remove(&a);
    assert_eq!((engine.compiled_count(), cache_files()), (2, 2), "b still uses touch-lift");
    remove(&b);
    assert_eq!((engine.compiled_count(), cache_files()), (1, 1));
    remove(&c);
    assert_eq!((engine.compiled_count(), cache_files()), (0, 0), "back to the baseline");
}

#[test]
fn compile_limits_refuse_before_compiling() {
    let h = Harness::with_limits(ScriptingLimits {
        max_component_functions: 1_000,
        max_function_body_bytes: 4_096,
        ..limits()
    });
    let obj = h.object(1);
    let funcs: String = (0..1_001).map(|_| "(func)").collect();
    let reply = h.upload(obj, &wat::parse_str(format!("(component (core module {funcs}))")).expect("wat"), &[], "");
    let msg = reply["_Message"].as_str().unwrap_or("");
    assert!(msg.contains("1001 functions, over MaxComponentFunctions (1000)"), "{msg}");
    let body: String = (0..2_000).map(|_| "i32.const 1 drop ").collect();
    let reply = h.upload(obj, &wat::parse_str(format!("(component (core module (func {body})))")).expect("wat"), &[], "");
    let msg = reply["_Message"].as_str().unwrap_or("");
    assert!(msg.contains("over MaxFunctionBodyBytes (4096)"), "{msg}");
    assert_eq!(h.host.shared.engine.compiled_count(), 0);
}

// --- hot swap (UpdateScriptRequest) -----------------------------------------

impl Harness {
    fn update(&self, script: &str, component: &[u8], extra: Value) -> Value {
        let mut request = json!({
            "$type": "Scripting.Messages.UpdateScriptRequest",
            "ScriptID": script,
            "Component": base64::engine::general_purpose::STANDARD.encode(component),
        });
        if let (Some(r), Some(e)) = (request.as_object_mut(), extra.as_object()) {
            r.extend(e.clone());
        }
        self.call(request)
    }

    fn count_to(&self, obj: Uuid, script: &str, n: u32) {
        h_bump(self, obj, script, n);
    }
}

fn h_bump(h: &Harness, obj: Uuid, script: &str, n: u32) {
    h.message(obj, "bump");
    assert!(wait_log(h, script, &format!("count = {n} ")), "{}", h.log_text(script));
}

#[test]
fn an_update_swaps_the_component_in_place_keeping_id_object_and_storage() {
    let h = Harness::new();
    let obj = h.object(1);
    let counter = h.upload_ok(obj, "counter", &["storage"], "");
    assert!(wait_log(&h, &counter, "counter started, count = 0"), "{}", h.log_text(&counter));
    for n in 1..=3 {
        h.count_to(obj, &counter, n);
    }
    let before = h.status(&counter);
    // New behaviour: chaos with a timer, same script.
    let reply = h.update(&counter, &guest("chaos"), json!({ "StartParameter": "timer-1ms" }));
    assert_eq!(reply["_Success"], 1, "{reply}");
    assert_eq!(reply["ScriptID"], json!(counter), "{reply}");
    assert_eq!(reply["RolledBack"], false, "{reply}");
    assert_ne!(reply["Hash"], before["Hash"], "{reply}");
    assert!(wait_log(&h, &counter, "tick 2"), "{}", h.log_text(&counter));
    let s = h.status(&counter);
    assert_eq!((s["State"].as_str(), s["ObjectID"].clone()), (Some("running"), before["ObjectID"].clone()), "{s}");
    // Back to the counter: the count in storage survived both swaps, and the
    // old timer does not follow the new component.
    let reply = h.update(&counter, &guest("counter"), json!({ "StartParameter": "" }));
    assert_eq!(reply["_Success"], 1, "{reply}");
    assert!(wait_log(&h, &counter, "counter started, count = 3"), "{}", h.log_text(&counter));
    h.count_to(obj, &counter, 4);
    let ticks = h.log_text(&counter).matches("tick ").count();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(h.log_text(&counter).matches("tick ").count(), ticks, "the chaos timer stopped with its component");
    let list = h.call(json!({ "$type": "Scripting.Messages.ListScriptsRequest" }));
    assert_eq!(list["Scripts"].as_array().map(Vec::len), Some(1), "{list}");
    // The update is durable: a host restart runs the counter.
    let h = h.restart();
    assert!(wait_log(&h, &counter, "counter started, count = 4"), "{}", h.log_text(&counter));
}

#[test]
fn a_faulting_on_start_rolls_back_to_the_running_component() {
    let h = Harness::new();
    let obj = h.object(1);
    let counter = h.upload_ok(obj, "counter", &["storage"], "");
    h.count_to(obj, &counter, 1);
    let hash = h.status(&counter)["Hash"].clone();
    for command in ["trap", "spin"] {
        let reply = h.update(&counter, &guest("chaos"), json!({ "StartParameter": command }));
        assert_eq!(reply["_Success"], 1, "{reply}");
        assert_eq!(reply["RolledBack"], true, "{reply}");
        let message = reply["Message"].as_str().unwrap_or("");
        assert!(message.contains("rolled back") && message.contains("on-start faulted"), "{message}");
        assert_eq!(reply["Hash"], hash, "{reply}");
        let s = h.status(&counter);
        assert_eq!((s["State"].as_str(), s["Hash"].clone()), (Some("running"), hash.clone()), "{s}");
        assert!(h.log_text(&counter).contains("rolled back"), "{}", h.log_text(&counter));
    }
    // The previous instance kept running: no new on-start, the count goes on.
    h.count_to(obj, &counter, 2);
    assert_eq!(h.log_text(&counter).matches("counter started").count(), 1, "{}", h.log_text(&counter));
    // Nothing of the rolled-back component was stored.
    let h = h.restart();
    assert!(wait_log(&h, &counter, "counter started, count = 2"), "{}", h.log_text(&counter));
    assert_eq!(h.status(&counter)["Hash"], hash);
}

#[test]
fn bad_updates_are_refused_and_change_nothing() {
    let h = Harness::new();
    let obj = h.object(1);
    let counter = h.upload_ok(obj, "counter", &["storage"], "");
    h.count_to(obj, &counter, 1);
    let before = h.status(&counter);
    let refuse = |reply: Value, needle: &str| {
        assert_eq!(reply["_Success"], 0, "{reply}");
        let msg = reply["_Message"].as_str().unwrap_or("");
        assert!(msg.contains(needle), "{msg:?} should contain {needle:?}");
    };
    refuse(h.update(&counter, b"this is not wasm", json!({})), "not a WebAssembly component");
    refuse(h.update(&counter, b"", json!({})), "Component is empty");
    refuse(
        h.update(&counter, &vec![0u8; limits().max_component_bytes + 1], json!({})),
        "exceeds MaxComponentBytes",
    );
    refuse(h.update(&counter, &guest("chaos"), json!({ "Grants": ["no-such-grant"] })), "no-such-grant");
    refuse(h.update(&Uuid::from_u128(77).to_string(), &guest("chaos"), json!({})), "no such script");
    // Wider grants than the caller may give: a capability without the
    // RemoteControl domain cannot add objects:read.
    let narrow = h
        .dispatcher
        .services()
        .capabilities
        .create(OWNER, "Ada Lovelace".into(), REGION.into(), vec!["Scripting".into()], Duration::from_secs(60))
        .id;
    let mut request = json!({
        "$type": "Scripting.Messages.UpdateScriptRequest",
        "ScriptID": counter,
        "Component": base64::engine::general_purpose::STANDARD.encode(guest("counter")),
        "Grants": ["storage", "objects:read"],
        "_Scene": REGION,
        "_Capability": narrow.to_string(),
        "_Domain": "Scripting",
    });
    let reply = h
        .dispatcher
        .handle(
            &serde_json::to_vec(&request).expect("json"),
            Encoding::Json,
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            Transport::Http {
                path_domain: String::new(),
            },
        )
        .expect("reply");
    let reply: Value = serde_json::from_slice(&reply.encode(Encoding::Json)).expect("json");
    refuse(reply, "may only narrow");
    // Narrowing is allowed to the same caller.
    request["Grants"] = json!([]);
    let reply = h
        .dispatcher
        .handle(
            &serde_json::to_vec(&request).expect("json"),
            Encoding::Json,
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            Transport::Http {
                path_domain: String::new(),
            },
        )
        .expect("reply");
    let reply: Value = serde_json::from_slice(&reply.encode(Encoding::Json)).expect("json");
    assert_eq!(reply["_Success"], 1, "{reply}");
    assert_eq!(reply["Grants"], json!([]), "{reply}");
    // Every refusal left the script as it was (the narrowing swapped the same
    // component back in, without storage now).
    let after = h.status(&counter);
    assert_eq!((after["Hash"].clone(), after["State"].clone()), (before["Hash"].clone(), before["State"].clone()));
    assert!(wait_log(&h, &counter, "cannot read the count"), "{}", h.log_text(&counter));
}
