//! The author's loop (authoring spec §1–2), measured against an in-process
//! host over HTTP:
//!
//! - edit-to-live of the dev loop for the Rust `storage` template: the source
//!   is edited, then built (`author::build`, cargo for wasm32-wasip2, the
//!   host's component check) and hot-swapped (`UpdateScriptRequest`) until a
//!   touch shows the new behaviour in the log; median of 10 (and min/max);
//! - hot swap time: an update request sent to the new component's first
//!   event (its `on-start` log line), median of 10;
//! - events lost during a swap: messages sent without pause by a second
//!   thread across 10 swaps, each counted by the script in its storage; the
//!   final count against the messages sent (target 0 lost).
//!
//! Run: `cargo bench -p dispatcher --bench author_loop` (prints figures).
//! Rust builds go to target/author-guests (shared with the tests).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use dispatcher_server::author;
use dispatcher_server::config::HostConfig;
use dispatcher_store::{NewAccount, NewRegion, Store};
use serde_json::{json, Value};

const REGION: &str = "Bench";

#[derive(Clone)]
struct Client {
    agent: ureq::Agent,
    url: String,
    cap: String,
}

impl Client {
    fn login(url: &str) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut c = Client {
            agent,
            url: url.to_owned(),
            cap: String::new(),
        };
        let reply = c.post(&json!({
            "$type": "Dispatcher.Messages.CreateCapabilityRequest", "_Scene": REGION,
            "FirstName": "Author", "LastName": "Bench", "HashedPasswd": "5f4dcc3b5aa765d61d8327deb882cf99",
            "DomainList": ["RemoteControl", "Scripting"], "LifeSpan": 3600,
        }));
        c.cap = reply["Capability"].as_str().expect("capability").to_owned();
        c
    }

    fn post(&self, body: &Value) -> Value {
        let mut r = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .send(body.to_string().as_bytes())
            .expect("HTTP");
        let text = r.body_mut().with_config().limit(64 << 20).read_to_string().expect("body");
        serde_json::from_str(&text).expect("JSON reply")
    }

    fn call(&self, domain: &str, kind: &str, extra: Value) -> Value {
        let mut v = json!({
            "$type": format!("{domain}.Messages.{kind}"), "_domain": domain, "_scene": REGION, "_capability": self.cap,
        });
        if let (Some(o), Value::Object(more)) = (v.as_object_mut(), extra) {
            o.extend(more);
        }
        let reply = self.post(&v);
        assert_eq!(reply["_Success"], 1, "{kind}: {reply}");
        reply
    }

    fn log(&self, script: &str) -> String {
        let reply = self.call("Scripting", "GetScriptLogRequest", json!({ "ScriptID": script, "Since": 0 }));
        reply["Lines"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| format!("{}\n", l["Text"].as_str().unwrap_or("")))
            .collect()
    }

    fn wait_log(&self, script: &str, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.log(script).contains(needle) {
            assert!(Instant::now() < deadline, "never logged {needle:?}:\n{}", self.log(script));
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn update(&self, script: &str, bytes: &[u8]) -> Value {
        self.call(
            "Scripting",
            "UpdateScriptRequest",
            json!({ "ScriptID": script, "Component": base64::engine::general_purpose::STANDARD.encode(bytes) }),
        )
    }
}

fn median(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort();
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    if std::env::var_os("CARGO_TARGET_DIR").is_none() {
        std::env::set_var("CARGO_TARGET_DIR", repo.join("target/author-guests"));
    }
    let dir = tempfile::tempdir().expect("tmp");
    let store = Arc::new(Store::open(dir.path()).expect("store"));
    let owner = store
        .create_account(&NewAccount {
            first_name: "Author".into(),
            last_name: "Bench".into(),
            password: "password".into(),
            ..Default::default()
        })
        .expect("account");
    store
        .create_region(&NewRegion {
            name: REGION.into(),
            owner: owner.id,
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
    let running = runtime.block_on(dispatcher_server::serve::start(&config, store)).expect("start");
    let url = format!("http://{}/Dispatcher/", running.http_addr);
    let client = Client::login(&url);
    let asset = client.call(
        "RemoteControl",
        "AddAssetRequest",
        json!({ "Asset": {
            "AssetID": "00000000-0000-0000-0000-000000000000",
            "SerializedAsset": base64::engine::general_purpose::STANDARD.encode(dispatcher_server::client::box_asset("bench")),
            "Name": "bench", "Description": "", "ContentType": "application/vnd.ll.primitive", "CreatorID": "",
        }}),
    );
    let object = client.call(
        "RemoteControl",
        "CreateObjectRequest",
        json!({ "AssetID": asset["AssetID"], "Position": [128.0, 128.0, 25.0], "Name": "bench" }),
    )["ObjectID"]
        .as_str()
        .expect("ObjectID")
        .to_owned();

    let project = author::new_project(dir.path(), "bench-lamp", "rust", "storage").expect("new");
    let limits = dispatcher_scripting::ScriptingLimits::default();
    let (path, _) = author::build(&project, &limits).expect("first build");
    let first = std::fs::read(&path).expect("component");
    let script = client.call(
        "Scripting",
        "UploadScriptRequest",
        json!({
            "ObjectID": object, "Name": "bench-lamp", "Grants": ["storage"],
            "Component": base64::engine::general_purpose::STANDARD.encode(&first),
        }),
    )["ScriptID"]
        .as_str()
        .expect("ScriptID")
        .to_owned();
    client.wait_log(&script, "bench-lamp started");
    let source = project.dir.join("src/lib.rs");
    let original = std::fs::read_to_string(&source).expect("source");
    let touch = || {
        client.call("RemoteControl", "TouchObjectRequest", json!({ "ObjectID": object }));
    };

    // 1. Edit to live: edit, build, update, touch until the new text shows.
    let mut edit_to_live = Vec::new();
    let mut build_times = Vec::new();
    for i in 0..10 {
        let marker = format!("edit{i} = ");
        let started = Instant::now();
        std::fs::write(&source, original.replace("count = {n}", &format!("{marker}{{n}}"))).expect("edit");
        let (path, _) = author::build(&project, &limits).expect("build");
        build_times.push(started.elapsed());
        client.update(&script, &std::fs::read(&path).expect("component"));
        touch();
        client.wait_log(&script, &marker);
        edit_to_live.push(started.elapsed());
    }
    let (lo, mid, hi) = median(edit_to_live);
    let (_, build_mid, _) = median(build_times);
    println!("author loop, Rust `storage` template, host in the bench profile, release guest build, 2-core machine");
    println!(
        "edit-to-live (edit → build → update → touch shows it): median {:.0} ms (min {:.0}, max {:.0}); of which build median {:.0} ms",
        ms(mid),
        ms(lo),
        ms(hi),
        ms(build_mid)
    );

    // 2. Hot swap: update request → the new component's first event.
    // Two components to swap between: the template as generated (its
    // on-start says "started, count") and an edit saying "restarted, count".
    std::fs::write(&source, &original).expect("restore");
    let (path_a, _) = author::build(&project, &limits).expect("build");
    let a = std::fs::read(&path_a).expect("component");
    std::fs::write(&source, original.replace("started, count", "restarted, count")).expect("edit");
    let (path_b, _) = author::build(&project, &limits).expect("build");
    let b = std::fs::read(&path_b).expect("component");
    let mut swaps = Vec::new();
    for i in 0..10 {
        let (bytes, needle) = if i % 2 == 0 { (&b, "restarted, count") } else { (&a, "lamp started, count") };
        let before = client.log(&script).matches(needle).count();
        let started = Instant::now();
        let reply = client.update(&script, bytes);
        assert_eq!(reply["_Success"], 1, "swap {i}: {reply}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while client.log(&script).matches(needle).count() == before {
            assert!(Instant::now() < deadline, "swap {i} never started");
            std::thread::sleep(Duration::from_micros(500));
        }
        swaps.push(started.elapsed());
    }
    let (lo, mid, hi) = median(swaps);
    println!(
        "hot swap (UpdateScriptRequest sent → new component's on-start logged, compiled component cached): median {:.1} ms (min {:.1}, max {:.1})",
        ms(mid),
        ms(lo),
        ms(hi)
    );

    // 3. Events lost during swaps: touches sent without pause while swapping.
    let counted = |log: &str| -> u64 {
        log.lines()
            .filter_map(|l| l.split("= ").nth(1))
            .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
            .max()
            .unwrap_or(0)
    };
    let start_count = counted(&client.log(&script));
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let toucher = {
        let (stop, sent, c, object) = (stop.clone(), sent.clone(), client.clone(), object.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                // Only touches the host accepted count as sent.
                let reply = c.call("RemoteControl", "TouchObjectRequest", json!({ "ObjectID": object }));
                if reply["_Success"] == 1 {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                // Under the script's StorageWritesPerSecond (100): each
                // touch is one storage write, and a refused write would be a
                // rate limit, not an event the swap lost.
                std::thread::sleep(Duration::from_millis(15));
            }
        })
    };
    for i in 0..10 {
        client.update(&script, if i % 2 == 0 { &a } else { &b });
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::Relaxed);
    toucher.join().expect("toucher");
    let sent = sent.load(Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut now = counted(&client.log(&script));
    while now < start_count + sent && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        now = counted(&client.log(&script));
    }
    let status = client.call("Scripting", "GetScriptStatusRequest", json!({ "ScriptID": script }));
    println!(
        "events during 10 swaps: {sent} touches sent, {} counted, {} lost (EventsDropped {})",
        now - start_count,
        (start_count + sent).saturating_sub(now),
        status["EventsDropped"]
    );
    runtime.block_on(running.stop());
}
