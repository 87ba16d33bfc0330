//! No blocking on the reactor: requests whose handlers take locks and commit to
//! the database run off the runtime's worker threads, so a slow or busy disk
//! never stalls accepting connections and answering reads.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::support::*;

/// The host's worker threads, pinned through tokio's `TOKIO_WORKER_THREADS`
/// (the default is one per core).
const WORKERS: usize = 2;
/// Concurrent committing requests: more than there are worker threads.
const WRITERS: usize = 3 * WORKERS;
/// How long the test holds the database's write lock: below the host's 5 s
/// busy timeout, so every waiting write still commits.
const HOLD: Duration = Duration::from_millis(3500);
/// A generous bound for an answer that does not wait for the lock.
const PROMPT: Duration = Duration::from_secs(1);
const GENERATOR: &str = "cc75083c-3ca0-433d-9ba5-a51e86a98933";
/// A second region: its scene lock is not the one the writers hold.
const SECOND: &str = "Second Isle";

/// One request over a fresh connection (accepted, read and answered by the
/// host's listener); the time from connecting to the whole reply, and the reply.
fn post_fresh(http: SocketAddr, request: &Value) -> (Duration, Result<Value, String>) {
    let started = Instant::now();
    let body = request.to_string();
    let result = (|| {
        let mut stream = TcpStream::connect(http).map_err(|e| format!("connect: {e}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(20))).map_err(|e| e.to_string())?;
        let head = format!(
            "POST /Dispatcher/ HTTP/1.1\r\nHost: {http}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).map_err(|e| format!("send: {e}"))?;
        stream.write_all(body.as_bytes()).map_err(|e| format!("send: {e}"))?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).map_err(|e| format!("read: {e}"))?;
        let text = String::from_utf8_lossy(&raw);
        let (head, reply) = text.split_once("\r\n\r\n").ok_or_else(|| format!("no reply: {text:?}"))?;
        if !head.starts_with("HTTP/1.1 200") {
            return Err(format!("status: {head}"));
        }
        serde_json::from_str(reply).map_err(|e| format!("reply is not JSON ({e}): {reply:?}"))
    })();
    (started.elapsed(), result)
}

fn capability(host: &Host, scene: &str) -> String {
    let reply = host.call(&json!({
        "$type": "Dispatcher.Messages.CreateCapabilityRequest",
        "_domain": "Dispatcher",
        "_scene": scene,
        "firstname": OWNER.0,
        "lastname": OWNER.1,
        "hashedpasswd": PASSWORD_MD5,
        "lifespan": 300,
        "domainlist": ["RemoteControl"],
    }));
    assert_eq!(reply["_Success"], 1, "{reply}");
    reply["Capability"].as_str().expect("Capability").to_owned()
}

fn rc(kind: &str, scene: &str, cap: &str, members: Value) -> Value {
    let mut request = json!({
        "$type": format!("RemoteControl.Messages.{kind}"),
        "_domain": "RemoteControl",
        "_scene": scene,
        "_capability": cap,
    });
    if let (Some(obj), Value::Object(more)) = (request.as_object_mut(), members) {
        obj.extend(more);
    }
    request
}

#[test]
fn reactor_reads_and_new_connections_are_answered_while_commits_wait_for_the_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ids = seed(dir.path());
    cli(dir.path(), &["region", "create", "--name", SECOND, "--owner", "Ada Lovelace"]);
    let workers = WORKERS.to_string();
    let host = Host::launch_env(dir, ids, "", &[("TOKIO_WORKER_THREADS", &workers)]);
    let cap = capability(&host, REGION);
    let second_cap = capability(&host, SECOND);
    let xml = std::fs::read(format!("{}/../scene/tests/fixtures/{GENERATOR}_object.xml", env!("CARGO_MANIFEST_DIR"))).expect("fixture");
    let added = host.call(&rc(
        "AddAssetRequest",
        REGION,
        &cap,
        json!({"Asset": {
            "AssetID": GENERATOR,
            "SerializedAsset": base64::engine::general_purpose::STANDARD.encode(xml),
            "Name": "generator", "Description": "", "ContentType": "application/vnd.ll.primitive",
            "CreatorID": "00000000-0000-0000-0000-000000000000",
        }}),
    ));
    assert_eq!(added["_Success"], 1, "{added}");
    let sun = rc("GetSunParametersRequest", SECOND, &second_cap, json!({}));
    assert_eq!(host.call(&sun)["_Success"], 1, "the read works before the lock is taken");

    // Another process holds the database's write lock for HOLD, as a slow
    // disk would hold a commit: every write of the host waits for it.
    let db = rusqlite::Connection::open(host.dir.path().join(dispatcher_store::DB_FILE)).expect("open the database");
    db.busy_timeout(Duration::from_secs(5)).expect("busy timeout");
    db.execute_batch("BEGIN EXCLUSIVE").expect("take the write lock");
    let holder = std::thread::spawn(move || {
        std::thread::sleep(HOLD);
        db.execute_batch("ROLLBACK").expect("release the write lock");
    });

    let writers: Vec<_> = (0..WRITERS)
        .map(|i| {
            let create = rc("CreateObjectRequest", REGION, &cap, json!({"AssetID": GENERATOR, "Name": format!("waiting {i}")}));
            let http = host.http;
            std::thread::spawn(move || post_fresh(http, &create))
        })
        .collect();
    // Let the writers reach their handlers.
    std::thread::sleep(Duration::from_millis(300));
    let (fresh, fresh_reply) = post_fresh(host.http, &sun);
    let kept_started = Instant::now();
    let kept_reply = host.call(&sun);
    let kept = kept_started.elapsed();

    holder.join().expect("lock holder");
    let writes: Vec<_> = writers.into_iter().map(|w| w.join().expect("writer")).collect();

    let slowest = writes.iter().map(|(waited, _)| *waited).max().unwrap_or_default();
    eprintln!("read: {fresh:?} on a fresh connection, {kept:?} on an open one; {WRITERS} writes: slowest {slowest:?}");
    let fresh_reply = fresh_reply.expect("the read over a fresh connection is answered");
    assert_eq!(fresh_reply["_Success"], 1, "{fresh_reply}");
    assert_eq!(kept_reply["_Success"], 1, "{kept_reply}");
    assert!(
        fresh < PROMPT && kept < PROMPT,
        "while {WRITERS} writes waited for the database, a read took {fresh:?} on a fresh connection and {kept:?} on an open one"
    );
    for (i, (waited, reply)) in writes.iter().enumerate() {
        let reply = reply.as_ref().unwrap_or_else(|e| panic!("write {i}: {e}"));
        assert_eq!(reply["_Success"], 1, "write {i} commits once the lock is released: {reply}");
        assert!(*waited > Duration::from_secs(3), "write {i} took {waited:?}: it did not wait for the lock");
    }
    let found = host.call(&rc("FindObjectsRequest", REGION, &cap, json!({})));
    assert_eq!(found["Objects"].as_array().map(Vec::len), Some(WRITERS), "{found}");
}
