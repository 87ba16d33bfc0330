//! Live events and metrics (issue 15), against the real binary over real
//! sockets:
//!
//! - a region of 10,000 objects, the `traffic` guest moving 1,000 more of its
//!   own at 20 Hz (`1000 50 5`: a `BulkDynamics` every 50 ms), and a probe
//!   object the bench moves at 20 Hz with `SetObjectPositionRequest`;
//! - request throughput (`GetObjectPositionRequest` from 4 threads over
//!   keep-alive connections) and host CPU for a while without event streams,
//!   then the same with 100 event-stream clients subscribed to `objects`:
//!   frames/s delivered, p99 lag from the probe's move (request sent) to its
//!   frame at each client, host CPU, and the throughput ratio;
//! - the scrape time of `/metrics` with 10,000 scripts in the region (stopped:
//!   the records, not 10,000 live instances).
//!
//! Run: `cargo bench -p dispatcher --bench live` (prints figures). Sizes from
//! the environment: `BENCH_OBJECTS`, `BENCH_CLIENTS`, `BENCH_CARS`,
//! `BENCH_SECONDS`, `BENCH_SCRIPTS`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_dispatcher");
const REGION: &str = "Bench";
const REQUEST_THREADS: usize = 4;
const PROBE_HZ: u64 = 20;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn cli(dir: &std::path::Path, args: &[&str]) {
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("run dispatcher");
    assert!(out.status.success(), "dispatcher {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

struct Host {
    child: Child,
    http: SocketAddr,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Host {
    fn start(dir: &std::path::Path) -> Host {
        let config = dir.join("dispatcher.ini");
        std::fs::write(&config, "[Scripting]\nMaxScriptsPerRegion = 30000\n[Network]\nmax_connections_per_address = 1024\n")
            .expect("config");
        let mut child = Command::new(BIN)
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(dir)
            .args(["serve", "--http-port", "0", "--udp-port", "0"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn dispatcher serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("readiness line");
        let http = line
            .trim()
            .strip_prefix("dispatcher ready http=")
            .and_then(|r| r.split_once(" udp="))
            .map(|(h, _)| h.parse().expect("http address"))
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        Host { child, http }
    }

    /// User + system CPU seconds of the host process.
    fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).expect("stat");
        let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks: f64 = fields[11].parse::<f64>().unwrap_or(0.0) + fields[12].parse::<f64>().unwrap_or(0.0);
        ticks / 100.0
    }
}

#[derive(Clone)]
struct Client {
    agent: ureq::Agent,
    url: String,
    cap: String,
}

impl Client {
    fn login(http: SocketAddr) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut c = Client {
            agent,
            url: format!("http://{http}/Dispatcher/"),
            cap: String::new(),
        };
        let reply = c.post(&json!({
            "$type": "Dispatcher.Messages.CreateCapabilityRequest", "_Scene": REGION,
            "FirstName": "Live", "LastName": "Bench", "HashedPasswd": "5f4dcc3b5aa765d61d8327deb882cf99",
            "DomainList": ["RemoteControl", "Scripting"], "LifeSpan": 36000,
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

    fn metrics(&self, http: SocketAddr) -> (String, Duration) {
        let started = Instant::now();
        let mut r = self.agent.get(&format!("http://{http}/metrics")).call().expect("scrape");
        let text = r.body_mut().with_config().limit(256 << 20).read_to_string().expect("body");
        (text, started.elapsed())
    }
}

/// The value of an unlabelled (or first matching) sample.
fn sample(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Requests answered by `REQUEST_THREADS` threads in `seconds`, and the
/// host's CPU seconds meanwhile.
fn request_phase(host: &Host, client: &Client, objects: &[String], seconds: u64) -> (u64, f64) {
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let cpu = host.cpu_seconds();
    std::thread::scope(|scope| {
        for t in 0..REQUEST_THREADS {
            let (stop, done) = (&stop, &done);
            let client = Client {
                agent: ureq::Agent::config_builder().http_status_as_error(false).build().into(),
                ..client.clone()
            };
            scope.spawn(move || {
                let mut i = t * 7919;
                while !stop.load(Ordering::Relaxed) {
                    i = (i * 1_103_515_245 + 12_345) % 2_147_483_648;
                    let id = &objects[i % objects.len()];
                    client.call("RemoteControl", "GetObjectPositionRequest", json!({ "ObjectID": id }));
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        std::thread::sleep(Duration::from_secs(seconds));
        stop.store(true, Ordering::Relaxed);
    });
    (done.load(Ordering::Relaxed), host.cpu_seconds() - cpu)
}

type Ws = tungstenite::WebSocket<std::net::TcpStream>;

fn subscribe(http: SocketAddr, cap: &str) -> Ws {
    let stream = std::net::TcpStream::connect(http).expect("connect");
    let (mut ws, _) = tungstenite::client(format!("ws://{http}/Dispatcher/events").as_str(), stream).expect("handshake");
    let request = json!({"$type": "Dispatcher.Messages.SubscribeRequest", "_Capability": cap, "_Scene": REGION, "Topics": ["objects"]});
    ws.send(tungstenite::Message::text(request.to_string())).expect("subscribe");
    // The reply, then the snapshot up to its final frame.
    loop {
        let tungstenite::Message::Text(t) = ws.read().expect("frame") else { continue };
        let frame: Value = serde_json::from_str(t.as_str()).expect("JSON");
        if frame["_Success"] == 0 {
            panic!("subscription refused: {frame}");
        }
        if frame["Final"] == true {
            break;
        }
    }
    ws.get_ref().set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    ws
}

fn main() {
    let n_objects = env_or("BENCH_OBJECTS", 10_000);
    let n_clients = env_or("BENCH_CLIENTS", 100);
    let n_cars = env_or("BENCH_CARS", 1000);
    let seconds = env_or("BENCH_SECONDS", 10) as u64;
    let n_scripts = env_or("BENCH_SCRIPTS", 10_000);

    let dir = tempfile::tempdir().expect("tmp");
    cli(
        dir.path(),
        &["user", "create", "--first", "Live", "--last", "Bench", "--password", "password", "--no-inventory"],
    );
    cli(dir.path(), &["region", "create", "--name", REGION, "--owner", "Live Bench"]);
    let host = Host::start(dir.path());
    let client = Client::login(host.http);
    let asset = client.call(
        "RemoteControl",
        "AddAssetRequest",
        json!({ "Asset": {
            "AssetID": "00000000-0000-0000-0000-000000000000",
            "SerializedAsset": base64::engine::general_purpose::STANDARD.encode(dispatcher_server::client::box_asset("bench")),
            "Name": "bench", "Description": "", "ContentType": "application/vnd.ll.primitive", "CreatorID": "",
        }}),
    )["AssetID"]
        .clone();

    // The region: n_objects boxes on a grid, in batches of 1,000.
    let started = Instant::now();
    let mut objects = Vec::with_capacity(n_objects);
    for batch in (0..n_objects).collect::<Vec<_>>().chunks(1000) {
        let specs: Vec<Value> = batch
            .iter()
            .map(|i| {
                let (x, y) = (2.0 + (i % 100) as f64 * 2.5, 2.0 + (i / 100 % 100) as f64 * 2.5);
                let id = uuid::Uuid::new_v4().to_string();
                objects.push(id.clone());
                json!({"AssetID": asset, "ObjectData": {"ObjectID": id, "Position": [x, y, 22.0]}, "Name": format!("box {i}")})
            })
            .collect();
        let reply = client.call("RemoteControl", "CreateBulkObjectsRequest", json!({ "Objects": specs }));
        assert!(reply["_Message"].as_str().unwrap_or_default().is_empty(), "{reply}");
    }
    assert_eq!(objects.len(), n_objects, "created");
    let create = |name: &str, position: [f64; 3]| {
        client.call(
            "RemoteControl",
            "CreateObjectRequest",
            json!({ "AssetID": asset, "Position": position, "Name": name }),
        )["ObjectID"]
            .as_str()
            .expect("ObjectID")
            .to_owned()
    };
    let probe = create("probe", [10.0, 250.0, 25.0]);
    let hub = create("traffic hub", [128.0, 128.0, 25.0]);
    println!("region: {n_objects} objects created in {:.1} s", started.elapsed().as_secs_f64());

    // The traffic guest drives n_cars at 20 Hz.
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let traffic =
        std::fs::read(repo.join("guest-examples/out/traffic.wasm")).expect("guest-examples/out/traffic.wasm (guest-examples/build.sh)");
    client.call(
        "Scripting",
        "UploadScriptRequest",
        json!({
            "ObjectID": hub, "Name": "traffic", "StartParameter": format!("{n_cars} 50 5"), "Start": true,
            "Grants": ["objects:read", "objects:create", "objects:write", "objects:delete", "assets:write", "scope:owner"],
            "Component": base64::engine::general_purpose::STANDARD.encode(&traffic),
        }),
    );
    let want = (n_objects + 2 + n_cars) as f64;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let (text, _) = client.metrics(host.http);
        let count = sample(&text, "dispatcher_region_objects{");
        let moving = sample(&text, "dispatcher_region_moving_objects{");
        if count >= want && moving >= n_cars as f64 * 0.9 {
            println!("traffic: {count} objects, {moving} moving");
            break;
        }
        assert!(Instant::now() < deadline, "the traffic guest never got its {n_cars} cars going ({count} objects)");
        std::thread::sleep(Duration::from_millis(500));
    }

    // 1. Requests without streams.
    let (without, cpu_without) = request_phase(&host, &client, &objects, seconds);
    let rate_without = without as f64 / seconds as f64;
    println!(
        "without streams: {rate_without:.0} requests/s, host CPU {:.0} % of one core",
        cpu_without / seconds as f64 * 100.0
    );

    // 2. The same with n_clients streams, and the probe moving at 20 Hz.
    let connect_started = Instant::now();
    let sent: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let frames = Arc::new(AtomicU64::new(0));
    let lags: Arc<Mutex<Vec<Duration>>> = Arc::default();
    // Each client reads from the moment it has subscribed (a client that
    // stopped reading for the others' snapshots would be closed as slow).
    let readers: Vec<_> = (0..n_clients)
        .map(|_| {
            let mut ws = subscribe(host.http, &client.cap);
            let (stop, frames, lags, sent, probe) = (stop.clone(), frames.clone(), lags.clone(), sent.clone(), probe.clone());
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match ws.read() {
                        Ok(tungstenite::Message::Text(t)) => {
                            frames.fetch_add(1, Ordering::Relaxed);
                            if t.as_str().contains(probe.as_str()) {
                                let at = Instant::now();
                                let frame: Value = serde_json::from_str(t.as_str()).expect("JSON");
                                let x = frame["Position"][0].as_f64().unwrap_or(0.0);
                                let seq = ((x - 10.0) / 0.1).round() as u64;
                                if let Some(t0) = sent.lock().expect("sent").get(&seq) {
                                    mine.push(at.saturating_duration_since(*t0));
                                }
                            }
                        }
                        Ok(_) => {}
                        Err(tungstenite::Error::Io(e))
                            if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                        Err(e) => {
                            // Closed by the host (a slow reader): counted below from /metrics.
                            eprintln!("a stream ended: {e}");
                            break;
                        }
                    }
                }
                lags.lock().expect("lags").extend(mine);
            })
        })
        .collect();
    println!(
        "{n_clients} streams subscribed (snapshot of {} objects each) in {:.1} s",
        want,
        connect_started.elapsed().as_secs_f64()
    );
    let (before, _) = client.metrics(host.http);
    let mover = {
        let (stop, sent, client, probe) = (stop.clone(), sent.clone(), client.clone(), probe.clone());
        std::thread::spawn(move || {
            let period = Duration::from_millis(1000 / PROBE_HZ);
            let mut next = Instant::now();
            let mut seq = 1u64;
            while !stop.load(Ordering::Relaxed) {
                let x = 10.0 + (seq % 2000) as f64 * 0.1;
                sent.lock().expect("sent").insert(seq % 2000, Instant::now());
                client.call(
                    "RemoteControl",
                    "SetObjectPositionRequest",
                    json!({"ObjectID": probe, "Position": [x, 250.0, 25.0]}),
                );
                seq += 1;
                next += period;
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            seq - 1
        })
    };
    let frames_at_start = frames.load(Ordering::Relaxed);
    let (with, cpu_with) = request_phase(&host, &client, &objects, seconds);
    let delivered = frames.load(Ordering::Relaxed) - frames_at_start;
    stop.store(true, Ordering::Relaxed);
    let moves = mover.join().expect("mover");
    for r in readers {
        r.join().expect("reader");
    }
    let (after, _) = client.metrics(host.http);
    let rate_with = with as f64 / seconds as f64;
    let mut lags = std::mem::take(&mut *lags.lock().expect("lags"));
    lags.sort();
    let delta = |name: &str| sample(&after, name) - sample(&before, name);
    println!(
        "with {n_clients} streams: {rate_with:.0} requests/s ({:.2} of without), host CPU {:.0} % of one core",
        rate_with / rate_without,
        cpu_with / seconds as f64 * 100.0
    );
    println!(
        "frames delivered: {:.0}/s in all ({:.0}/s per client); positions coalesced {:.0}/s, events dropped {:.0}",
        delivered as f64 / seconds as f64,
        delivered as f64 / seconds as f64 / n_clients as f64,
        delta("dispatcher_event_stream_positions_coalesced_total") / seconds as f64,
        delta("dispatcher_event_stream_events_dropped_total"),
    );
    println!(
        "streams closed by the host meanwhile: {:.0} as slow readers",
        delta("dispatcher_event_stream_closed_total{reason=\"slow_reader\"}")
    );
    println!(
        "probe lag, move request sent to frame read ({} of {} moves x {n_clients} clients seen): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        lags.len(),
        moves,
        ms(percentile(&lags, 0.5)),
        ms(percentile(&lags, 0.99)),
        ms(percentile(&lags, 1.0)),
    );

    // 3. The scrape time of /metrics with n_scripts scripts (stopped).
    let counter = std::fs::read(repo.join("guest-examples/out/counter.wasm")).expect("counter.wasm");
    let component = base64::engine::general_purpose::STANDARD.encode(&counter);
    let started = Instant::now();
    let mut uploaded = 0;
    for object in objects.iter().take(n_scripts) {
        let reply = client.post(&json!({
            "$type": "Scripting.Messages.UploadScriptRequest", "_domain": "Scripting", "_scene": REGION, "_capability": client.cap,
            "ObjectID": object, "Name": "counter", "Start": false, "Component": component,
        }));
        if reply["_Success"] != 1 {
            println!("upload {uploaded} refused: {}", reply["_Message"]);
            break;
        }
        uploaded += 1;
    }
    println!("{uploaded} scripts uploaded in {:.1} s", started.elapsed().as_secs_f64());
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..20 {
        let (text, took) = client.metrics(host.http);
        size = text.len();
        times.push(took);
    }
    times.sort();
    println!(
        "/metrics with {} scripts: median {:.1} ms, max {:.1} ms ({size} bytes)",
        uploaded + 1,
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 1.0))
    );
}
