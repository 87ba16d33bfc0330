//! Grid mode figures (docs/performance.md), against a real PostgreSQL started
//! here (dispatcher-pgtest):
//!
//! 1. BulkDynamics updates/s over HTTP on a PostgreSQL-backed region: one
//!    in-process host in grid mode that holds the region's lease, 1,000
//!    objects, batches of 1,000 updates on keep-alive connections.
//! 2. Takeover time after `kill -9`: two real `dispatcher serve` processes
//!    (LeaseSeconds = 2); the owner is killed and the time until the other
//!    one answers for the region is taken, TAKEOVER_RUNS times (default 20);
//!    median and worst.
//!
//! Run: `cargo bench -p dispatcher --bench grid` (or `--profile dev` for a
//! quick figure). Knobs: BENCH_SECONDS (default 3), BENCH_CONNECTIONS
//! (default 4), TAKEOVER_RUNS (default 20).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dispatcher_grid::{Grid, GridConfig, GridMode};
use dispatcher_pgtest::PgServer;
use dispatcher_server::config::HostConfig;
use dispatcher_store::{NewAccount, NewRegion, PgOptions, Store};

const LEASE_SECONDS: u64 = 2;

/// What every reply of the driven request contains.
const SUCCESS: &[u8] = b"\"_Success\":1";

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
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

/// One request and its reply body on a fresh connection.
fn exchange(addr: SocketAddr, body: &[u8]) -> std::io::Result<String> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut writer = stream.try_clone()?;
    writer.write_all(&http_request(body))?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    let mut len = 0usize;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// `request` repeatedly on `connections` keep-alive connections for `secs`; replies/s.
fn drive(addr: SocketAddr, request: Vec<u8>, connections: u64, secs: u64) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let request = Arc::new(request);
    let threads: Vec<_> = (0..connections)
        .map(|_| {
            let (stop, count, request) = (stop.clone(), count.clone(), request.clone());
            std::thread::spawn(move || {
                let stream = TcpStream::connect(addr).expect("connect");
                stream.set_nodelay(true).expect("nodelay");
                let mut writer = stream.try_clone().expect("clone");
                let mut reader = BufReader::new(stream);
                let (mut line, mut body) = (String::new(), Vec::new());
                while !stop.load(Ordering::Relaxed) {
                    writer.write_all(&request).expect("write");
                    let mut len = 0usize;
                    loop {
                        line.clear();
                        reader.read_line(&mut line).expect("read header");
                        if line == "\r\n" || line.is_empty() {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().expect("length");
                        }
                    }
                    body.resize(len, 0);
                    reader.read_exact(&mut body).expect("read body");
                    assert!(
                        body.windows(SUCCESS.len()).any(|w| w == SUCCESS),
                        "unexpected reply {:?}",
                        String::from_utf8_lossy(&body)
                    );
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

fn capability(addr: SocketAddr, region: &str) -> String {
    let create = format!(
        r#"{{"$type":"Dispatcher.Messages.CreateCapabilityRequest","_Scene":"{region}","FirstName":"Bench","LastName":"Owner","HashedPasswd":"5f4dcc3b5aa765d61d8327deb882cf99","DomainList":["RemoteControl"],"LifeSpan":300}}"#
    );
    let reply = exchange(addr, create.as_bytes()).expect("CreateCapability");
    reply
        .split("\"Capability\":\"")
        .nth(1)
        .and_then(|r| r.get(..36))
        .unwrap_or_else(|| panic!("no capability in {reply}"))
        .to_owned()
}

fn seed(url: &str, regions: &[&str]) {
    let store = Store::open_postgres(url, &PgOptions::default()).expect("store");
    let owner = store
        .create_account(&NewAccount {
            first_name: "Bench".into(),
            last_name: "Owner".into(),
            password: "password".into(),
            ..Default::default()
        })
        .expect("account");
    for name in regions {
        store
            .create_region(&NewRegion {
                name: (*name).into(),
                owner: owner.id,
                ..Default::default()
            })
            .expect("region");
    }
}

fn grid_config(url: &str, name: &str, advertise: &str) -> GridConfig {
    GridConfig {
        mode: GridMode::Grid,
        database_url: Some(url.to_owned()),
        host_name: Some(name.to_owned()),
        advertise_url: Some(advertise.to_owned()),
        lease_seconds: LEASE_SECONDS,
        secret: Some("bench-grid-secret-0123456789".into()),
        ..GridConfig::default()
    }
}

fn bulk_dynamics(pg: &PgServer, connections: u64, secs: u64) {
    const BATCH: usize = 1_000;
    let url = pg.fresh_database().expect("database");
    seed(&url, &["Bench"]);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("tmp");
    let mut config = HostConfig {
        http_port: 0,
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    config.dispatcher.udp_port = 0;
    config.grid = grid_config(&url, "bench-a", "http://127.0.0.1:1");
    let grid = runtime.block_on(Grid::connect(&config.grid)).expect("join the grid");
    let store = Arc::new(Store::open_postgres(&url, &PgOptions::default()).expect("store"));
    store.set_grid_host(Some(grid.host_name().to_owned()));
    let running = runtime
        .block_on(dispatcher_server::serve::start_with(&config, store, Some(grid)))
        .expect("start");
    let rc = running.remote_control.as_ref().expect("RemoteControl");
    let deadline = Instant::now() + Duration::from_secs(10);
    let host = loop {
        if let Some(h) = rc.domain.region("Bench") {
            break h;
        }
        assert!(Instant::now() < deadline, "the region was not acquired");
        std::thread::sleep(Duration::from_millis(20));
    };
    let cap = capability(running.http_addr, "Bench");
    let fixture = format!("{}/../scene/tests/fixtures/penrose_assets_region_object.xml", env!("CARGO_MANIFEST_DIR"));
    let limits = dispatcher_scene::SceneLimits::default();
    let template = dispatcher_scene::parse_object(&std::fs::read(fixture).expect("fixture"), &limits).expect("parse");
    let ids: Vec<String> = (0..BATCH)
        .map(|i| {
            let params = dispatcher_scene::RezParams {
                position: dispatcher_scene::Vector3::new(10.0 + (i / 200) as f32, 10.0 + (i % 200) as f32, 25.0),
                ..Default::default()
            };
            let (id, _) = host
                .region
                .write()
                .rez_object(&template, &params, &mut uuid::Uuid::new_v4)
                .expect("rez");
            id.to_string()
        })
        .collect();
    let updates: Vec<serde_json::Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            serde_json::json!({
                "ObjectID": id,
                "Position": [20.0 + (i / 200) as f32, 10.0 + (i % 200) as f32, 30.0],
                "Rotation": [0.0, 0.0, 0.0, 1.0],
            })
        })
        .collect();
    let body = serde_json::to_vec(&serde_json::json!({
        "$type": "RemoteControl.Messages.BulkDynamicsRequest",
        "_domain": "RemoteControl", "_scene": "Bench", "_capability": cap,
        "Updates": updates,
    }))
    .expect("json");
    let rate = drive(running.http_addr, http_request(&body), connections, secs);
    println!(
        "BulkDynamics over HTTP, PostgreSQL-backed region, {BATCH} updates per request, {connections} connections: \
         {:>10.0} updates/s ({rate:.0} requests/s)",
        rate * BATCH as f64
    );
    runtime.block_on(running.stop());
}

/// A `dispatcher serve` process in grid mode.
struct Proc {
    child: Child,
    http: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_host(url: &str, name: &str) -> Proc {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let dir = tempfile::tempdir().expect("tmp");
    let ini = dir.path().join("grid.ini");
    std::fs::write(
        &ini,
        format!(
            "[Grid]\nMode = grid\nDatabaseUrl = {url}\nHostName = {name}\nAdvertiseUrl = http://127.0.0.1:{port}\n\
             Secret = bench-grid-secret-0123456789\nLeaseSeconds = {LEASE_SECONDS}\n"
        ),
    )
    .expect("ini");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dispatcher"))
        .arg("--config")
        .arg(&ini)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--http-port", &port.to_string(), "--udp-port", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn dispatcher");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("readiness line");
    assert!(line.starts_with("dispatcher ready"), "{line}");
    Proc {
        child,
        http: SocketAddr::from(([127, 0, 0, 1], port)),
        _dir: dir,
    }
}

/// Whether `host` answers a region request for `region`.
fn answers(host: &Proc, cap: &str, region: &str) -> bool {
    let body = format!(
        r#"{{"$type":"RemoteControl.Messages.GetTerrainHeightRequest","_domain":"RemoteControl","_scene":"{region}","_capability":"{cap}","X":1,"Y":1}}"#
    );
    exchange(host.http, body.as_bytes()).is_ok_and(|r| r.contains("\"_Success\":1"))
}

fn owner(pg: &PgServer, database: &str) -> Option<String> {
    let out = pg.psql(database, "SELECT host FROM grid_leases WHERE expires > now()").ok()?;
    Some(out).filter(|s| !s.is_empty())
}

fn takeover(pg: &PgServer, runs: u64) {
    let url = pg.fresh_database().expect("database");
    let database = url.rsplit('/').next().expect("name").to_owned();
    seed(&url, &["Bench"]);
    let mut hosts: Vec<(String, Proc)> = vec![("t-0".into(), spawn_host(&url, "t-0")), ("t-1".into(), spawn_host(&url, "t-1"))];
    let mut times = Vec::new();
    for run in 0..runs {
        // Wait for a serving owner.
        let deadline = Instant::now() + Duration::from_secs(20);
        let owner_index = loop {
            if let Some(name) = owner(pg, &database) {
                if let Some(i) = hosts.iter().position(|(n, _)| *n == name) {
                    let cap = capability(hosts[i].1.http, "Bench");
                    if answers(&hosts[i].1, &cap, "Bench") {
                        break i;
                    }
                }
            }
            assert!(Instant::now() < deadline, "no owner serves the region");
            std::thread::sleep(Duration::from_millis(20));
        };
        let survivor = 1 - owner_index;
        let cap = capability(hosts[survivor].1.http, "Bench");
        let (_, mut victim) = hosts.remove(owner_index);
        let killed = Instant::now();
        let _ = victim.child.kill();
        let _ = victim.child.wait();
        let survivor = &hosts[0].1;
        while !answers(survivor, &cap, "Bench") {
            assert!(killed.elapsed() < Duration::from_secs(10 * LEASE_SECONDS), "no takeover");
            std::thread::sleep(Duration::from_millis(10));
        }
        let took = killed.elapsed();
        times.push(took);
        println!("  run {:>2}: takeover in {:>6.0} ms", run + 1, took.as_secs_f64() * 1000.0);
        // A new host takes the killed one's place (a fresh name: the old one's heartbeat is still young).
        let name = format!("t-{}", run + 2);
        hosts.push((name.clone(), spawn_host(&url, &name)));
    }
    times.sort();
    let median = times[times.len() / 2];
    let worst = times[times.len() - 1];
    println!(
        "takeover after kill -9, LeaseSeconds = {LEASE_SECONDS}, {runs} runs: median {:.0} ms, worst {:.0} ms (target <= {} ms)",
        median.as_secs_f64() * 1000.0,
        worst.as_secs_f64() * 1000.0,
        2 * LEASE_SECONDS * 1000
    );
}

fn main() {
    let secs = env_num("BENCH_SECONDS", 3);
    let connections = env_num("BENCH_CONNECTIONS", 4);
    let runs = env_num("TAKEOVER_RUNS", 20).max(1);
    let pg = PgServer::start_new().expect("start PostgreSQL");
    bulk_dynamics(&pg, connections, secs);
    takeover(&pg, runs);
}
