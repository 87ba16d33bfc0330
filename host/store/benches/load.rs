//! Scene persistence benchmark: saves a region of realistic objects, then loads
//! it in a fresh process and prints the time and the resident-memory growth.
//!
//! Run: `cargo bench -p dispatcher-store --bench load` (object count from
//! `LOAD_BENCH_OBJECTS`, default 100 000). The template is the Penrose region
//! object (one part, one inventory item, about a hundred kept XML elements);
//! each copy gets fresh ids and its own position.
//! `LOAD_BENCH_SAVE_DIR=<empty dir>` keeps the database; then
//! `LOAD_BENCH_DATA_DIR=<that dir>` skips saving and only loads it.
//!
//! Last, the saved region is served for real: the built `dispatcher` binary
//! (`DISPATCHER_BIN`, default target/release/dispatcher; skipped when absent) is
//! started on the data directory a few times, timed from spawn to its
//! `dispatcher ready` line, and its resident set read from /proc.
//! `LOAD_BENCH_SERVE_DIR=<saved dir>` runs only this phase.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dispatcher_scene::{parse_object, Asset, AssetType, RezParams, SceneLimits, SceneObject, Uuid, Vector3};
use dispatcher_store::{DynamicsWriter, NewRegion, Store};

const TEMPLATE: &[u8] = include_bytes!("../../scene/tests/fixtures/penrose_assets_region_object.xml");
const REGION: Uuid = Uuid::from_u128(0x5ce2e);
/// The same objects without their kept-verbatim XML elements: what loading
/// would cost if the scene model held those elements more compactly.
const LEAN_REGION: Uuid = Uuid::from_u128(0x1ea2);
/// Set in the child process that measures the load: the data directory.
const CHILD_DIR_VAR: &str = "LOAD_BENCH_DATA_DIR";
/// Where to save instead of a temporary directory (kept, for repeated loads).
const SAVE_DIR_VAR: &str = "LOAD_BENCH_SAVE_DIR";
const DEFAULT_OBJECTS: usize = 100_000;
/// Objects per `save_objects` call in the bulk phase.
const BULK_BATCH_OBJECTS: usize = 1_000;
/// Single durable writes timed one by one (each is a disk sync).
const SINGLE_WRITES: usize = 200;
const ASSET_BYTES: usize = 64 * 1024;
/// The served region (the bulk objects' region).
const REGION_NAME: &str = "Bench Island";
/// Only the serve phase, on an already saved directory.
const SERVE_DIR_VAR: &str = "LOAD_BENCH_SERVE_DIR";
const BIN_VAR: &str = "DISPATCHER_BIN";
/// Server starts timed (the machine is shared: the spread matters).
const SERVE_RUNS: usize = 3;
/// A server that is not ready by then is reported as failed.
const SERVE_READY_TIMEOUT_S: u64 = 120;

fn rss_kib() -> u64 {
    proc_status_kib("self", "VmRSS:")
}

/// A `kB` line of /proc/<pid>/status (0 when unreadable).
fn proc_status_kib(pid: &str, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn per_second(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn objects(count: usize, first_id: u128) -> Vec<SceneObject> {
    let template = parse_object(TEMPLATE, &SceneLimits::default()).expect("fixture parses");
    let mut next = first_id;
    let mut ids = move || {
        next += 1;
        Uuid::from_u128(next)
    };
    (0..count)
        .map(|i| {
            let params = RezParams {
                owner_id: Uuid::from_u128(0xada),
                position: Vector3::new((i % 256) as f32, ((i / 256) % 256) as f32, 20.0 + (i / 65_536) as f32),
                ..RezParams::default()
            };
            template.rezzed_copy(&params, &mut ids)
        })
        .collect()
}

fn save_phase(dir: &Path, count: usize) {
    let store = Arc::new(Store::open(dir).expect("open"));
    let objs = objects(count, 1 << 64);
    let encoded_sample = objs.first().map(serde_size).unwrap_or(0);
    ensure_served_region(&store);
    let start = Instant::now();
    for chunk in objs.chunks(BULK_BATCH_OBJECTS) {
        store.save_objects(REGION, chunk).expect("save");
    }
    let bulk = start.elapsed();
    println!(
        "save (bulk, {BULK_BATCH_OBJECTS}/transaction): {count} objects in {:.2} s = {:.0} objects/s; ~{encoded_sample} bytes per encoded object",
        bulk.as_secs_f64(),
        per_second(count, bulk)
    );

    let lean: Vec<SceneObject> = objs.iter().cloned().map(without_kept_elements).collect();
    for chunk in lean.chunks(BULK_BATCH_OBJECTS) {
        store.save_objects(LEAN_REGION, chunk).expect("save lean");
    }
    drop(lean);

    let singles = objects(SINGLE_WRITES, 2 << 64);
    let start = Instant::now();
    for o in &singles {
        store.save_object(Uuid::from_u128(1), o).expect("save one");
    }
    let single = start.elapsed();
    println!(
        "save_object (one durable commit each): {SINGLE_WRITES} in {:.2} s = {:.0}/s, {:.2} ms each",
        single.as_secs_f64(),
        per_second(SINGLE_WRITES, single),
        single.as_secs_f64() * 1e3 / SINGLE_WRITES as f64
    );

    let start = Instant::now();
    for i in 0..SINGLE_WRITES {
        let data = vec![(i % 251) as u8; ASSET_BYTES];
        store
            .put_asset(&Asset::from_type(Uuid::from_u128(3 << 64 | i as u128), AssetType::Texture, data))
            .expect("asset");
    }
    let assets = start.elapsed();
    println!(
        "put_asset ({} KiB, one durable commit each): {:.2} ms each",
        ASSET_BYTES / 1024,
        assets.as_secs_f64() * 1e3 / SINGLE_WRITES as f64
    );

    let writer = DynamicsWriter::start(Arc::clone(&store), Duration::from_secs(3600));
    let moving = &objs[..objs.len().min(10_000)];
    let start = Instant::now();
    for o in moving {
        writer.queue(REGION, o);
    }
    writer.flush().expect("flush");
    let dynamics = start.elapsed();
    println!(
        "dynamics: {} objects queued and flushed in one transaction in {:.0} ms = {:.0} objects/s",
        moving.len(),
        dynamics.as_secs_f64() * 1e3,
        per_second(moving.len(), dynamics)
    );
    drop(writer);
    let db = std::fs::metadata(store.path()).map(|m| m.len()).unwrap_or(0);
    println!("database file: {:.1} MiB", db as f64 / (1024.0 * 1024.0));
}

fn without_kept_elements(mut o: SceneObject) -> SceneObject {
    o.extra.clear();
    for part in o.parts_mut() {
        part.extra.clear();
        part.shape.extra.clear();
        for item in &mut part.inventory {
            item.extra.clear();
        }
    }
    o
}

/// Size of the stored form (version byte + positional MessagePack).
fn serde_size(o: &SceneObject) -> usize {
    rmp_serde::to_vec(o).map(|v| v.len() + 1).unwrap_or(0)
}

/// Runs in a fresh process, so the resident set is not inflated by the save phase.
fn load_phase(dir: &Path) {
    let before_kib = rss_kib();
    let start = Instant::now();
    let store = Store::open(dir).expect("open");
    let opened = start.elapsed();
    let objs = store.load_objects(REGION).expect("load");
    let loaded = start.elapsed();
    let after_kib = rss_kib();
    println!(
        "load_objects: {} objects in {:.0} ms (open {:.0} ms) = {:.0} objects/s",
        objs.len(),
        loaded.as_secs_f64() * 1e3,
        opened.as_secs_f64() * 1e3,
        per_second(objs.len(), loaded)
    );
    println!(
        "RSS: {:.1} MiB before, {:.1} MiB after, delta {:.1} MiB ({:.1} KiB per object)",
        before_kib as f64 / 1024.0,
        after_kib as f64 / 1024.0,
        (after_kib - before_kib.min(after_kib)) as f64 / 1024.0,
        (after_kib - before_kib.min(after_kib)) as f64 / objs.len().max(1) as f64
    );
    let before_kib = rss_kib();
    let start = Instant::now();
    let lean = store.load_objects(LEAN_REGION).expect("load lean");
    let took = start.elapsed();
    println!(
        "load_objects without kept XML elements: {} objects in {:.0} ms, RSS delta {:.1} MiB",
        lean.len(),
        took.as_secs_f64() * 1e3,
        (rss_kib().saturating_sub(before_kib)) as f64 / 1024.0
    );
    drop(lean);
    // Where the time goes: the database read alone, and decoding alone.
    let start = Instant::now();
    let blobs: Vec<Vec<u8>> = store
        .with_conn(|c| {
            let mut stmt = c.prepare("SELECT data FROM scene_objects WHERE region_id = ?1 ORDER BY seq")?;
            let rows = stmt.query_map([REGION.as_bytes()], |r| r.get(0))?;
            Ok(rows.take(20_000).collect::<Result<_, _>>()?)
        })
        .expect("scan");
    let scan = start.elapsed();
    let start = Instant::now();
    for b in &blobs {
        let o: SceneObject = rmp_serde::from_slice(&b[1..]).expect("decode");
        std::hint::black_box(o);
    }
    let decode = start.elapsed();
    let start = Instant::now();
    for o in &objs[..blobs.len()] {
        std::hint::black_box(o.clone());
    }
    let clone = start.elapsed();
    let n = blobs.len().max(1) as f64;
    println!(
        "per object: database read {:.1} us, decode (one thread) {:.1} us, clone of a loaded object {:.1} us",
        scan.as_secs_f64() * 1e6 / n,
        decode.as_secs_f64() * 1e6 / n,
        clone.as_secs_f64() * 1e6 / n
    );
}

/// The bulk objects' region as a real region row, so `dispatcher serve` loads it.
fn ensure_served_region(store: &Store) {
    let regions = store.list_regions().expect("regions");
    if regions.iter().any(|r| r.id == REGION) {
        return;
    }
    store
        .create_region(&NewRegion {
            id: Some(REGION),
            name: REGION_NAME.into(),
            owner: Uuid::from_u128(0xada),
            managers: Vec::new(),
        })
        .expect("region");
}

fn dispatcher_bin() -> std::path::PathBuf {
    std::env::var_os(BIN_VAR).map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/release/dispatcher"), Into::into)
}

/// Starts `dispatcher serve` on `dir` and times it to its readiness line.
fn serve_once(bin: &Path, dir: &Path) -> Result<(Duration, u64, u64), String> {
    let config = dir.join("bench.ini");
    std::fs::write(&config, "").map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut child = Command::new(bin)
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir)
        .args(["serve", "--http-port", "0", "--udp-port", "0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("dispatcher ready") {
                let _ = tx.send(());
            }
        }
    });
    let ready = rx.recv_timeout(Duration::from_secs(SERVE_READY_TIMEOUT_S));
    let took = start.elapsed();
    let pid = child.id().to_string();
    let (rss, peak) = (proc_status_kib(&pid, "VmRSS:"), proc_status_kib(&pid, "VmHWM:"));
    let _ = child.kill();
    let _ = child.wait();
    ready.map_err(|_| "no readiness line".to_string())?;
    Ok((took, rss, peak))
}

fn serve_phase(dir: &Path) {
    let bin = dispatcher_bin();
    if !bin.exists() {
        println!("serve: {} not built (cargo build --release -p dispatcher); skipped", bin.display());
        return;
    }
    let store = Store::open(dir).expect("open");
    ensure_served_region(&store);
    let objects = store
        .with_conn(|c| {
            Ok(c.query_row("SELECT count(*) FROM scene_objects WHERE region_id = ?1", [REGION.as_bytes()], |r| {
                r.get::<_, i64>(0)
            })?)
        })
        .expect("count");
    drop(store);
    for run in 1..=SERVE_RUNS {
        match serve_once(&bin, dir) {
            Ok((took, rss, peak)) => println!(
                "serve run {run}: {objects} objects, spawn to `dispatcher ready` {:.0} ms; VmRSS {:.1} MiB (peak {:.1} MiB)",
                took.as_secs_f64() * 1e3,
                rss as f64 / 1024.0,
                peak as f64 / 1024.0
            ),
            Err(e) => println!("serve run {run}: failed: {e}"),
        }
    }
}

fn main() {
    if let Ok(dir) = std::env::var(CHILD_DIR_VAR) {
        load_phase(Path::new(&dir));
        return;
    }
    if let Ok(dir) = std::env::var(SERVE_DIR_VAR) {
        serve_phase(Path::new(&dir));
        return;
    }
    let count = std::env::var("LOAD_BENCH_OBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_OBJECTS);
    if let Ok(kept) = std::env::var(SAVE_DIR_VAR) {
        save_phase(Path::new(&kept), count);
        load_in_child(Path::new(&kept));
        serve_phase(Path::new(&kept));
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    save_phase(dir.path(), count);
    load_in_child(dir.path());
    serve_phase(dir.path());
}

fn load_in_child(dir: &Path) {
    let exe = std::env::current_exe().expect("own path");
    let status = Command::new(exe).env(CHILD_DIR_VAR, dir).status().expect("load child");
    assert!(status.success(), "load phase failed");
}
