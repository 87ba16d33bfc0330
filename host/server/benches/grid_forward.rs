//! Grid forwarding (issue 16): authenticated requests/s through a host that
//! does not own the region (forwarded on the grid link to the owner) against
//! the owner directly, in the same run, against the real binary: a real
//! PostgreSQL (dispatcher-pgtest), two `dispatcher serve` hosts in grid mode
//! on loopback, `GetSunParametersRequest` (a read, authenticated by a
//! capability) over keep-alive connections from `BENCH_CLIENTS` threads (a
//! comma-separated list of series, default `4,32`), each series in
//! `BENCH_ROUNDS` (default 5) alternating rounds of
//! `BENCH_SECONDS` (default 3) against the owner, then the non-owner; prints
//! each round, the medians, the load average and the CPU time each host
//! spends per forwarded request. Target: ratio ≥ 0.6.
//!
//! Run: `cargo bench -p dispatcher --bench grid_forward` (prints figures).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dispatcher_pgtest::PgServer;
use serde_json::{json, Value};

const BUILT: &str = env!("CARGO_BIN_EXE_dispatcher");

/// The host binary: the one built with the bench, or `BENCH_DISPATCHER` (to
/// measure another build, e.g. the one before a change, in the same session).
fn bin() -> String {
    std::env::var("BENCH_DISPATCHER").unwrap_or_else(|_| BUILT.to_owned())
}
const REGION: &str = "Bench";
const SECRET: &str = "bench-grid-secret-0123456789";

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn ini(url: &str, name: &str, port: u16, extra: &str) -> String {
    format!(
        "[Grid]\nMode = grid\nDatabaseUrl = {url}\nHostName = {name}\nAdvertiseUrl = http://127.0.0.1:{port}\n\
         Secret = {SECRET}\nLeaseSeconds = 5\n{extra}"
    )
}

fn cli(config: &std::path::Path, dir: &std::path::Path, args: &[&str]) {
    let out = Command::new(bin())
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("run dispatcher");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

struct Host {
    child: Child,
    http: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(url: &str, name: &str, extra: &str) -> Host {
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let config = dir.path().join("grid.ini");
    std::fs::write(&config, ini(url, name, port, extra)).expect("ini");
    let mut child = Command::new(bin())
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--http-port", &port.to_string(), "--udp-port", "0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("readiness line");
    let http = line
        .trim()
        .strip_prefix("dispatcher ready http=")
        .and_then(|r| r.split(' ').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    Host { child, http, _dir: dir }
}

fn call(agent: &ureq::Agent, http: SocketAddr, body: &Value) -> Value {
    let mut resp = agent
        .post(format!("http://{http}/Dispatcher/"))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .expect("exchange");
    serde_json::from_slice(&resp.body_mut().read_to_vec().expect("body")).expect("json")
}

/// Requests/s of `body` against `http` from `clients` threads for `seconds`.
fn rate(http: SocketAddr, body: &Value, clients: usize, seconds: usize) -> f64 {
    let done = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (done, count, body) = (done.clone(), count.clone(), body.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
                while !done.load(Ordering::Relaxed) {
                    let reply = call(&agent, http, &body);
                    assert_eq!(reply["_Success"], 1, "{reply}");
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds as u64));
    done.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("client thread");
    }
    count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    // One series per client count: 4 connections are latency-bound (each
    // waits for its reply: the rate is 4 / round trip), 32 keep both hosts
    // busy (the rate is what their CPU allows).
    let series: Vec<usize> = std::env::var("BENCH_CLIENTS")
        .unwrap_or_else(|_| "4,32".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .filter(|&n| n > 0)
        .collect();
    let seconds = env_or("BENCH_SECONDS", 3);
    let rounds = env_or("BENCH_ROUNDS", 5).max(1);
    let pg = PgServer::start_new().expect("PostgreSQL");
    let url = pg.url();
    let seed = tempfile::tempdir().expect("tmp");
    let seed_ini = seed.path().join("grid.ini");
    std::fs::write(&seed_ini, ini(&url, "cli", 1, "")).expect("ini");
    cli(
        &seed_ini,
        seed.path(),
        &["user", "create", "--first", "Ada", "--last", "Lovelace", "--password", "password"],
    );
    cli(&seed_ini, seed.path(), &["region", "create", "--name", REGION, "--owner", "Ada Lovelace"]);
    let owner = start(&url, "sim-a", &format!("PreferredRegions = {REGION}\n"));
    std::thread::sleep(Duration::from_secs(2));
    let other = start(&url, "sim-b", "");
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let cap = call(
        &agent,
        other.http,
        &json!({
            "$type": "Dispatcher.Messages.CreateCapabilityRequest", "_domain": "Dispatcher", "_scene": REGION,
            "firstname": "Ada", "lastname": "Lovelace", "hashedpasswd": "5f4dcc3b5aa765d61d8327deb882cf99",
            "lifespan": 3600, "domainlist": ["RemoteControl"],
        }),
    );
    let cap = cap["Capability"].as_str().expect("capability").to_owned();
    let body = json!({
        "$type": "RemoteControl.Messages.GetSunParametersRequest", "_domain": "RemoteControl", "_scene": REGION, "_capability": cap,
    });
    // Wait until the non-owner forwards (its owner cache is filled).
    let deadline = Instant::now() + Duration::from_secs(20);
    while call(&agent, other.http, &body)["_Success"] != 1 {
        assert!(Instant::now() < deadline, "sim-b never forwarded to sim-a");
        std::thread::sleep(Duration::from_millis(200));
    }
    println!("  host binary: {}", bin());
    println!("  sim-a (owner) pid {}, sim-b (non-owner) pid {}", owner.child.id(), other.child.id());
    for &clients in &series {
        series_of_rounds(&owner, &other, &body, clients, seconds, rounds);
    }
}

/// Warm both hosts, then alternate rounds (owner, non-owner, owner, ...) so
/// that one noisy interval (another process taking the CPU) does not decide;
/// the figures are the medians of the rounds.
fn series_of_rounds(owner: &Host, other: &Host, body: &Value, clients: usize, seconds: usize, rounds: usize) {
    rate(owner.http, body, clients, 1);
    rate(other.http, body, clients, 1);
    println!("grid forwarding: {clients} clients, {rounds} alternating rounds of {seconds} s, GetSunParametersRequest (authenticated)");
    println!("  load average before: {}", load_average());
    let (mut direct, mut forwarded, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let (mut owner_cpu, mut fwd_cpu, mut direct_cpu) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        let cpu_0 = cpu_seconds(owner.child.id());
        let d = rate(owner.http, body, clients, seconds);
        let cpu_b = (cpu_seconds(owner.child.id()), cpu_seconds(other.child.id()));
        let f = rate(other.http, body, clients, seconds);
        let cpu_a = (cpu_seconds(owner.child.id()), cpu_seconds(other.child.id()));
        // CPU time each host spent per forwarded request in the non-owner round.
        let per = |before: Option<f64>, after: Option<f64>, rate: f64| match (before, after) {
            (Some(b), Some(a)) => (a - b) * 1e6 / (rate * seconds as f64),
            _ => f64::NAN,
        };
        let direct_us = per(cpu_0, cpu_b.0, d);
        let (a_us, b_us) = (per(cpu_b.0, cpu_a.0, f), per(cpu_b.1, cpu_a.1, f));
        println!(
            "  round {round}: owner {d:>7.0}/s ({direct_us:.0} us CPU each), non-owner {f:>7.0}/s, ratio {:.2}; CPU per forwarded request: owner {a_us:.0} us, non-owner {b_us:.0} us",
            f / d
        );
        direct_cpu.push(direct_us);
        direct.push(d);
        forwarded.push(f);
        ratios.push(f / d);
        owner_cpu.push(a_us);
        fwd_cpu.push(b_us);
    }
    println!("  load average after:  {}", load_average());
    println!("  owner directly:        {:>10.0} requests/s (median)", median(&mut direct));
    println!("  through the non-owner: {:>10.0} requests/s (median)", median(&mut forwarded));
    println!(
        "  ratio:                 {:>10.2} (median of the rounds' ratios; target >= 0.6)",
        median(&mut ratios)
    );
    println!("  CPU per direct request (median): owner {:.0} us", median(&mut direct_cpu));
    println!(
        "  CPU per forwarded request (median): owner {:.0} us, non-owner {:.0} us",
        median(&mut owner_cpu),
        median(&mut fwd_cpu)
    );
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// The machine's load average (1, 5, 15 min), as /proc/loadavg gives it.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// User + system CPU seconds of process `pid` (/proc/<pid>/stat, clock ticks
/// of 1/100 s on Linux).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}
