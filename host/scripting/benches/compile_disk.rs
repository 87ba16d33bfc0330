//! Compile and disk benchmark (issue "Close the sandbox", findings 7 and 8):
//! time to refuse the 100,000-function component, compile time and peak
//! resident memory of the largest allowed one, resident memory after its
//! removal, and the data directory's bytes after 1,000 distinct and 1,000
//! identical upload/remove cycles. A plain program (`harness = false`):
//!
//!     cargo bench -p dispatcher-scripting --bench compile_disk
//!     # BENCH_CYCLES (default 1000) sets the number of cycles
//!
//! Uploads go through the `Scripting` messages of a real `Dispatcher` and a
//! `ScriptHost` in process with the real SQLite store; the component is the
//! real counter guest (distinct copies differ by a custom section).

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use dispatcher_dispatch::directory::{Account, Directory, DirectoryError, SceneInfo};
use dispatcher_dispatch::endpoints::NullSink;
use dispatcher_dispatch::{Dispatcher, DispatcherConfig, Transport};
use dispatcher_protocol::{DecodeLimits, Encoding};
use dispatcher_scripting::{ObjectFacts, SceneHooks, ScriptHost, ScriptingLimits};
use dispatcher_store::Store;
use serde_json::{json, Value};
use uuid::Uuid;

const REGION: &str = "Bench";
const OWNER: Uuid = Uuid::from_u128(0xada);

struct Dir;

impl Directory for Dir {
    fn scenes(&self) -> Result<Vec<SceneInfo>, DirectoryError> {
        Ok(vec![SceneInfo {
            id: Uuid::from_u128(1),
            name: REGION.into(),
            estate_owner: OWNER,
            estate_managers: vec![],
        }])
    }
    fn account_by_id(&self, id: Uuid) -> Result<Option<Account>, DirectoryError> {
        Ok((id == OWNER).then(|| Account {
            id,
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            email: String::new(),
            level: 0,
            password_hash: String::new(),
            password_salt: String::new(),
        }))
    }
    fn account_by_name(&self, _: &str, _: &str) -> Result<Option<Account>, DirectoryError> {
        Ok(None)
    }
    fn account_by_email(&self, _: &str) -> Result<Option<Account>, DirectoryError> {
        Ok(None)
    }
}

struct AnyObject;

impl SceneHooks for AnyObject {
    fn object(&self, _region: &str, _object_id: Uuid) -> Option<ObjectFacts> {
        Some(ObjectFacts {
            owner_id: OWNER,
            position: [128.0, 128.0, 20.0],
        })
    }
}

struct Bench {
    dispatcher: Dispatcher,
    _host: ScriptHost,
    cap: Uuid,
    dir: tempfile::TempDir,
}

impl Bench {
    fn new() -> Bench {
        let dir = tempfile::tempdir().expect("tempdir");
        let dispatcher = Dispatcher::new(DispatcherConfig::default(), Arc::new(Dir), Arc::new(NullSink), DecodeLimits::default());
        let store = Arc::new(Store::open(dir.path()).expect("store"));
        let host = ScriptHost::start(dispatcher.clone(), store, dir.path(), ScriptingLimits::default(), Some(Arc::new(AnyObject)))
            .expect("script host");
        let cap = dispatcher
            .services()
            .capabilities
            .create(OWNER, "Ada Lovelace".into(), REGION.into(), vec!["Scripting".into()], Duration::from_secs(36_000))
            .id;
        Bench {
            dispatcher,
            _host: host,
            cap,
            dir,
        }
    }

    fn call(&self, mut request: Value) -> Value {
        request["_Scene"] = json!(REGION);
        request["_Capability"] = json!(self.cap.to_string());
        request["_Domain"] = json!("Scripting");
        let bytes = serde_json::to_vec(&request).expect("json");
        let reply = self
            .dispatcher
            .handle(
                &bytes,
                Encoding::Json,
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                Transport::Http {
                    path_domain: String::new(),
                },
            )
            .expect("reply");
        serde_json::from_slice(&reply.encode(Encoding::Json)).expect("reply json")
    }

    fn upload(&self, component: &[u8]) -> Value {
        self.call(json!({
            "$type": "Scripting.Messages.UploadScriptRequest",
            "ObjectID": Uuid::from_u128(0x0b1ec7).to_string(),
            "Name": "bench",
            "Component": base64::engine::general_purpose::STANDARD.encode(component),
            "Grants": [],
        }))
    }

    fn remove(&self, script: &Value) {
        let reply = self.call(json!({ "$type": "Scripting.Messages.RemoveScriptRequest", "ScriptID": script }));
        assert_eq!(reply["_Success"], 1, "{reply}");
    }
}

/// `VmRSS` or `VmHWM` of this process, in MiB.
fn status_mib(field: &str) -> f64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Reset the peak resident size (`VmHWM`) to the current one.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}

/// A component of `functions` small distinct functions in one core module.
fn many_functions(functions: usize) -> Vec<u8> {
    let mut wat = String::from("(component (core module\n");
    for i in 0..functions {
        wat.push_str(&format!("(func (result i32) i32.const {i})\n"));
    }
    wat.push_str("))");
    wat::parse_str(&wat).expect("generated component")
}

/// The same component with a custom section appended (another hash).
fn variant(component: &[u8], n: u32) -> Vec<u8> {
    let mut out = component.to_vec();
    out.extend_from_slice(&[0, 12, 7]);
    out.extend_from_slice(b"variant");
    out.extend_from_slice(&n.to_le_bytes());
    out
}

fn main() {
    let cycles: u32 = std::env::var("BENCH_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let bench = Bench::new();
    let limit = ScriptingLimits::default().max_component_functions;

    // Finding 7: refusal before compiling.
    let hostile = many_functions(100_000);
    reset_peak();
    let rss0 = status_mib("VmRSS:");
    let started = Instant::now();
    let reply = bench.upload(&hostile);
    let took = started.elapsed();
    assert_eq!(reply["_Success"], 0, "{reply}");
    println!(
        "100,000-function component ({} KB): refused in {:.1} ms, peak RSS +{:.1} MiB: {}",
        hostile.len() / 1024,
        took.as_secs_f64() * 1e3,
        status_mib("VmHWM:") - rss0,
        reply["_Message"].as_str().unwrap_or("")
    );

    // The largest allowed: as many functions as MaxComponentFunctions allows
    // (less the canonical ones a component needs; this one has none).
    let largest = many_functions(limit);
    reset_peak();
    let rss0 = status_mib("VmRSS:");
    let started = Instant::now();
    let reply = bench.upload(&largest);
    let took = started.elapsed();
    // It exports no handlers: refused after compiling in full.
    assert!(reply["_Message"].as_str().unwrap_or("").contains("does not export"), "{reply}");
    // The compile thread hands the freed heap back just after replying.
    std::thread::sleep(Duration::from_millis(500));
    println!(
        "{limit}-function component ({} KB, the largest allowed): compiled in {:.2} s, peak RSS +{:.1} MiB, RSS after {:+.1} MiB",
        largest.len() / 1024,
        took.as_secs_f64(),
        status_mib("VmHWM:") - rss0,
        status_mib("VmRSS:") - rss0
    );

    // Finding 8: upload/remove cycles.
    let counter = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guest-examples/out/counter.wasm"))
        .expect("guest-examples/out/counter.wasm (guest-examples/build.sh counter)");
    let warm = bench.upload(&variant(&counter, u32::MAX));
    bench.remove(&warm["ScriptID"]);
    let start = dir_bytes(bench.dir.path());
    let rss_start = status_mib("VmRSS:");
    let started = Instant::now();
    for n in 0..cycles {
        let reply = bench.upload(&variant(&counter, n));
        assert_eq!(reply["_Success"], 1, "{reply}");
        bench.remove(&reply["ScriptID"]);
    }
    let distinct = dir_bytes(bench.dir.path());
    println!(
        "{cycles} distinct upload/remove cycles in {:.1} s: data directory {start} -> {distinct} bytes ({:+.3} MB; target within 1 MB), RSS {:+.1} MiB",
        started.elapsed().as_secs_f64(),
        (distinct as f64 - start as f64) / 1e6,
        status_mib("VmRSS:") - rss_start
    );
    let started = Instant::now();
    for _ in 0..cycles {
        let reply = bench.upload(&counter);
        assert_eq!(reply["_Success"], 1, "{reply}");
        bench.remove(&reply["ScriptID"]);
    }
    let identical = dir_bytes(bench.dir.path());
    println!(
        "{cycles} identical upload/remove cycles in {:.1} s: data directory {start} -> {identical} bytes ({:+.3} MB)",
        started.elapsed().as_secs_f64(),
        (identical as f64 - start as f64) / 1e6
    );
}
