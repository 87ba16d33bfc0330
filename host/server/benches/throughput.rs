//! Throughput of the message path over real loopback sockets, as a ratio to a
//! minimal hyper server that answers a fixed body, measured in the same run.
//!
//! Run: `cargo bench -p dispatcher --bench throughput` (prints figures).
//! Knobs: BENCH_SECONDS (default 3), BENCH_CONNECTIONS (default 4).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dispatcher_server::config::HostConfig;
use dispatcher_store::{NewAccount, NewRegion, Store};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Response;
use hyper_util::rt::TokioIo;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Send `request` repeatedly on `connections` keep-alive connections for `secs`.
fn drive(addr: SocketAddr, request: Vec<u8>, connections: u64, secs: u64, check: &'static [u8]) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let request = Arc::new(request);
    let mut threads = Vec::new();
    for _ in 0..connections {
        let (stop, count, request) = (stop.clone(), count.clone(), request.clone());
        threads.push(std::thread::spawn(move || {
            let stream = TcpStream::connect(addr).expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let mut writer = stream.try_clone().expect("clone");
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            let mut body = Vec::new();
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
                    body.windows(check.len()).any(|w| w == check),
                    "unexpected reply {:?}",
                    String::from_utf8_lossy(&body)
                );
                count.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    for t in threads {
        t.join().expect("client thread");
    }
    count.load(Ordering::Relaxed) as f64 / elapsed
}

fn http_request(path: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

async fn baseline_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let svc = service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from_static(
                        br#"{"$type":"ResponseBase","_Success":1,"_Message":""}"#,
                    ))))
                });
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    });
    addr
}

fn main() {
    let secs = env_num("BENCH_SECONDS", 3);
    let connections = env_num("BENCH_CONNECTIONS", 4);
    let dir = tempfile::tempdir().expect("tmp");
    let store = Arc::new(Store::open(dir.path()).expect("store"));
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
            name: "Bench".into(),
            owner: owner.id,
            ..Default::default()
        })
        .expect("region");

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let mut config = HostConfig {
        http_port: 0,
        ..Default::default()
    };
    config.dispatcher.udp_port = 0;
    config.dispatcher.max_async_queue = 1_000_000;
    let running = runtime.block_on(dispatcher_server::serve::start(&config, store)).expect("start");
    let baseline = runtime.block_on(baseline_server());

    // A capability for the authenticated requests.
    let create = r#"{"$type":"Dispatcher.Messages.CreateCapabilityRequest","_Scene":"Bench","FirstName":"Bench","LastName":"Owner","HashedPasswd":"5f4dcc3b5aa765d61d8327deb882cf99","DomainList":["RemoteControl"],"LifeSpan":300}"#;
    let reply = {
        let mut s = TcpStream::connect(running.http_addr).expect("connect");
        s.write_all(&http_request("/Dispatcher/", "application/json", create.as_bytes()))
            .expect("write");
        s.write_all(b"").expect("flush");
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).expect("read");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let cap = reply
        .split("\"Capability\":\"")
        .nth(1)
        .and_then(|r| r.get(..36))
        .unwrap_or_else(|| panic!("no capability in {reply}"))
        .to_owned();

    let json_body = format!(
        r#"{{"$type":"Dispatcher.Messages.RenewCapabilityRequest","_domain":"Dispatcher","_scene":"Bench","_capability":"{cap}","lifespan":300}}"#
    );
    let mut bson_body = Vec::new();
    bson::doc! {
        "$type": "Dispatcher.Messages.RenewCapabilityRequest",
        "_domain": "Dispatcher", "_scene": "Bench", "_capability": cap.as_str(), "lifespan": 300_i32,
    }
    .to_writer(&mut bson_body)
    .expect("bson");

    println!("throughput over loopback, {connections} keep-alive connections, {secs} s per run, 2-core machine");
    let base = drive(baseline, http_request("/", "application/json", b"{}"), connections, secs, b"ResponseBase");
    println!("baseline hyper fixed body     {base:>10.0} req/s   1.00");
    let json = drive(
        running.http_addr,
        http_request("/Dispatcher/", "application/json", json_body.as_bytes()),
        connections,
        secs,
        b"CapabilityResponse",
    );
    println!("authenticated JSON request    {json:>10.0} req/s   {:.2} of baseline", json / base);
    let bs = drive(
        running.http_addr,
        http_request("/Dispatcher/", "application/bson", &bson_body),
        connections,
        secs,
        b"CapabilityResponse",
    );
    println!("authenticated BSON request    {bs:>10.0} req/s   {:.2} of baseline", bs / base);

    // UDP: fire datagrams, count what the pipeline processed through its stats.
    let udp = UdpSocket::bind("127.0.0.1:0").expect("udp");
    let stats = &running.dispatcher.services().stats;
    let processed = || {
        stats
            .snapshot()
            .iter()
            .find(|(n, _)| n == "RenewCapabilityRequest")
            .map(|(_, s)| s.count)
            .unwrap_or(0)
    };
    let before = processed();
    let started = Instant::now();
    let mut sent = 0u64;
    while started.elapsed() < Duration::from_secs(secs) {
        for _ in 0..64 {
            if udp.send_to(json_body.as_bytes(), running.udp_addr).is_ok() {
                sent += 1;
            }
        }
        // Pace the sender so the kernel buffer is not the thing measured.
        while sent > processed() - before + 2_000 && started.elapsed() < Duration::from_secs(secs + 2) {
            std::thread::yield_now();
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while processed() - before < sent && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let done = processed() - before;
    println!("authenticated UDP datagrams   {:>10.0} req/s   ({done} of {sent} processed)", done as f64 / elapsed);

    bulk_dynamics(&running, &cap, connections, secs);
    runtime.block_on(running.stop());
}

/// BulkDynamics over HTTP, batches of 1,000 updates (issue: scene model; target
/// 200,000 updates/s), JSON and BSON, against 1,000 objects rezzed in the region.
fn bulk_dynamics(running: &dispatcher_server::serve::Running, cap: &str, connections: u64, secs: u64) {
    const BATCH: usize = 1_000;
    let Some(rc) = running.remote_control.as_ref() else {
        println!("RemoteControl disabled; BulkDynamics not measured");
        return;
    };
    let host = rc.domain.region("Bench").expect("bench region").clone();
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
    let json_body = serde_json::to_vec(&serde_json::json!({
        "$type": "RemoteControl.Messages.BulkDynamicsRequest",
        "_domain": "RemoteControl", "_scene": "Bench", "_capability": cap,
        "Updates": updates,
    }))
    .expect("json");
    let mut bson_updates = bson::Array::new();
    for (i, id) in ids.iter().enumerate() {
        bson_updates.push(bson::Bson::Document(bson::doc! {
            "ObjectID": id.as_str(),
            "Position": [20.0 + (i / 200) as f64, 10.0 + (i % 200) as f64, 30.0],
            "Rotation": [0.0, 0.0, 0.0, 1.0],
        }));
    }
    let mut bson_body = Vec::new();
    bson::doc! {
        "$type": "RemoteControl.Messages.BulkDynamicsRequest",
        "_domain": "RemoteControl", "_scene": "Bench", "_capability": cap,
        "Updates": bson_updates,
    }
    .to_writer(&mut bson_body)
    .expect("bson");
    println!(
        "BulkDynamics over HTTP, {BATCH} updates per request ({} bytes JSON, {} bytes BSON)",
        json_body.len(),
        bson_body.len()
    );
    let json = drive(
        running.http_addr,
        http_request("/Dispatcher/", "application/json", &json_body),
        connections,
        secs,
        b"\"_Success\":1",
    );
    println!("  JSON  {:>10.0} updates/s  ({json:.0} requests/s)", json * BATCH as f64);
    let bs = drive(
        running.http_addr,
        http_request("/Dispatcher/", "application/bson", &bson_body),
        connections,
        secs,
        b"_Success\x00\x01\x00\x00\x00",
    );
    println!("  BSON  {:>10.0} updates/s  ({bs:.0} requests/s)", bs * BATCH as f64);
}
