//! Grid mode (docs/grid.md, spec grid.md §3) against real processes: a real
//! PostgreSQL (dispatcher-pgtest, a fresh database per test) and several
//! `dispatcher serve` hosts on loopback with a short lease. Requests go to a
//! region's owner, found in the grid's tables.

use std::process::Command;
use std::time::{Duration, Instant};

use dispatcher_pgtest::PgServer;
use serde_json::{json, Value};

use crate::scripting::{base64, box_asset, guest, log_text, make_object, ok, rc, request, upload_ok, wait_log, DOMAINS};
use crate::support::*;

/// Short leases keep the takeover tests quick.
pub const LEASE_SECONDS: u64 = 3;

/// A grid: its database, a configuration for the CLI, the seeded accounts.
pub struct GridTest {
    pub pg: &'static PgServer,
    pub url: String,
    pub database: String,
    /// Holds the CLI's configuration.
    pub dir: tempfile::TempDir,
    pub ids: std::collections::HashMap<String, String>,
}

/// A free loopback TCP port (bound and released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

pub fn grid_ini(url: &str, name: &str, advertise: &str, lease: u64) -> String {
    format!(
        "[Grid]\nMode = grid\nDatabaseUrl = {url}\nHostName = {name}\nAdvertiseUrl = {advertise}\n\
         Secret = grid-test-secret-0123456789\nLeaseSeconds = {lease}\n"
    )
}

impl GridTest {
    /// A fresh database with the standard accounts and `regions` (the first
    /// is [`REGION`]); `None` leaves it empty (a first run).
    pub fn new(regions: Option<&[&str]>) -> GridTest {
        let pg = PgServer::shared().expect("start PostgreSQL");
        let url = pg.fresh_database().expect("fresh database");
        let database = url.rsplit('/').next().expect("database name").to_owned();
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("grid.ini"), grid_ini(&url, "cli", "http://127.0.0.1:1", LEASE_SECONDS)).expect("ini");
        let mut grid = GridTest {
            pg,
            url,
            database,
            dir,
            ids: Default::default(),
        };
        if let Some(regions) = regions {
            for ((first, last), level) in [(OWNER, "0"), (MANAGER, "0"), (VISITOR, "0"), (GOD, "250")] {
                let id = grid.cli(&["user", "create", "--first", first, "--last", last, "--password", PASSWORD, "--level", level]);
                grid.ids.insert(first.to_owned(), id);
            }
            for name in regions {
                grid.cli(&["region", "create", "--name", name, "--owner", "Ada Lovelace", "--manager", "Bob Manager"]);
            }
        }
        grid
    }

    /// Run `dispatcher --config grid.ini ARGS` (the store on the grid's
    /// PostgreSQL); stdout, panics on failure.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(BIN)
            .arg("--config")
            .arg(self.dir.path().join("grid.ini"))
            .arg("--data-dir")
            .arg(self.dir.path())
            .args(args)
            .output()
            .expect("run dispatcher");
        assert!(out.status.success(), "dispatcher {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Start host `name` with `LeaseSeconds = lease`; `Err` carries its stderr.
    pub fn try_host(&self, name: &str, lease: u64, extra_ini: &str) -> Result<Host, String> {
        let port = free_port();
        let ini = format!("{}{extra_ini}", grid_ini(&self.url, name, &format!("http://127.0.0.1:{port}"), lease));
        Host::try_launch_args(
            tempfile::tempdir().expect("tmp"),
            self.ids.clone(),
            &ini,
            &["--http-port", &port.to_string(), "--udp-port", "0"],
        )
    }

    pub fn host(&self, name: &str) -> Host {
        self.try_host(name, LEASE_SECONDS, "")
            .unwrap_or_else(|e| panic!("host {name} did not start: {e}"))
    }

    /// One SQL query's text output.
    pub fn sql(&self, query: &str) -> String {
        self.pg.psql(&self.database, query).expect("psql")
    }

    /// The host holding a live lease on `region` now.
    pub fn owner(&self, region: &str) -> Option<String> {
        let out = self.sql(&format!(
            "SELECT l.host FROM grid_leases l JOIN regions r ON l.region_id = r.id::text \
             WHERE r.name = '{region}' AND l.expires > now()"
        ));
        Some(out).filter(|s| !s.is_empty())
    }

    /// The lease epoch of `region`.
    pub fn epoch(&self, region: &str) -> i64 {
        self.sql(&format!(
            "SELECT l.epoch FROM grid_leases l JOIN regions r ON l.region_id = r.id::text WHERE r.name = '{region}'"
        ))
        .parse()
        .unwrap_or(0)
    }
}

/// A request to `region`'s RemoteControl domain.
fn rc_in(host: &Host, cap: &str, region: &str, kind: &str, extra: Value) -> Value {
    let mut v = json!({
        "$type": format!("RemoteControl.Messages.{kind}"),
        "_domain": "RemoteControl",
        "_scene": region,
        "_capability": cap,
    });
    if let (Some(obj), Value::Object(more)) = (v.as_object_mut(), extra) {
        obj.extend(more);
    }
    host.call(&v)
}

/// A capability of the estate owner for `region` (capabilities name their scene).
fn cap_in(host: &Host, region: &str) -> Option<String> {
    let reply = host.call(&json!({
        "$type": "Dispatcher.Messages.CreateCapabilityRequest",
        "_domain": "Dispatcher",
        "_scene": region,
        "firstname": OWNER.0,
        "lastname": OWNER.1,
        "hashedpasswd": PASSWORD_MD5,
        "lifespan": 300,
        "domainlist": DOMAINS,
    }));
    reply["Capability"].as_str().map(str::to_owned)
}

/// The owner's host, once it answers for `region` (its name among `hosts`).
fn serving<'a>(grid: &GridTest, hosts: &'a [(&str, &Host)], region: &str, limit: Duration) -> Option<(&'a str, &'a Host)> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(owner) = grid.owner(region) {
            if let Some((name, host)) = hosts.iter().find(|(n, _)| *n == owner) {
                let answered = cap_in(host, region)
                    .is_some_and(|cap| rc_in(host, &cap, region, "GetTerrainHeightRequest", json!({"X": 1, "Y": 1}))["_Success"] == 1);
                if answered {
                    return Some((name, host));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

fn kill(host: &Host, signal: &str) {
    let status = Command::new("kill").arg(signal).arg(host.pid().to_string()).status().expect("kill");
    assert!(status.success());
}

/// Rez a box in `region`; the new object's id, or the failure reply.
fn create_in(host: &Host, cap: &str, region: &str, asset: &Value, name: &str) -> Result<String, Value> {
    let reply = rc_in(
        host,
        cap,
        region,
        "CreateObjectRequest",
        json!({"AssetID": asset, "Position": [10.0, 10.0, 25.0], "Name": name}),
    );
    match reply["ObjectID"].as_str() {
        Some(id) if reply["_Success"] == 1 => Ok(id.to_owned()),
        _ => Err(reply),
    }
}

fn add_box_asset(host: &Host, cap: &str, region: &str) -> Value {
    let asset = ok(rc_in(
        host,
        cap,
        region,
        "AddAssetRequest",
        json!({ "Asset": {
            "AssetID": "00000000-0000-0000-0000-000000000000",
            "SerializedAsset": base64(&box_asset()),
            "Name": "box", "Description": "", "ContentType": "application/vnd.ll.primitive", "CreatorID": "",
        }}),
    ));
    asset["AssetID"].clone()
}

fn exists(host: &Host, cap: &str, region: &str, object: &str) -> bool {
    rc_in(host, cap, region, "GetObjectPositionRequest", json!({"ObjectID": object}))["_Success"] == 1
}

fn position_in(host: &Host, cap: &str, region: &str, object: &str) -> Value {
    ok(rc_in(host, cap, region, "GetObjectPositionRequest", json!({"ObjectID": object})))["Position"].clone()
}

#[test]
fn grid_three_hosts_own_every_region_exactly_once() {
    let regions = [REGION, "North Bay", "South Bay", "East Ridge", "West Ridge"];
    let grid = GridTest::new(Some(&regions));
    let (a, b, c) = (grid.host("sim-a"), grid.host("sim-b"), grid.host("sim-c"));
    let hosts = [("sim-a", &a), ("sim-b", &b), ("sim-c", &c)];
    for region in regions {
        let (owner, _) = serving(&grid, &hosts, region, Duration::from_secs(10)).unwrap_or_else(|| panic!("{region} is served"));
        let live = grid.sql(&format!(
            "SELECT count(*) FROM grid_leases l JOIN regions r ON l.region_id = r.id::text \
             WHERE r.name = '{region}' AND l.expires > now()"
        ));
        assert_eq!(live, "1", "{region}: one live lease");
        assert!(hosts.iter().any(|(n, _)| *n == owner));
    }
    let status = grid.cli(&["grid", "status"]);
    for name in ["sim-a", "sim-b", "sim-c"] {
        assert!(status.contains(name), "{status}");
    }
    // `region create` while the hosts run: one of them claims the new region.
    grid.cli(&["region", "create", "--name", "Late Island", "--owner", "Ada Lovelace"]);
    assert!(
        serving(&grid, &hosts, "Late Island", Duration::from_secs(10)).is_some(),
        "a new region gets an owner"
    );
    let listed = grid.cli(&["region", "list"]);
    assert!(listed.contains("Late Island") && listed.contains(REGION), "{listed}");
}

#[test]
fn grid_first_run_seeds_one_region_however_many_hosts_start_together() {
    let grid = GridTest::new(None);
    let grid_ref = &grid;
    let hosts: Vec<Host> = std::thread::scope(|s| {
        let starts: Vec<_> = ["sim-a", "sim-b"].into_iter().map(|n| s.spawn(move || grid_ref.host(n))).collect();
        starts.into_iter().map(|h| h.join().expect("host started")).collect()
    });
    let regions = grid.cli(&["region", "list"]);
    assert_eq!(regions.lines().filter(|l| l.contains("Test Region")).count(), 1, "{regions}");
    let users = grid.cli(&["user", "list"]);
    assert_eq!(users.lines().count(), 1, "{users}");
    drop(hosts);
}

#[test]
fn grid_kill_9_of_an_owner_loses_no_acknowledged_write() {
    let grid = GridTest::new(Some(&[REGION]));
    let (a, b, c) = (grid.host("sim-a"), grid.host("sim-b"), grid.host("sim-c"));
    let hosts = [("sim-a", &a), ("sim-b", &b), ("sim-c", &c)];
    let (owner, host) = serving(&grid, &hosts, REGION, Duration::from_secs(10)).expect("served");
    let cap = host.capability(&DOMAINS);
    let asset = add_box_asset(host, &cap, REGION);
    // A stream of acknowledged creations; the owner dies in the middle of it.
    let addr = host.http;
    let acknowledged = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
            let mut acked = Vec::new();
            for n in 0.. {
                let request = json!({
                    "$type": "RemoteControl.Messages.CreateObjectRequest",
                    "_domain": "RemoteControl", "_scene": REGION, "_capability": cap,
                    "AssetID": asset, "Position": [10.0, 10.0, 25.0], "Name": format!("stream {n}"),
                });
                // A request cut by the kill is not acknowledged.
                let post = agent
                    .post(format!("http://{addr}/Dispatcher/"))
                    .header("Content-Type", "application/json");
                let Ok(text) = post
                    .send(request.to_string().as_bytes())
                    .and_then(|mut r| r.body_mut().read_to_string())
                else {
                    break;
                };
                let Ok(reply) = serde_json::from_str::<Value>(&text) else { break };
                match reply["ObjectID"].as_str() {
                    Some(id) if reply["_Success"] == 1 => acked.push(id.to_owned()),
                    _ => {
                        eprintln!("the stream ended with {reply}");
                        break;
                    }
                }
            }
            acked
        });
        std::thread::sleep(Duration::from_millis(1500));
        kill(host, "-KILL");
        writer.join().expect("writer")
    });
    let killed = Instant::now();
    assert!(acknowledged.len() > 5, "the stream ran: {}", acknowledged.len());
    let survivors: Vec<(&str, &Host)> = hosts.iter().copied().filter(|(n, _)| *n != owner).collect();
    let (_, heir) = serving(&grid, &survivors, REGION, Duration::from_secs(4 * LEASE_SECONDS)).expect("taken over");
    let took = killed.elapsed();
    assert!(took <= Duration::from_secs(2 * LEASE_SECONDS), "takeover in {took:?}");
    let cap = heir.capability(&DOMAINS);
    let missing: Vec<&String> = acknowledged.iter().filter(|id| !exists(heir, &cap, REGION, id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged objects lost: {missing:?}",
        missing.len(),
        acknowledged.len()
    );
}

#[test]
fn grid_sigstop_past_the_lease_fences_the_old_owner() {
    let grid = GridTest::new(Some(&[REGION]));
    let (a, b, c) = (grid.host("sim-a"), grid.host("sim-b"), grid.host("sim-c"));
    let hosts = [("sim-a", &a), ("sim-b", &b), ("sim-c", &c)];
    let (owner, old) = serving(&grid, &hosts, REGION, Duration::from_secs(10)).expect("served");
    let cap = old.capability(&DOMAINS);
    let asset = add_box_asset(old, &cap, REGION);
    let object = create_in(old, &cap, REGION, &asset, "fenced").expect("created");
    // Committed motion, then motion still in the write-behind when the host stops.
    ok(rc_in(
        old,
        &cap,
        REGION,
        "SetObjectPositionRequest",
        json!({"ObjectID": object, "Position": [20.0, 20.0, 30.0]}),
    ));
    std::thread::sleep(Duration::from_millis(1500));
    ok(rc_in(
        old,
        &cap,
        REGION,
        "SetObjectPositionRequest",
        json!({"ObjectID": object, "Position": [66.0, 66.0, 66.0]}),
    ));
    let epoch = grid.epoch(REGION);
    kill(old, "-STOP");
    let others: Vec<(&str, &Host)> = hosts.iter().copied().filter(|(n, _)| *n != owner).collect();
    let (heir_name, heir) = serving(&grid, &others, REGION, Duration::from_secs(4 * LEASE_SECONDS)).expect("taken over");
    assert!(grid.epoch(REGION) > epoch, "a takeover bumps the epoch");
    let hcap = heir.capability(&DOMAINS);
    ok(rc_in(
        heir,
        &hcap,
        REGION,
        "SetObjectPositionRequest",
        json!({"ObjectID": object, "Position": [30.0, 40.0, 50.0]}),
    ));
    let added = create_in(heir, &hcap, REGION, &asset, "after takeover").expect("created on the new owner");
    kill(old, "-CONT");
    // Whatever the woken host still answers: a success must be real (on the new owner), a failure leaves nothing.
    let late = create_in(old, &cap, REGION, &asset, "late");
    let dropped = eventually(Duration::from_secs(5), || {
        std::fs::read_to_string(old.dir.path().join("serve.stderr")).is_ok_and(|log| log.contains("stopped serving region"))
    });
    assert!(dropped, "the old owner drops the region");
    std::thread::sleep(Duration::from_secs(2));
    // What PostgreSQL holds: hand the region over gracefully (the heir flushes), read it on the next owner.
    let rest: Vec<(&str, &Host)> = hosts.iter().copied().filter(|(n, _)| *n != heir_name).collect();
    kill(heir, "-TERM");
    let (_, next) = serving(&grid, &rest, REGION, Duration::from_secs(4 * LEASE_SECONDS)).expect("served again");
    let ncap = next.capability(&DOMAINS);
    assert_eq!(
        position_in(next, &ncap, REGION, &object),
        json!([30.0, 40.0, 50.0]),
        "the new owner's motion, not the fenced host's"
    );
    assert!(exists(next, &ncap, REGION, &added));
    match late {
        Ok(id) => assert!(exists(next, &ncap, REGION, &id), "an acknowledged late write is kept"),
        Err(reply) => assert_eq!(reply["_Success"], 0, "{reply}"),
    }
}

#[test]
fn grid_scripts_and_their_storage_move_with_the_region() {
    let grid = GridTest::new(Some(&[REGION]));
    let (a, b) = (grid.host("sim-a"), grid.host("sim-b"));
    let hosts = [("sim-a", &a), ("sim-b", &b)];
    let (owner, host) = serving(&grid, &hosts, REGION, Duration::from_secs(10)).expect("served");
    let cap = host.capability(&DOMAINS);
    let object = make_object(host, &cap);
    let script = upload_ok(host, &cap, &object, "counter", &["storage", "chat"], "");
    for n in 1..=2 {
        ok(rc(host, &cap, "MessageObjectRequest", json!({ "ObjectID": object, "Message": "bump" })));
        assert!(wait_log(host, &cap, &script, &format!("count = {n}")), "{}", log_text(host, &cap, &script));
    }
    kill(host, "-KILL");
    let survivors: Vec<(&str, &Host)> = hosts.iter().copied().filter(|(n, _)| *n != owner).collect();
    let (_, heir) = serving(&grid, &survivors, REGION, Duration::from_secs(4 * LEASE_SECONDS)).expect("taken over");
    let cap = heir.capability(&DOMAINS);
    // on-start ran on the new owner and read the stored count.
    assert!(wait_log(heir, &cap, &script, "counter started, count = 2"), "{}", log_text(heir, &cap, &script));
    ok(rc(heir, &cap, "MessageObjectRequest", json!({ "ObjectID": object, "Message": "bump" })));
    assert!(wait_log(heir, &cap, &script, "count = 3"), "{}", log_text(heir, &cap, &script));
}

#[test]
fn grid_graceful_shutdown_hands_over_within_two_seconds() {
    let grid = GridTest::new(Some(&[REGION]));
    // A long lease: only the hand-over can move the region this fast.
    let lease = 20;
    let a = grid.try_host("sim-a", lease, "").expect("sim-a");
    let b = grid.try_host("sim-b", lease, "").expect("sim-b");
    let hosts = [("sim-a", &a), ("sim-b", &b)];
    let (owner, _) = serving(&grid, &hosts, REGION, Duration::from_secs(10)).expect("served");
    let (leaving, staying) = if owner == "sim-a" { (a, ("sim-b", &b)) } else { (b, ("sim-a", &a)) };
    let cap = leaving.capability(&DOMAINS);
    let object = make_object(&leaving, &cap);
    // Motion still in the write-behind is flushed before the hand-over.
    ok(rc(
        &leaving,
        &cap,
        "SetObjectPositionRequest",
        json!({"ObjectID": object, "Position": [12.0, 34.0, 56.0]}),
    ));
    let started = Instant::now();
    let (code, _) = leaving.stop();
    assert_eq!(code, Some(0));
    let staying = [staying];
    let (_, heir) = serving(&grid, &staying, REGION, Duration::from_secs(lease)).expect("handed over");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "hand-over took {took:?} (lease {lease} s)");
    let cap = heir.capability(&DOMAINS);
    assert_eq!(position_in(heir, &cap, REGION, &object), json!([12.0, 34.0, 56.0]));
}

#[test]
fn grid_bad_database_url_and_duplicate_host_name_are_refused_naming_the_key() {
    let grid = GridTest::new(Some(&[REGION]));
    let _a = grid.host("sim-a");
    let err = grid.try_host("sim-a", LEASE_SECONDS, "").err().expect("a second sim-a is refused");
    assert!(err.contains("[Grid] HostName"), "{err}");

    let bad = GridTest {
        url: grid.url.replace(dispatcher_pgtest::PASSWORD, "wrong-password"),
        ..GridTest::new(None)
    };
    let err = bad.try_host("sim-x", LEASE_SECONDS, "").err().expect("a wrong password is refused");
    assert!(err.contains("[Grid] DatabaseUrl"), "{err}");
    assert!(!err.contains("wrong-password"), "the password is not shown: {err}");
}

#[test]
fn grid_database_loss_fails_requests_clearly_and_serving_resumes() {
    // A server of its own: this test stops it.
    let mut pg = PgServer::start_new().expect("start PostgreSQL");
    let url = pg.url();
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("grid.ini"), grid_ini(&url, "cli", "http://127.0.0.1:1", LEASE_SECONDS)).expect("ini");
    let grid = GridTest {
        // Not queried here (the harness's SQL helpers are unused in this test).
        pg: PgServer::shared().expect("PostgreSQL"),
        url: url.clone(),
        database: dispatcher_pgtest::DATABASE.to_owned(),
        dir,
        ids: Default::default(),
    };
    grid.cli(&["user", "create", "--first", OWNER.0, "--last", OWNER.1, "--password", PASSWORD]);
    grid.cli(&["region", "create", "--name", REGION, "--owner", "Ada Lovelace"]);
    let host = grid.host("sim-a");
    let deadline = Instant::now() + Duration::from_secs(10);
    let cap = loop {
        let reply = host.create_capability(OWNER, &DOMAINS, 300);
        if reply["_Success"] == 1 {
            let cap = reply["Capability"].as_str().expect("Capability").to_owned();
            if rc_in(&host, &cap, REGION, "GetTerrainHeightRequest", json!({"X": 1, "Y": 1}))["_Success"] == 1 {
                break cap;
            }
        }
        assert!(Instant::now() < deadline, "the region is served");
        std::thread::sleep(Duration::from_millis(50));
    };
    let asset = add_box_asset(&host, &cap, REGION);
    create_in(&host, &cap, REGION, &asset, "before").expect("created");

    pg.stop().expect("stop PostgreSQL");
    let reply = create_in(&host, &cap, REGION, &asset, "while down").expect_err("no success without the database");
    assert_eq!(reply["_Success"], 0, "{reply}");
    assert!(!reply["_Message"].as_str().unwrap_or("").is_empty(), "a clear message: {reply}");

    pg.start().expect("start PostgreSQL again");
    let resumed = eventually(Duration::from_secs(6 * LEASE_SECONDS), || {
        let reply = host.create_capability(OWNER, &DOMAINS, 300);
        reply["_Success"] == 1 && {
            let cap = reply["Capability"].as_str().unwrap_or("").to_owned();
            create_in(&host, &cap, REGION, &asset, "after").is_ok()
        }
    });
    assert!(resumed, "serving resumes once the database is back");
}

/// Domains of the extension tests' capabilities.
const EXT_DOMAINS: [&str; 4] = ["RemoteControl", "Scripting", "Extensions", "Leaderboard"];

fn leaderboard(host: &Host, cap: &str, kind: &str, body: Value) -> Value {
    host.call(&request("Leaderboard", kind, cap, body))
}

/// A capability of `who` for `region` and `domains`.
fn cap_for(host: &Host, who: (&str, &str), region: &str, domains: &[&str]) -> String {
    let reply = host.call(&json!({
        "$type": "Dispatcher.Messages.CreateCapabilityRequest",
        "_domain": "Dispatcher",
        "_scene": region,
        "firstname": who.0,
        "lastname": who.1,
        "hashedpasswd": PASSWORD_MD5,
        "lifespan": 300,
        "domainlist": domains,
    }));
    reply["Capability"]
        .as_str()
        .unwrap_or_else(|| panic!("capability: {reply}"))
        .to_owned()
}

/// `request` sent to `region`.
fn in_region(mut v: Value, region: &str) -> Value {
    v["_scene"] = json!(region);
    v
}

#[test]
fn grid_region_extensions_move_with_their_region_storage_intact() {
    const OTHER: &str = "North Bay";
    let grid = GridTest::new(Some(&[REGION, OTHER]));
    // sim-b holds only the other region, sim-a the extension's.
    const GODS: &str = "[Dispatcher]\nGrantGridManagersAccess = true\nGridManagerAccessLevel = 200\n";
    let b = grid
        .try_host("sim-b", LEASE_SECONDS, &format!("PreferredRegions = {OTHER}\nMaxRegions = 1\n{GODS}"))
        .expect("sim-b");
    assert_eq!(serving(&grid, &[("sim-b", &b)], OTHER, Duration::from_secs(10)).map(|(n, _)| n), Some("sim-b"));
    let a = grid.try_host("sim-a", LEASE_SECONDS, GODS).expect("sim-a");
    assert_eq!(serving(&grid, &[("sim-a", &a)], REGION, Duration::from_secs(10)).map(|(n, _)| n), Some("sim-a"));
    // Installed through sim-b: the request names the region, so it runs on its owner, sim-a.
    let cap = cap_for(&b, OWNER, REGION, &EXT_DOMAINS);
    let installed = ok(b.call(&request(
        "Extensions",
        "InstallExtensionRequest",
        &cap,
        json!({ "Component": base64(&guest("ext-leaderboard")), "Scope": REGION, "Grants": ["storage"], "Config": "" }),
    )));
    let id = installed["ExtensionID"].as_str().expect("ExtensionID").to_owned();
    // sim-b has not loaded it, yet answers for it: forwarded to the owner.
    ok(leaderboard(&b, &cap, "SubmitScoreRequest", json!({ "Player": "ada", "Score": 10 })));
    ok(leaderboard(&a, &cap, "SubmitScoreRequest", json!({ "Player": "bob", "Score": 20 })));
    // In sim-b's own region the domain is not served; sim-b lists the record
    // and, asked in its own region, names where the extension runs.
    let there = cap_for(&b, OWNER, OTHER, &EXT_DOMAINS);
    let unknown = b.call(&in_region(request("Leaderboard", "GetTopScoresRequest", &there, json!({})), OTHER));
    assert!(unknown["_Message"].as_str().unwrap_or("").contains("Unknown message type"), "{unknown}");
    let listed = ok(b.call(&in_region(request("Extensions", "ListExtensionsRequest", &there, json!({})), OTHER)));
    assert!(
        listed["Extensions"]
            .as_array()
            .is_some_and(|l| l.iter().any(|e| e["ExtensionID"] == id.as_str())),
        "{listed}"
    );
    let status = b.call(&in_region(
        request("Extensions", "GetExtensionStatusRequest", &there, json!({ "ExtensionID": id })),
        OTHER,
    ));
    assert_eq!(status["_Success"], 0, "{status}");
    assert!(status["_Message"].as_str().unwrap_or("").contains(&format!("_Scene {REGION}")), "{status}");
    // A host-wide extension installed on sim-a is announced: sim-b answers it in its own region.
    let god_a = cap_for(&a, GOD, REGION, &["Extensions", "Echo"]);
    ok(a.call(&request(
        "Extensions",
        "InstallExtensionRequest",
        &god_a,
        json!({ "Component": base64(&guest("ext-chaos")), "Scope": "", "Grants": [], "Config": "Echo" }),
    )));
    let god_b = cap_for(&b, GOD, OTHER, &["Extensions", "Echo"]);
    let echo = in_region(request("Echo", "EchoRequest", &god_b, json!({ "Text": "hi" })), OTHER);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut reply = b.call(&echo);
    while reply["_Success"] != 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        reply = b.call(&echo);
    }
    assert_eq!(reply["_Success"], 1, "a host-wide extension installed elsewhere answers here: {reply}");
    // The owner dies: the heir loads the region's extension with its storage.
    kill(&a, "-KILL");
    let c = grid.host("sim-c");
    serving(&grid, &[("sim-c", &c)], REGION, Duration::from_secs(4 * LEASE_SECONDS)).expect("taken over");
    let heir = &c;
    let top = ok(leaderboard(heir, &cap, "GetTopScoresRequest", json!({ "Count": 5 })));
    assert_eq!(top["Scores"], json!([{ "Player": "bob", "Score": 20 }, { "Player": "ada", "Score": 10 }]), "{top}");
    let status = ok(heir.call(&request("Extensions", "GetExtensionStatusRequest", &cap, json!({ "ExtensionID": id }))));
    assert_eq!(status["State"], "running", "{status}");
    assert!(!status["Version"].as_str().unwrap_or("").is_empty(), "loaded on the heir: {status}");
}

#[test]
fn grid_a_region_that_fails_to_load_is_released_and_requests_fail_clearly() {
    const BROKEN: &str = "North Bay";
    let grid = GridTest::new(Some(&[REGION, BROKEN]));
    // A corrupt row in the region's stored state: loading it fails.
    grid.sql(&format!(
        "INSERT INTO region_sun (region_id, data) SELECT id, '\\xdeadbeef'::bytea FROM regions WHERE name = '{BROKEN}'"
    ));
    let a = grid.host("sim-a");
    serving(&grid, &[("sim-a", &a)], REGION, Duration::from_secs(10)).expect("the sound region is served");
    let log = a.dir.path().join("serve.stderr");
    let logged = |needle: &str| std::fs::read_to_string(&log).unwrap_or_default().contains(needle);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !logged(&format!("region {BROKEN}")) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(text.contains(&format!("region {BROKEN}")) && text.contains("cannot be served"), "{text}");
    // Released, not held unserved: no live lease while sim-a is in its backoff.
    let released = (0..40).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        grid.owner(BROKEN).is_none()
    });
    assert!(released, "the lease of a region that failed to load is released");
    assert!(grid.epoch(BROKEN) <= 3, "claims again only after a backoff: epoch {}", grid.epoch(BROKEN));
    // A request for it gets a clear Failure within a bound, not a hang.
    let cap = cap_in(&a, BROKEN).expect("capability");
    let started = Instant::now();
    let reply = rc_in(&a, &cap, BROKEN, "GetTerrainHeightRequest", json!({"X": 1, "Y": 1}));
    assert_eq!(reply["_Success"], 0, "{reply}");
    assert!(reply["_Message"].as_str().unwrap_or("").contains(BROKEN), "{reply}");
    assert!(started.elapsed() < Duration::from_secs(4 * LEASE_SECONDS), "{:?}", started.elapsed());
    // The sound region keeps being served.
    let cap = cap_in(&a, REGION).expect("capability");
    assert_eq!(rc_in(&a, &cap, REGION, "GetTerrainHeightRequest", json!({"X": 1, "Y": 1}))["_Success"], 1);
}
