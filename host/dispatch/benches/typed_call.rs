//! The pipeline's own cost per request, typed entry against byte entry, for a
//! granted `GetObjectPositionRequest` (the call behind a script's
//! `objects.get-position`) and for a refused one (capability without the
//! domain). The handler is a stand-in doing what the real one does (a read
//! lock and a map lookup), so the figures are the pipeline's: admission
//! (capability, registry lookup), context, panic guard, statistics, and for
//! the byte entry decode, bind and reply encoding. Heap allocations per call
//! are counted by a counting allocator.
//!
//! Run: `cargo bench -p dispatcher-dispatch --bench typed_call`
//! (`--profile dev` for a quick look). Knobs: BENCH_CALLS (default 1,000,000),
//! BENCH_ONLY=typed (the typed entry only, for profiling).

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dispatcher_dispatch::endpoints::NullSink;
use dispatcher_dispatch::{
    Account, Caller, Directory, DirectoryError, Dispatcher, DispatcherConfig, HandlerError, RequestContext, SceneInfo, Transport,
};
use dispatcher_messages::remote_control::object::{GetObjectPositionRequest, ObjectPositionResponse};
use dispatcher_messages::remote_control::wire::WireVec3;
use dispatcher_protocol::{DecodeLimits, Encoding, WireUuid};
use parking_lot::RwLock;
use uuid::Uuid;

/// Counts heap allocations, then hands them to the system allocator.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator, which
// upholds GlobalAlloc's contract; the counter has no effect on the memory.
#[allow(unsafe_code, reason = "a counting allocator must implement the unsafe GlobalAlloc trait")]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's layout contract is passed through as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout (above).
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const REGION: &str = "Bench Region";

struct NoDirectory;

impl Directory for NoDirectory {
    fn scenes(&self) -> Result<Vec<SceneInfo>, DirectoryError> {
        Ok(Vec::new())
    }
    fn account_by_id(&self, _: Uuid) -> Result<Option<Account>, DirectoryError> {
        Ok(None)
    }
    fn account_by_name(&self, _: &str, _: &str) -> Result<Option<Account>, DirectoryError> {
        Ok(None)
    }
    fn account_by_email(&self, _: &str) -> Result<Option<Account>, DirectoryError> {
        Ok(None)
    }
}

fn calls() -> u64 {
    std::env::var("BENCH_CALLS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000)
}

/// Run `f` `n` times; print the time and the allocations per call.
fn measure(label: &str, n: u64, mut f: impl FnMut()) {
    for _ in 0..n / 10 {
        f();
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let started = Instant::now();
    for _ in 0..n {
        f();
    }
    let elapsed: Duration = started.elapsed();
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    println!(
        "{label:<44} {:>8.0} ns/call  {:>5.1} allocations/call",
        elapsed.as_nanos() as f64 / n as f64,
        allocations as f64 / n as f64
    );
}

fn main() {
    let dispatcher = Dispatcher::new(DispatcherConfig::default(), Arc::new(NoDirectory), Arc::new(NullSink), DecodeLimits::default());
    let object = Uuid::new_v4();
    let positions: Arc<RwLock<HashMap<Uuid, WireVec3>>> =
        Arc::new(RwLock::new(HashMap::from([(object, WireVec3::new(128.0, 128.0, 20.0))])));
    // Registered per region, as the RemoteControl domain does it.
    for region in ["Other Region", REGION] {
        let positions = positions.clone();
        dispatcher
            .registry()
            .register(Some(region), "RemoteControl", move |_: &RequestContext, r: GetObjectPositionRequest| {
                let position = *positions
                    .read()
                    .get(&r.object_id.0)
                    .ok_or_else(|| HandlerError::NotFound("no such object".into()))?;
                Ok(ObjectPositionResponse {
                    object_id: r.object_id,
                    position,
                })
            });
    }
    let caps = &dispatcher.services().capabilities;
    let user = Uuid::new_v4();
    let granted = caps
        .create(user, "Bench Owner".into(), REGION.into(), vec!["RemoteControl".into()], Duration::ZERO)
        .id;
    let refused = caps
        .create(user, "Bench Owner".into(), REGION.into(), vec!["Scripting".into()], Duration::ZERO)
        .id;
    let source = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let caller = |capability| Caller {
        scene: REGION.into(),
        capability,
        source,
        transport: Transport::Script,
    };
    let (granted_caller, refused_caller) = (caller(granted), caller(refused));
    let n = calls();
    println!("pipeline cost per GetObjectPositionRequest, {n} calls each");

    // Calibration: what the machine charges for a clock read (the pipeline
    // reads it for the capability's idle timer and for the statistics).
    measure("calibration: Instant::now()", n, || {
        std::hint::black_box(Instant::now());
    });
    measure("typed entry, granted (Dispatcher::call)", n, || {
        let reply = dispatcher
            .call(
                granted_caller.clone(),
                GetObjectPositionRequest {
                    object_id: WireUuid(object),
                },
            )
            .expect("granted");
        std::hint::black_box(reply);
    });
    measure("typed entry, refused (domain)", n, || {
        let failure = dispatcher
            .call(
                refused_caller.clone(),
                GetObjectPositionRequest {
                    object_id: WireUuid(object),
                },
            )
            .expect_err("refused");
        std::hint::black_box(failure);
    });
    let body = |capability: Uuid| {
        format!(
            r#"{{"$type":"RemoteControl.Messages.GetObjectPositionRequest","_Domain":"RemoteControl","_Scene":"{REGION}","_Capability":"{capability}","ObjectID":"{object}"}}"#
        )
        .into_bytes()
    };
    let (granted_body, refused_body) = (body(granted), body(refused));
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "typed") {
        return;
    }
    measure("byte entry, granted (handle, JSON in and out)", n, || {
        let reply = dispatcher
            .handle(&granted_body, Encoding::Json, source, Transport::Script)
            .expect("reply");
        assert!(reply.is_success());
        std::hint::black_box(reply.encode(Encoding::Json));
    });
    measure("byte entry, refused (domain)", n, || {
        let reply = dispatcher
            .handle(&refused_body, Encoding::Json, source, Transport::Script)
            .expect("reply");
        std::hint::black_box(reply.encode(Encoding::Json));
    });
    dispatcher.shutdown();
}
