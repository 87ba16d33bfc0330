//! BulkDynamics throughput, in updates per second (target ≥ 1,000,000/s).
//!
//! Three figures, all in-process over one region of `OBJECTS` objects, each
//! request carrying `BATCH` updates that really move every object:
//! - handler: the typed handler called directly (lock, apply, fan-out,
//!   write-behind marking);
//! - handler + subscriber: the same with one scene-event subscriber draining
//!   the event stream on another thread (as a script host would);
//! - pipeline: JSON bytes through `Dispatcher::handle` (decode, bind, route,
//!   handler, reply encoding).
//!
//! Run: `cargo bench -p dispatcher-remote-control --bench bulk_dynamics`.
//! Knobs: BENCH_SECONDS (default 2 per figure).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dispatcher_dispatch::endpoints::NullSink;
use dispatcher_dispatch::{Account, Directory, DirectoryError, Dispatcher, DispatcherConfig, RequestContext, SceneInfo, Transport};
use dispatcher_protocol::{DecodeLimits, Encoding, WireUuid};
use dispatcher_remote_control::handlers::object::bulk_dynamics;
use dispatcher_remote_control::messages::object::{BulkDynamicsRequest, ObjectDynamicsData};
use dispatcher_remote_control::messages::wire::WireVec3;
use dispatcher_remote_control::RemoteControl;
use dispatcher_scene::{RezParams, SceneLimits, Uuid, Vector3};
use dispatcher_store::{NewAccount, NewRegion, Store};

const OBJECTS: usize = 1_000;
const BATCH: usize = 1_000;
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

fn seconds() -> f64 {
    std::env::var("BENCH_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(2.0)
}

/// The updates of round `round`: every object moves to a fresh position.
fn request(ids: &[Uuid], round: usize) -> BulkDynamicsRequest {
    let x = 10.0 + (round % 200) as f32;
    BulkDynamicsRequest {
        updates: ids
            .iter()
            .cycle()
            .take(BATCH)
            .enumerate()
            .map(|(i, id)| ObjectDynamicsData {
                object_id: WireUuid(*id),
                position: Some(WireVec3::new(x, 10.0 + (i % 200) as f32, 25.0)),
                ..Default::default()
            })
            .collect(),
    }
}

fn report(label: &str, updates: usize, elapsed: Duration) {
    let rate = updates as f64 / elapsed.as_secs_f64();
    println!("{label:<28} {updates:>10} updates in {:>6.2} s = {:>12.0} updates/s", elapsed.as_secs_f64(), rate);
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::open(dir.path()).expect("store"));
    let owner = store
        .create_account(&NewAccount {
            first_name: "Bench".into(),
            last_name: "Owner".into(),
            password: "x".into(),
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
    let config = DispatcherConfig {
        use_authentication: false,
        ..Default::default()
    };
    let dispatcher = Dispatcher::new(config, Arc::new(NoDirectory), Arc::new(NullSink), DecodeLimits::default());
    let rc = RemoteControl::load(store, dispatcher.services().clone(), SceneLimits::default()).expect("load");
    rc.register(dispatcher.registry(), dispatcher_remote_control::DEFAULT_DOMAIN);
    let host = rc.region(REGION).expect("region").clone();

    let fixture = format!("{}/../scene/tests/fixtures/penrose_assets_region_object.xml", env!("CARGO_MANIFEST_DIR"));
    let template = dispatcher_scene::parse_object(&std::fs::read(fixture).expect("fixture"), &SceneLimits::default()).expect("parse");
    let ids: Vec<Uuid> = (0..OBJECTS)
        .map(|i| {
            let params = RezParams {
                position: Vector3::new(10.0, 10.0 + (i % 200) as f32, 20.0),
                ..Default::default()
            };
            host.region
                .write()
                .rez_object(&template, &params, &mut Uuid::new_v4)
                .expect("rez")
                .0
        })
        .collect();

    let ctx = RequestContext {
        type_name: "RemoteControl.Messages.BulkDynamicsRequest",
        scene: REGION.into(),
        domain: "RemoteControl".into(),
        capability: Uuid::nil(),
        user: None,
        source: IpAddr::V4(Ipv4Addr::LOCALHOST),
        transport: Transport::Script,
        services: dispatcher.services().clone(),
    };
    let budget = Duration::from_secs_f64(seconds());
    println!("BulkDynamics: {OBJECTS} objects, {BATCH} updates per request");

    let run_handler = |label: &str| {
        let requests: Vec<BulkDynamicsRequest> = (0..64).map(|r| request(&ids, r)).collect();
        let (mut updates, mut round, started) = (0usize, 0usize, Instant::now());
        while started.elapsed() < budget {
            let done = bulk_dynamics(&rc, &host, &ctx, requests[round % requests.len()].clone()).expect("reply");
            assert!(done.message.is_empty(), "{}", done.message);
            updates += BATCH;
            round += 1;
        }
        report(label, updates, started.elapsed());
    };
    // Reference: the scene model's own cost, without the handler around it.
    {
        let requests: Vec<BulkDynamicsRequest> = (0..64).map(|r| request(&ids, r)).collect();
        let (mut updates, mut round, started) = (0usize, 0usize, Instant::now());
        while started.elapsed() < budget {
            let mut region = host.region.write();
            for entry in &requests[round % requests.len()].updates {
                std::hint::black_box(region.apply_dynamics(&entry.update()).expect("apply"));
            }
            updates += BATCH;
            round += 1;
        }
        report("scene apply_dynamics only", updates, started.elapsed());
    }
    run_handler("handler");

    let events = dispatcher.services().events.subscribe(65_536);
    let stop = Arc::new(AtomicBool::new(false));
    let drain_stop = stop.clone();
    let drainer = std::thread::spawn(move || {
        let mut seen = 0u64;
        while !drain_stop.load(Ordering::Relaxed) {
            while events.events.try_recv().is_ok() {
                seen += 1;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        (seen, events.dropped())
    });
    run_handler("handler + event subscriber");
    stop.store(true, Ordering::Relaxed);
    let (seen, dropped) = drainer.join().expect("drainer");
    println!("{:<28} {seen} events received, {dropped} dropped by the bounded queue", "");

    let bodies: Vec<Vec<u8>> = (0..64)
        .map(|r| {
            let updates: Vec<String> = request(&ids, r)
                .updates
                .iter()
                .map(|u| {
                    let p = u.position.map(|p| p.0).unwrap_or_default();
                    format!(r#"{{"ObjectID":"{}","Position":[{},{},{}]}}"#, u.object_id, p.x, p.y, p.z)
                })
                .collect();
            format!(
                r#"{{"$type":"RemoteControl.Messages.BulkDynamicsRequest","_Domain":"RemoteControl","_Scene":"{REGION}","_AsyncRequest":false,"Updates":[{}]}}"#,
                updates.join(",")
            )
            .into_bytes()
        })
        .collect();
    let transport = Transport::Http {
        path_domain: String::new(),
    };
    let (mut updates, mut round, started) = (0usize, 0usize, Instant::now());
    while started.elapsed() < budget {
        let reply = dispatcher
            .handle(&bodies[round % bodies.len()], Encoding::Json, IpAddr::V4(Ipv4Addr::LOCALHOST), transport.clone())
            .expect("synchronous reply");
        assert!(reply.is_success(), "{reply:?}");
        updates += BATCH;
        round += 1;
    }
    report("pipeline (JSON bytes)", updates, started.elapsed());
    rc.flush();
}
