//! Start a real host on free ports in a fresh data directory and talk to it.

#![allow(dead_code, reason = "each test module uses its own part of the harness")]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_dispatcher");

/// The seeded region and identities.
pub const REGION: &str = "Harbor Island";
pub const PASSWORD: &str = "password";
/// MD5 hex of PASSWORD.
pub const PASSWORD_MD5: &str = "5f4dcc3b5aa765d61d8327deb882cf99";
pub const OWNER: (&str, &str) = ("Ada", "Lovelace");
pub const MANAGER: (&str, &str) = ("Bob", "Manager");
pub const VISITOR: (&str, &str) = ("Carol", "Visitor");
pub const GOD: (&str, &str) = ("Grace", "God");

pub struct Host {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    pub http: SocketAddr,
    pub udp: SocketAddr,
    pub dir: tempfile::TempDir,
    agent: ureq::Agent,
    /// Account ids by first name.
    pub ids: std::collections::HashMap<String, String>,
    /// Grid mode (`DISPATCHER_TEST_GRID=1`): the host that owns the seeded
    /// region; this one forwards to it.
    pub grid_owner: Option<Box<Host>>,
}

/// A raw HTTP exchange.
pub struct Exchange {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Exchange {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("reply is not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Run a `dispatcher` command to completion; returns stdout, panics on failure.
pub fn cli(dir: &std::path::Path, args: &[&str]) -> String {
    let mut command = Command::new(BIN);
    let grid_ini = dir.join(GRID_INI);
    if grid_ini.exists() {
        command.arg("--config").arg(grid_ini);
    }
    let out = command.arg("--data-dir").arg(dir).args(args).output().expect("run dispatcher");
    assert!(out.status.success(), "dispatcher {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Create the standard accounts and region in `dir`.
pub fn seed(dir: &std::path::Path) -> std::collections::HashMap<String, String> {
    if grid_mode() {
        grid_prepare(dir);
    }
    seed_here(dir)
}

/// [`seed`] into `dir`'s own SQLite whatever the mode (a host run inside the
/// test process is always standalone).
pub fn seed_here(dir: &std::path::Path) -> std::collections::HashMap<String, String> {
    let mut ids = std::collections::HashMap::new();
    for ((first, last), level, email) in [
        (OWNER, "0", "ada@example.org"),
        (MANAGER, "0", "bob@example.org"),
        (VISITOR, "0", "carol@example.org"),
        (GOD, "250", "grace@example.org"),
    ] {
        let id = cli(
            dir,
            // Inventories are left to each test (REST-27 needs an account without one).
            &[
                "user",
                "create",
                "--first",
                first,
                "--last",
                last,
                "--password",
                PASSWORD,
                "--email",
                email,
                "--level",
                level,
                "--no-inventory",
            ],
        );
        ids.insert(first.to_owned(), id);
    }
    cli(dir, &["region", "create", "--name", REGION, "--owner", "Ada Lovelace", "--manager", "Bob Manager"]);
    ids
}

impl Host {
    /// A host with the standard seed and default configuration.
    pub fn start() -> Host {
        Host::start_with("")
    }

    /// A host with extra INI text appended to a `[Dispatcher]` section start.
    pub fn start_with(ini: &str) -> Host {
        let dir = tempfile::tempdir().expect("tempdir");
        let ids = seed(dir.path());
        Host::launch(dir, ids, ini)
    }

    /// Start `serve` on an existing data dir.
    pub fn launch(dir: tempfile::TempDir, ids: std::collections::HashMap<String, String>, ini: &str) -> Host {
        Host::launch_env(dir, ids, ini, &[])
    }

    /// Start `serve` on an existing data dir with extra environment variables
    /// (e.g. `TOKIO_WORKER_THREADS`, which pins the runtime's worker threads).
    pub fn launch_env(dir: tempfile::TempDir, ids: std::collections::HashMap<String, String>, ini: &str, env: &[(&str, &str)]) -> Host {
        if let Some(url) = grid_url(dir.path()) {
            return Host::launch_grid(dir, ids, ini, env, &url);
        }
        Host::spawn(dir, ids, ini, env, &["--http-port", "0", "--udp-port", "0"])
    }

    /// Grid mode: an owner host for the seeded region (its own data
    /// directory), then this host in `dir`, which does not own it and
    /// forwards; both with `ini` and a `[Grid]` section on `url`.
    fn launch_grid(
        dir: tempfile::TempDir,
        ids: std::collections::HashMap<String, String>,
        ini: &str,
        env: &[(&str, &str)],
        url: &str,
    ) -> Host {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (owner_name, other_name) = (format!("sim-a{n}"), format!("sim-b{n}"));
        let owner = Host::spawn_on_free_port(tempfile::tempdir().expect("tempdir"), ids.clone(), env, |port| {
            format!("{ini}\n{}PreferredRegions = {REGION}\n", grid_section(url, &owner_name, port))
        });
        let (pg, database) = grid_database(url);
        let held = || {
            pg.psql(
                &database,
                &format!(
                    "SELECT count(*) FROM grid_leases l JOIN regions r ON l.region_id = r.id::text \
                     WHERE r.name = '{REGION}' AND l.host = '{owner_name}' AND l.expires > now()"
                ),
            )
            .is_ok_and(|n| n.trim() == "1")
        };
        assert!(eventually(Duration::from_secs(20), held), "{owner_name} never took {REGION}");
        let mut host = Host::spawn_on_free_port(dir, ids, env, |port| format!("{ini}\n{}", grid_section(url, &other_name, port)));
        host.grid_owner = Some(Box::new(owner));
        host
    }

    /// A grid host advertises its own HTTP port, so the port is chosen
    /// before it starts: another test may bind the same free port first, and
    /// then the host exits at once; it is started again on another port.
    fn spawn_on_free_port(
        mut dir: tempfile::TempDir,
        ids: std::collections::HashMap<String, String>,
        env: &[(&str, &str)],
        ini_for: impl Fn(u16) -> String,
    ) -> Host {
        for _ in 0..4 {
            let port = free_port();
            match Host::try_spawn(dir, ids.clone(), &ini_for(port), env, &["--http-port", &port.to_string(), "--udp-port", "0"]) {
                Ok(host) => return host,
                Err(back) => dir = back,
            }
        }
        panic!("a grid host did not start on any of 4 free ports");
    }

    fn spawn(
        dir: tempfile::TempDir,
        ids: std::collections::HashMap<String, String>,
        ini: &str,
        env: &[(&str, &str)],
        serve_args: &[&str],
    ) -> Host {
        match Host::try_spawn(dir, ids, ini, env, serve_args) {
            Ok(host) => host,
            Err(_) => panic!("readiness line within 20 s: the host exited or was silent"),
        }
    }

    /// Start a host; when it prints no readiness line within 20 s (it exited,
    /// e.g. its port was taken), stop it and give the directory back.
    fn try_spawn(
        dir: tempfile::TempDir,
        ids: std::collections::HashMap<String, String>,
        ini: &str,
        env: &[(&str, &str)],
        serve_args: &[&str],
    ) -> Result<Host, tempfile::TempDir> {
        let config = dir.path().join("dispatcher.ini");
        std::fs::write(&config, ini).expect("write config");
        let mut child = Command::new(BIN)
            .envs(env.iter().copied())
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.path())
            .arg("serve")
            .args(serve_args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn dispatcher serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let Ok(ready) = lines.recv_timeout(Duration::from_secs(20)) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(dir);
        };
        let (http, udp) = parse_ready(&ready);
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        Ok(Host {
            stdin: child.stdin.take(),
            child,
            lines,
            http,
            udp,
            dir,
            agent,
            ids,
            grid_owner: None,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.http, path)
    }

    /// POST raw bytes with a Content-Type (None: no header).
    pub fn post(&self, path: &str, content_type: Option<&str>, body: &[u8]) -> Exchange {
        let mut req = self.agent.post(&self.url(path));
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        let mut resp = req.send(body).expect("HTTP exchange");
        exchange(&mut resp)
    }

    pub fn get(&self, path: &str) -> Exchange {
        let mut resp = self.agent.get(&self.url(path)).call().expect("HTTP exchange");
        exchange(&mut resp)
    }

    /// POST a JSON request to /Dispatcher/ and parse the JSON reply.
    pub fn call(&self, request: &Value) -> Value {
        let ex = self.post("/Dispatcher/", Some("application/json"), request.to_string().as_bytes());
        assert_eq!(ex.status, 200, "status for {request}: {}", ex.text());
        assert_eq!(ex.content_type, "application/json");
        ex.json()
    }

    /// POST a BSON request (built with the `bson` crate) and decode the reply.
    pub fn call_bson(&self, request: &bson::Document) -> bson::Document {
        let mut bytes = Vec::new();
        request.to_writer(&mut bytes).expect("bson");
        let ex = self.post("/Dispatcher/", Some("application/bson"), &bytes);
        assert_eq!(ex.status, 200);
        assert_eq!(ex.content_type, "application/bson");
        bson::Document::from_reader(&mut ex.body.as_slice()).expect("BSON reply")
    }

    /// CreateCapabilityRequest for an identity; returns the whole reply.
    pub fn create_capability(&self, who: (&str, &str), domains: &[&str], lifespan: i64) -> Value {
        self.call(&json!({
            "$type": "Dispatcher.Messages.CreateCapabilityRequest",
            "_domain": "Dispatcher",
            "_scene": REGION,
            "firstname": who.0,
            "lastname": who.1,
            "hashedpasswd": PASSWORD_MD5,
            "lifespan": lifespan,
            "domainlist": domains,
        }))
    }

    /// A capability for the estate owner with the given domains.
    pub fn capability(&self, domains: &[&str]) -> String {
        let reply = self.create_capability(OWNER, domains, 300);
        assert_eq!(reply["_Success"], 1, "{reply}");
        reply["Capability"].as_str().expect("Capability").to_owned()
    }

    /// Send one console command and collect its output lines until `until`
    /// matches a line (or 5 s pass).
    pub fn console(&mut self, command: &str, until: impl Fn(&str) -> bool) -> Vec<String> {
        let stdin = self.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{command}").expect("write console");
        stdin.flush().expect("flush");
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let done = until(&line);
                    out.push(line);
                    if done {
                        return out;
                    }
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => return out,
            }
        }
    }

    /// Send one UDP datagram to the request port.
    pub fn send_udp(&self, payload: &[u8]) {
        let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
        s.send_to(payload, self.udp).expect("send");
    }

    /// Stop with SIGTERM and wait; returns the exit code.
    pub fn stop(mut self) -> (Option<i32>, tempfile::TempDir) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let status = wait_timeout(&mut self.child, Duration::from_secs(15));
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tmp"));
        (status, dir)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9` the host and wait until the process is gone (its sockets
    /// closed), so what follows cannot race the process's teardown.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_timeout(child: &mut Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn exchange(resp: &mut ureq::http::Response<ureq::Body>) -> Exchange {
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = resp.body_mut().read_to_vec().unwrap_or_default();
    Exchange {
        status,
        content_type,
        body,
    }
}

/// Parse `dispatcher ready http=A udp=B`.
pub fn parse_ready(line: &str) -> (SocketAddr, SocketAddr) {
    let rest = line
        .strip_prefix("dispatcher ready http=")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let (http, udp) = rest.split_once(" udp=").expect("udp part");
    (http.parse().expect("http addr"), udp.parse().expect("udp addr"))
}

/// A UDP socket to receive callbacks on.
pub fn callback_socket() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    s
}

/// Wait until `f` is true or `limit` passes.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    f()
}

// ---------------------------------------------------------------------------
// Helpers for the conformance rows (core.rs). Added functions only.

impl Host {
    /// Start `serve` on an existing data dir with `serve_args` instead of the
    /// usual `--http-port 0 --udp-port 0`; `Err` carries the host's stderr when it
    /// exits before printing its readiness line.
    pub fn try_launch_args(
        dir: tempfile::TempDir,
        ids: std::collections::HashMap<String, String>,
        ini: &str,
        serve_args: &[&str],
    ) -> Result<Host, String> {
        let config = dir.path().join("dispatcher.ini");
        std::fs::write(&config, ini).expect("write config");
        let stderr_path = dir.path().join("serve.stderr");
        let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
        let mut child = Command::new(BIN)
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.path())
            .arg("serve")
            .args(serve_args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn dispatcher serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let Ok(ready) = lines.recv_timeout(Duration::from_secs(20)) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::fs::read_to_string(&stderr_path).unwrap_or_default());
        };
        let (http, udp) = parse_ready(&ready);
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        Ok(Host {
            stdin: child.stdin.take(),
            child,
            lines,
            http,
            udp,
            dir,
            agent,
            ids,
            grid_owner: None,
        })
    }

    /// POST a JSON value to `path` and parse the JSON reply (status must be 200).
    pub fn call_at(&self, path: &str, request: &Value) -> Value {
        let ex = self.post(path, Some("application/json"), request.to_string().as_bytes());
        assert_eq!(ex.status, 200, "status for {request} at {path}: {}", ex.text());
        assert_eq!(ex.content_type, "application/json");
        ex.json()
    }

    /// POST raw JSON text (member order and duplicates kept) to /Dispatcher/.
    pub fn call_text(&self, text: &str) -> Value {
        let ex = self.post("/Dispatcher/", Some("application/json"), text.as_bytes());
        assert_eq!(ex.status, 200, "status for {text}: {}", ex.text());
        assert_eq!(ex.content_type, "application/json");
        ex.json()
    }

    /// Run one console command and return its whole output. A `help` command is
    /// sent after it as an end marker, because most commands print no last line.
    pub fn console_all(&mut self, command: &str) -> Vec<String> {
        const MARK: &str = "dispatcher binding | dispatcher stats";
        let mut out = self.console(&format!("{command}\nhelp"), |l| l.starts_with(MARK));
        assert!(
            out.last().is_some_and(|l| l.starts_with(MARK)),
            "console output for {command:?} did not end: {out:?}"
        );
        out.pop();
        out
    }

    /// One raw HTTP/1.1 exchange over a fresh TCP connection (the request is sent
    /// as given; `Connection: close` is expected in it). Returns the whole response.
    pub fn raw_http(&self, request: &[u8]) -> String {
        use std::io::Read;
        let mut s = std::net::TcpStream::connect(self.http).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        s.write_all(request).expect("send");
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// A host run inside the test process on real sockets, for rows whose effect
/// can only be triggered from inside (callbacks, close notifications). Its
/// dispatcher is the same code the binary wires up, through `serve::start`.
pub struct InProcessHost {
    pub running: Option<dispatcher_server::serve::Running>,
    pub runtime: tokio::runtime::Runtime,
    pub http: SocketAddr,
    pub udp: SocketAddr,
    pub dir: tempfile::TempDir,
    pub ids: std::collections::HashMap<String, String>,
    agent: ureq::Agent,
}

impl InProcessHost {
    /// A seeded host; `tweak` adjusts the configuration before it starts.
    pub fn start(tweak: impl FnOnce(&mut dispatcher_server::config::HostConfig)) -> InProcessHost {
        let dir = tempfile::tempdir().expect("tempdir");
        let ids = seed_here(dir.path());
        let mut config = dispatcher_server::config::HostConfig {
            http_port: 0,
            data_dir: dir.path().to_path_buf(),
            ..Default::default()
        };
        config.dispatcher.udp_port = 0;
        tweak(&mut config);
        let store = std::sync::Arc::new(dispatcher_store::Store::open(dir.path()).expect("open store"));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let running = runtime
            .block_on(dispatcher_server::serve::start(&config, store))
            .expect("start host");
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        InProcessHost {
            http: running.http_addr,
            udp: running.udp_addr,
            running: Some(running),
            runtime,
            dir,
            ids,
            agent,
        }
    }

    pub fn dispatcher(&self) -> &dispatcher_dispatch::Dispatcher {
        &self.running.as_ref().expect("running").dispatcher
    }

    /// POST a JSON request to /Dispatcher/ and parse the JSON reply.
    pub fn call(&self, request: &Value) -> Value {
        let mut resp = self
            .agent
            .post(&format!("http://{}/Dispatcher/", self.http))
            .header("Content-Type", "application/json")
            .send(request.to_string().as_bytes())
            .expect("HTTP exchange");
        let ex = exchange(&mut resp);
        assert_eq!(ex.status, 200, "{}", ex.text());
        ex.json()
    }

    /// A capability for the estate owner with the given domains.
    pub fn capability(&self, domains: &[&str]) -> String {
        let reply = self.call(&json!({
            "$type": "Dispatcher.Messages.CreateCapabilityRequest",
            "_domain": "Dispatcher",
            "_scene": REGION,
            "firstname": OWNER.0,
            "lastname": OWNER.1,
            "hashedpasswd": PASSWORD_MD5,
            "domainlist": domains,
        }));
        assert_eq!(reply["_Success"], 1, "{reply}");
        reply["Capability"].as_str().expect("Capability").to_owned()
    }
}

impl Drop for InProcessHost {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            self.runtime.block_on(running.stop());
        }
    }
}

// ---------------------------------------------------------------------------
// The grid switch (docs/grid.md, "Tests"): with `DISPATCHER_TEST_GRID=1`, a
// test that seeds a data directory and launches a host (`seed`, then
// `Host::launch*`, as `Host::start` does) runs against a grid of two hosts on
// a real PostgreSQL (one shared server, a fresh database per seed): the
// seeded data goes to the grid's database (the CLI reads `grid.ini` in the
// directory), an owner host takes the seeded region, and the test talks to
// the other host, which forwards. `open_store` opens the same database.

/// The CLI's grid configuration in a seeded directory (grid mode only).
pub const GRID_INI: &str = "grid.ini";
/// The secret every test grid shares.
pub const GRID_SECRET: &str = "grid-test-secret-0123456789";

/// Whether `DISPATCHER_TEST_GRID=1` is set.
pub fn grid_mode() -> bool {
    std::env::var("DISPATCHER_TEST_GRID").is_ok_and(|v| v == "1")
}

/// A `[Grid]` section for host `name` reachable on loopback `port`.
pub fn grid_section(url: &str, name: &str, port: u16) -> String {
    format!(
        "[Grid]\nMode = grid\nDatabaseUrl = {url}\nHostName = {name}\nAdvertiseUrl = http://127.0.0.1:{port}\n\
         Secret = {GRID_SECRET}\nLeaseSeconds = 3\n"
    )
}

/// A free loopback TCP port (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Give `dir` a fresh grid database and the CLI's `grid.ini` for it.
fn grid_prepare(dir: &std::path::Path) {
    let pg = dispatcher_pgtest::PgServer::shared().expect("start PostgreSQL");
    let url = pg.fresh_database().expect("fresh database");
    std::fs::write(dir.join(GRID_INI), grid_section(&url, "cli", 1)).expect("write grid.ini");
}

/// The grid database of a seeded directory, when it has one.
pub fn grid_url(dir: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(GRID_INI)).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("DatabaseUrl = "))
        .map(|u| u.trim().to_owned())
}

fn grid_database(url: &str) -> (&'static dispatcher_pgtest::PgServer, String) {
    let pg = dispatcher_pgtest::PgServer::shared().expect("PostgreSQL");
    let database = url.rsplit('/').next().expect("database name").to_owned();
    (pg, database)
}

/// The store a seeded directory's hosts use: its SQLite, or the grid's
/// PostgreSQL in grid mode.
pub fn open_store(dir: &std::path::Path) -> dispatcher_store::Store {
    match grid_url(dir) {
        Some(url) => dispatcher_store::Store::open_postgres(&url, &dispatcher_store::PgOptions::default()).expect("grid store"),
        None => dispatcher_store::Store::open(dir).expect("store"),
    }
}
