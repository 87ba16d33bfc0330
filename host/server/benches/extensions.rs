//! Extensions (issue 13, docs/extensions.md) against the real host over
//! keep-alive HTTP, all figures from one run:
//!
//! - requests/s to `ext-leaderboard`'s read request
//!   (`Leaderboard.Messages.GetTopScoresRequest`) and to the built-in
//!   `RemoteControl.Messages.GetSunParametersRequest`, driven the same way,
//!   and their ratio (target ≥ 0.5);
//! - the same for `ext-chaos` installed as domain `Echo` (its plain echo:
//!   the extension path with next to no guest work), and the leaderboard
//!   read's wasm time per request from its status (`CpuMicros` over
//!   `RequestsHandled`), which tell the path's cost from the guest's;
//! - the added latency of an extension call: on one connection, one request
//!   at a time, p50 and p99 of the extension read minus p50 of the built-in
//!   read (target p50 ≤ 20 µs);
//! - install time of the component: cold (fresh data directory, empty
//!   compile cache), cached in the process (removed and installed again),
//!   and cached on disk (a second host on a fresh data directory holding
//!   only the first one's `script-cache/`);
//! - what the caller lookups the extension runtime now caches cost per
//!   request (the account and the region's estate, read from the store).
//!
//! Run: `cargo bench -p dispatcher --bench extensions` (prints figures).
//! Knobs: BENCH_SECONDS (default 3), BENCH_CONNECTIONS (default 4),
//! BENCH_SAMPLES (default 5000, per latency series).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use dispatcher_server::config::HostConfig;
use dispatcher_server::serve::Running;
use dispatcher_store::{NewAccount, NewRegion, Store};
use serde_json::{json, Value};

const REGION: &str = "Bench";
/// The hash of "password", as CreateCapabilityRequest takes it.
const PASSWORD_MD5: &str = "5f4dcc3b5aa765d61d8327deb882cf99";

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn guest(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../guest-examples/out")
        .join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run guest-examples/build.sh)", path.display()))
}

fn http_request(body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST /Dispatcher/ HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    line: String,
    body: Vec<u8>,
}

impl Conn {
    fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Conn {
            writer: stream.try_clone().expect("clone"),
            reader: BufReader::new(stream),
            line: String::new(),
            body: Vec::new(),
        }
    }

    /// Send one request, read its reply, check it holds `check`.
    fn round_trip(&mut self, request: &[u8], check: &[u8]) {
        self.writer.write_all(request).expect("write");
        let mut len = 0usize;
        loop {
            self.line.clear();
            self.reader.read_line(&mut self.line).expect("read header");
            if self.line == "\r\n" || self.line.is_empty() {
                break;
            }
            if let Some(v) = self.line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().expect("length");
            }
        }
        self.body.resize(len, 0);
        self.reader.read_exact(&mut self.body).expect("read body");
        assert!(
            self.body.windows(check.len()).any(|w| w == check),
            "unexpected reply {:?}",
            String::from_utf8_lossy(&self.body)
        );
    }
}

/// Send `request` repeatedly on `connections` keep-alive connections for `secs`.
fn drive(addr: SocketAddr, request: &[u8], connections: u64, secs: u64, check: &'static [u8]) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let request = Arc::new(request.to_vec());
    let threads: Vec<_> = (0..connections)
        .map(|_| {
            let (stop, count, request) = (stop.clone(), count.clone(), request.clone());
            std::thread::spawn(move || {
                let mut conn = Conn::open(addr);
                while !stop.load(Ordering::Relaxed) {
                    conn.round_trip(&request, check);
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    for t in threads {
        t.join().expect("client thread");
    }
    count.load(Ordering::Relaxed) as f64 / elapsed
}

/// Latencies of `n` requests, one at a time on one connection, sorted.
fn latencies(addr: SocketAddr, request: &[u8], n: u64, check: &'static [u8]) -> Vec<Duration> {
    let mut conn = Conn::open(addr);
    let mut all: Vec<Duration> = (0..n)
        .map(|_| {
            let started = Instant::now();
            conn.round_trip(request, check);
            started.elapsed()
        })
        .collect();
    all.sort();
    all
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[(((sorted.len() as f64) - 1.0) * p).round() as usize]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// A JSON request over a fresh connection (setup calls).
fn post(addr: SocketAddr, body: &Value) -> Value {
    let mut conn = Conn::open(addr);
    conn.round_trip(&http_request(body.to_string().as_bytes()), b"_Success");
    serde_json::from_slice(&conn.body).expect("JSON reply")
}

fn call(addr: SocketAddr, cap: &str, domain: &str, kind: &str, extra: Value) -> Value {
    let mut v = json!({
        "$type": format!("{domain}.Messages.{kind}"), "_domain": domain, "_scene": REGION, "_capability": cap,
    });
    if let (Some(o), Value::Object(more)) = (v.as_object_mut(), extra) {
        o.extend(more);
    }
    let reply = post(addr, &v);
    assert_eq!(reply["_Success"], 1, "{kind}: {reply}");
    reply
}

/// A fresh data directory with the region's owner, and the host on it.
fn start_host(runtime: &tokio::runtime::Runtime, dir: &Path) -> (Running, Arc<Store>) {
    let store = Arc::new(Store::open(dir).expect("store"));
    let owner = store
        .create_account(&NewAccount {
            first_name: "Bench".into(),
            last_name: "Owner".into(),
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
    let mut config = HostConfig {
        data_dir: dir.to_owned(),
        http_port: 0,
        ..Default::default()
    };
    config.dispatcher.udp_port = 0;
    // The bench measures the request path, not the limits: at tens of
    // thousands of requests/s the guest's one storage read per request
    // reaches `HostCallsPerSecond` (10,000 per instance by default) and the
    // extension answers `RateLimited`, as the limit wants.
    config.extensions.host_calls_per_second = u32::MAX;
    let running = runtime
        .block_on(dispatcher_server::serve::start(&config, store.clone()))
        .expect("start");
    (running, store)
}

/// The extension's `CpuMicros` and `RequestsHandled` (its status record).
fn guest_time(addr: SocketAddr, cap: &str, id: &str) -> (f64, f64) {
    let status = call(addr, cap, "Extensions", "GetExtensionStatusRequest", json!({ "ExtensionID": id }));
    let field = |name: &str| status[name].as_f64().unwrap_or_else(|| panic!("no {name}: {status}"));
    (field("CpuMicros"), field("RequestsHandled"))
}

/// What the extension runtime looked up for every request before it kept
/// callers' facts (1 s): the caller's account and the region's estate, two
/// reads on the store's one connection.
fn caller_lookup(store: &Store, n: u32) -> Duration {
    let owner = store.account_by_name("Bench", "Owner").expect("account").expect("the owner").id;
    let started = Instant::now();
    for _ in 0..n {
        let account = store.account_by_id(owner).expect("account");
        let regions = store.list_regions().expect("regions");
        assert!(account.is_some() && regions.iter().any(|r| r.name == REGION));
    }
    started.elapsed() / n
}

fn capability(addr: SocketAddr) -> String {
    let reply = post(
        addr,
        &json!({
            "$type": "Dispatcher.Messages.CreateCapabilityRequest", "_Scene": REGION,
            "FirstName": "Bench", "LastName": "Owner", "HashedPasswd": PASSWORD_MD5,
            "DomainList": ["RemoteControl", "Extensions", "Leaderboard", "Echo"], "LifeSpan": 600,
        }),
    );
    reply["Capability"]
        .as_str()
        .unwrap_or_else(|| panic!("no capability: {reply}"))
        .to_owned()
}

/// Install the component as the estate owner; (time taken, extension id).
fn install(addr: SocketAddr, cap: &str, component: &str) -> (Duration, String) {
    install_with(addr, cap, component, "")
}

fn install_with(addr: SocketAddr, cap: &str, component: &str, config: &str) -> (Duration, String) {
    let started = Instant::now();
    let reply = call(
        addr,
        cap,
        "Extensions",
        "InstallExtensionRequest",
        json!({ "Component": component, "Scope": REGION, "Grants": ["storage"], "Config": config }),
    );
    let took = started.elapsed();
    (took, reply["ExtensionID"].as_str().expect("ExtensionID").to_owned())
}

fn main() {
    let secs = env_num("BENCH_SECONDS", 3);
    let connections = env_num("BENCH_CONNECTIONS", 4);
    let samples = env_num("BENCH_SAMPLES", 5000);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let component = base64::engine::general_purpose::STANDARD.encode(guest("ext-leaderboard"));

    // Install: cold, then the same component again in the same process.
    let dir = tempfile::tempdir().expect("tmp");
    let (running, store) = start_host(&runtime, dir.path());
    let addr = running.http_addr;
    let cap = capability(addr);
    let (cold, first) = install(addr, &cap, &component);
    call(addr, &cap, "Extensions", "RemoveExtensionRequest", json!({ "ExtensionID": first }));
    let (again, id) = install(addr, &cap, &component);
    // ext-chaos as domain `Echo`: its plain echo is the extension path with
    // next to no guest work, to tell the path's cost from the leaderboard's.
    install_with(addr, &cap, &base64::engine::general_purpose::STANDARD.encode(guest("ext-chaos")), "Echo");

    // A board of 20 players; the read asks for the top 10.
    for n in 0..20 {
        call(
            addr,
            &cap,
            "Leaderboard",
            "SubmitScoreRequest",
            json!({ "Player": format!("player{n}"), "Score": n * 37 % 101 }),
        );
    }
    let ext_read = http_request(
        json!({
            "$type": "Leaderboard.Messages.GetTopScoresRequest", "_domain": "Leaderboard", "_scene": REGION,
            "_capability": cap, "Count": 10,
        })
        .to_string()
        .as_bytes(),
    );
    let builtin_read = http_request(
        json!({
            "$type": "RemoteControl.Messages.GetSunParametersRequest", "_domain": "RemoteControl", "_scene": REGION,
            "_capability": cap,
        })
        .to_string()
        .as_bytes(),
    );
    let echo_read = http_request(
        json!({
            "$type": "Echo.Messages.EchoRequest", "_domain": "Echo", "_scene": REGION, "_capability": cap, "Text": "",
        })
        .to_string()
        .as_bytes(),
    );
    const ECHO_OK: &[u8] = b"EchoResponse";
    const EXT_OK: &[u8] = b"GetTopScoresResponse";
    const BUILTIN_OK: &[u8] = b"SunParametersResponse";

    // Warm both paths (the extension's instances, the connection pools).
    drive(addr, &ext_read, connections, 1, EXT_OK);
    drive(addr, &builtin_read, connections, 1, BUILTIN_OK);
    drive(addr, &echo_read, connections, 1, ECHO_OK);

    println!(
        "extensions over loopback HTTP/1.1 keep-alive, {connections} connections, {secs} s per run, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let builtin = drive(addr, &builtin_read, connections, secs, BUILTIN_OK);
    println!("GetSunParametersRequest (built-in)     {builtin:>10.0} req/s   1.00");
    let before = guest_time(addr, &cap, &id);
    let ext = drive(addr, &ext_read, connections, secs, EXT_OK);
    let after = guest_time(addr, &cap, &id);
    println!(
        "Leaderboard GetTopScoresRequest        {ext:>10.0} req/s   {:.2} of built-in (target >= 0.5)",
        ext / builtin
    );
    let echo = drive(addr, &echo_read, connections, secs, ECHO_OK);
    println!(
        "Echo EchoRequest (ext-chaos, no work)  {echo:>10.0} req/s   {:.2} of built-in (the extension path alone)",
        echo / builtin
    );
    println!(
        "wasm time per leaderboard read (CpuMicros / RequestsHandled over the run, host calls excluded): {:.1} µs",
        (after.0 - before.0) / (after.1 - before.1).max(1.0)
    );

    // Latency, one request at a time; the two series interleaved in halves
    // so a change of machine load falls on both.
    let half = samples / 2;
    let mut b = latencies(addr, &builtin_read, half, BUILTIN_OK);
    let mut e = latencies(addr, &ext_read, half, EXT_OK);
    b.extend(latencies(addr, &builtin_read, samples - half, BUILTIN_OK));
    e.extend(latencies(addr, &ext_read, samples - half, EXT_OK));
    b.sort();
    e.sort();
    let base = percentile(&b, 0.5);
    println!(
        "latency, 1 connection, {samples} requests each: built-in p50 {:.1} µs p99 {:.1} µs; extension p50 {:.1} µs p99 {:.1} µs",
        micros(base),
        micros(percentile(&b, 0.99)),
        micros(percentile(&e, 0.5)),
        micros(percentile(&e, 0.99)),
    );
    println!(
        "added by the extension (minus built-in p50): p50 {:.1} µs (target <= 20), p99 {:.1} µs",
        micros(percentile(&e, 0.5)) - micros(base),
        micros(percentile(&e, 0.99)) - micros(base),
    );

    println!(
        "caller lookups an extension request no longer makes (account + estate, cached 1 s): {:.1} µs each time",
        micros(caller_lookup(&store, 2000))
    );

    // Install cached on disk: a second host, fresh data directory with the
    // first one's compiled-code cache only.
    let cache_only = tempfile::tempdir().expect("tmp");
    let from = dir.path().join("script-cache");
    let to = cache_only.path().join("script-cache");
    std::fs::create_dir_all(&to).expect("cache dir");
    for entry in std::fs::read_dir(&from).expect("script-cache") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy cache file");
    }
    runtime.block_on(running.stop());
    let (second, _) = start_host(&runtime, cache_only.path());
    let cap2 = capability(second.http_addr);
    let (disk, _) = install(second.http_addr, &cap2, &component);
    println!(
        "install ext-leaderboard ({} KiB): cold {:.1} ms, again in the same process {:.1} ms, fresh data dir with the disk cache {:.1} ms",
        component.len() * 3 / 4 / 1024,
        cold.as_secs_f64() * 1e3,
        again.as_secs_f64() * 1e3,
        disk.as_secs_f64() * 1e3,
    );
    runtime.block_on(second.stop());
}
