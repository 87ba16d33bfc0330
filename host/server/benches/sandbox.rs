//! Probe-script event latency among hostile scripts (issue "Close the
//! sandbox", finding 6): a touch-lift script owned by one user is touched over
//! and over while another user runs 0, then 120 hostile `chaos` scripts (50
//! spinning, 50 allocating, 20 chat-flooding, reset whenever they fault).
//! Prints touch → reaction latency p50/p99 (the object rising, as an external
//! client sees it) and the latency of a plain client request in the same run.
//!
//! Run: `cargo bench -p dispatcher --bench sandbox` (prints figures).
//! Knobs: BENCH_TOUCHES (default 200), BENCH_HOSTILE (default 120).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use dispatcher_server::config::HostConfig;
use dispatcher_store::{NewAccount, NewRegion, Store};
use serde_json::{json, Value};

const REGION: &str = "Bench";

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn guest(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../guest-examples/out")
        .join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run guest-examples/build.sh)", path.display()))
}

fn box_asset() -> Vec<u8> {
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

/// One user talking JSON to the host over HTTP.
#[derive(Clone)]
struct Client {
    agent: ureq::Agent,
    url: String,
    cap: String,
}

impl Client {
    fn login(url: &str, first: &str, last: &str) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut c = Client {
            agent,
            url: url.to_owned(),
            cap: String::new(),
        };
        let reply = c.post(json!({
            "$type": "Dispatcher.Messages.CreateCapabilityRequest", "_Scene": REGION,
            "FirstName": first, "LastName": last, "HashedPasswd": "5f4dcc3b5aa765d61d8327deb882cf99",
            "DomainList": ["RemoteControl", "Scripting"], "LifeSpan": 300,
        }));
        c.cap = reply["Capability"]
            .as_str()
            .unwrap_or_else(|| panic!("no capability: {reply}"))
            .to_owned();
        c
    }

    fn post(&self, body: Value) -> Value {
        let mut r = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .send(body.to_string().as_bytes())
            .expect("HTTP");
        let text = r.body_mut().read_to_string().expect("body");
        serde_json::from_str(&text).expect("JSON reply")
    }

    fn call(&self, domain: &str, kind: &str, extra: Value) -> Value {
        let mut v = json!({
            "$type": format!("{domain}.Messages.{kind}"), "_domain": domain, "_scene": REGION, "_capability": self.cap,
        });
        if let (Some(o), Value::Object(more)) = (v.as_object_mut(), extra) {
            o.extend(more);
        }
        let reply = self.post(v);
        assert_eq!(reply["_Success"], 1, "{kind}: {reply}");
        reply
    }

    fn make_object(&self) -> String {
        let asset = self.call(
            "RemoteControl",
            "AddAssetRequest",
            json!({ "Asset": {
                "AssetID": "00000000-0000-0000-0000-000000000000",
                "SerializedAsset": base64::engine::general_purpose::STANDARD.encode(box_asset()),
                "Name": "box", "Description": "", "ContentType": "application/vnd.ll.primitive", "CreatorID": "",
            }}),
        );
        let created = self.call(
            "RemoteControl",
            "CreateObjectRequest",
            json!({
                "AssetID": asset["AssetID"], "Position": [128.0, 128.0, 20.0], "Name": "bench box",
            }),
        );
        created["ObjectID"].as_str().expect("ObjectID").to_owned()
    }

    fn upload(&self, object: &str, component: &[u8], grants: &[&str], start: &str) -> String {
        let reply = self.call(
            "Scripting",
            "UploadScriptRequest",
            json!({
                "ObjectID": object, "Name": "bench", "Component": base64::engine::general_purpose::STANDARD.encode(component),
                "Grants": grants, "StartParameter": start,
            }),
        );
        reply["ScriptID"].as_str().expect("ScriptID").to_owned()
    }

    fn z(&self, object: &str) -> f64 {
        self.call("RemoteControl", "GetObjectPositionRequest", json!({ "ObjectID": object }))["Position"][2]
            .as_f64()
            .unwrap_or(f64::NAN)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[(((sorted.len() as f64) - 1.0) * p).round() as usize]
}

/// Touch the probe `n` times; (touch latencies, request latencies, lost).
fn measure(probe: &Client, object: &str, avatar: &str, n: u64) -> (Vec<Duration>, Vec<Duration>, u64) {
    let (mut touches, mut requests, mut lost) = (Vec::new(), Vec::new(), 0);
    for _ in 0..n {
        let before = probe.z(object);
        let started = Instant::now();
        probe.call(
            "RemoteControl",
            "TouchObjectRequest",
            json!({ "ObjectID": object, "AvatarID": avatar, "LinkNum": 0 }),
        );
        loop {
            let asked = Instant::now();
            let z = probe.z(object);
            requests.push(asked.elapsed());
            if z > before + 0.5 {
                touches.push(started.elapsed());
                break;
            }
            if started.elapsed() > Duration::from_secs(10) {
                lost += 1;
                break;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    touches.sort();
    requests.sort();
    (touches, requests, lost)
}

fn report(label: &str, (touches, requests, lost): &(Vec<Duration>, Vec<Duration>, u64)) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{label:<28} touch→reaction p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  lost {lost}   client request p50 {:>6.2} ms  p99 {:>6.2} ms",
        ms(percentile(touches, 0.5)),
        ms(percentile(touches, 0.99)),
        ms(*touches.last().expect("touches")),
        ms(percentile(requests, 0.5)),
        ms(percentile(requests, 0.99)),
    );
}

fn main() {
    let touches = env_num("BENCH_TOUCHES", 200);
    let hostile_count = env_num("BENCH_HOSTILE", 120);
    let dir = tempfile::tempdir().expect("tmp");
    let store = Arc::new(Store::open(dir.path()).expect("store"));
    let account = |first: &str| {
        store
            .create_account(&NewAccount {
                first_name: first.into(),
                last_name: "Bench".into(),
                password: "password".into(),
                ..Default::default()
            })
            .expect("account")
    };
    let (probe_owner, hostile_owner) = (account("Probe"), account("Hostile"));
    store
        .create_region(&NewRegion {
            name: REGION.into(),
            owner: probe_owner.id,
            managers: vec![hostile_owner.id],
            ..Default::default()
        })
        .expect("region");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let mut config = HostConfig {
        data_dir: dir.path().to_owned(),
        http_port: 0,
        ..Default::default()
    };
    config.dispatcher.udp_port = 0;
    config.scripting.max_restarts = 1;
    config.scripting.memory_limit_bytes = 4 * 1024 * 1024;
    let running = runtime.block_on(dispatcher_server::serve::start(&config, store)).expect("start");
    let url = format!("http://{}/Dispatcher/", running.http_addr);
    let probe = Client::login(&url, "Probe", "Bench");
    let hostile = Client::login(&url, "Hostile", "Bench");
    let object = probe.make_object();
    probe.upload(&object, &guest("touch-lift"), &["objects:read", "objects:write"], "");
    let avatar = probe_owner.id.to_string();
    std::thread::sleep(Duration::from_secs(1));
    measure(&probe, &object, &avatar, 10); // warm-up
    println!("probe-script event latency (touch-lift), {touches} touches per run, 2 runner threads, 2-core machine");
    report("0 hostile scripts", &measure(&probe, &object, &avatar, touches));

    let chaos = guest("chaos");
    let mut scripts = Vec::new();
    for n in 0..hostile_count {
        let (grants, command): (&[&str], &str) = match n * 120 / hostile_count.max(1) {
            0..50 => (&[], "spin"),
            50..100 => (&[], "alloc"),
            _ => (&["chat"], "flood-chat"),
        };
        scripts.push(hostile.upload(&hostile.make_object(), &chaos, grants, command));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let resets = Arc::new(AtomicU64::new(0));
    let resetter = {
        let (stop, resets, hostile, scripts) = (stop.clone(), resets.clone(), hostile.clone(), scripts.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for s in &scripts {
                    let st = hostile.call("Scripting", "GetScriptStatusRequest", json!({ "ScriptID": s }));
                    if st["State"] == "faulted" {
                        hostile.call("Scripting", "ResetScriptRequest", json!({ "ScriptID": s }));
                        resets.fetch_add(1, Ordering::Relaxed);
                    }
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };
    std::thread::sleep(Duration::from_secs(2));
    let with = measure(&probe, &object, &avatar, touches);
    stop.store(true, Ordering::Relaxed);
    resetter.join().expect("resetter");
    report(&format!("{hostile_count} hostile scripts"), &with);
    println!(
        "  (hostile: 50 spin, 50 alloc, 20 flood-chat per 120; {} resets during the run)",
        resets.load(Ordering::Relaxed)
    );
    runtime.block_on(running.stop());
}
