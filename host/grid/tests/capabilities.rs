//! Grid-wide capabilities: two hosts, two capability stores, one database.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use dispatcher_dispatch::capabilities::AuthFailure;
use dispatcher_dispatch::CapabilityStore;
use dispatcher_grid::Grid;
use dispatcher_pgtest::{PgServer, DATABASE};
use uuid::Uuid;

async fn two_hosts(pg: &PgServer) -> (Grid, Arc<CapabilityStore>, Grid, Arc<CapabilityStore>) {
    let a = Grid::connect(&config(&pg.url(), "sim-a", 2)).await.expect("connect a");
    let b = Grid::connect(&config(&pg.url(), "sim-b", 2)).await.expect("connect b");
    let store_a = Arc::new(CapabilityStore::new());
    store_a.set_backing(a.capability_backing()).expect("backing a");
    let store_b = Arc::new(CapabilityStore::new());
    store_b.set_backing(b.capability_backing()).expect("backing b");
    // Let both notice connections LISTEN before changes start.
    tokio::time::sleep(Duration::from_millis(300)).await;
    (a, store_a, b, store_b)
}

/// Poll `check` every 20 ms until it holds; the time it took, or None after `limit`.
async fn within(limit: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_renew_destroy_on_one_host_take_effect_on_the_other() {
    let pg = PgServer::start_new().expect("start PostgreSQL");
    let (_a, store_a, b, store_b) = two_hosts(&pg).await;
    let cap = store_a
        .try_create(
            Uuid::new_v4(),
            "Ada Lovelace".into(),
            "Region".into(),
            vec!["RemoteControl".into()],
            Duration::from_secs(60),
        )
        .expect("create");
    // B never saw it: it reads it from the grid, domain and scene checks included.
    let seen = store_b.authorize(cap.id, "RemoteControl", "Region").expect("authorised on B");
    assert_eq!((seen.user_name.as_str(), seen.lifespan), ("Ada Lovelace", Duration::from_secs(60)));
    assert_eq!(store_b.authorize(cap.id, "Other", "Region").err(), Some(AuthFailure::Domain));
    assert_eq!(store_b.authorize(cap.id, "RemoteControl", "Elsewhere").err(), Some(AuthFailure::Scene));
    assert_eq!(store_b.authorize(Uuid::new_v4(), "Dispatcher", "").err(), Some(AuthFailure::NoSuchCapability));
    // Renew on A: B's cached copy is replaced within a second.
    store_a.try_renew(cap.id, Duration::from_secs(120)).expect("renew").expect("known");
    let took = within(Duration::from_secs(1), || {
        store_b.authorize(cap.id, "Dispatcher", "").map(|c| c.lifespan) == Ok(Duration::from_secs(120))
    })
    .await;
    assert!(took.is_some(), "B did not see the renewal within 1 s");
    // Destroy on A: B refuses within a second.
    assert!(store_a.try_destroy(cap.id).expect("destroy"));
    let took = within(Duration::from_secs(1), || store_b.authorize(cap.id, "Dispatcher", "").is_err()).await;
    assert!(took.is_some(), "B still accepts a destroyed capability after 1 s");
    assert!(!store_a.try_destroy(cap.id).expect("second destroy"), "already gone");
    assert_eq!(b.status().await.expect("status").live_capabilities, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capability_destroyed_on_b_is_gone_on_a_and_use_slides_its_expiry() {
    let pg = PgServer::start_new().expect("start PostgreSQL");
    let (_a, store_a, _b, store_b) = two_hosts(&pg).await;
    let cap = store_a
        .try_create(Uuid::new_v4(), "Ada Lovelace".into(), "Region".into(), vec![], Duration::from_secs(3))
        .expect("create");
    let expires = |pg: &PgServer| -> f64 {
        pg.psql(
            DATABASE,
            &format!("SELECT EXTRACT(EPOCH FROM expires) FROM grid_capabilities WHERE id = '{}'", cap.id),
        )
        .expect("expiry")
        .parse()
        .expect("number")
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = expires(&pg);
    // A use on B slides the expiry in the database (batched, within about a second).
    store_b.authorize(cap.id, "Dispatcher", "").expect("use on B");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let after = expires(&pg);
    // Used about 1.5 s after creation: the expiry moved by about that much.
    assert!(after > before + 1.0, "use did not slide the expiry: {before} → {after}");
    // Past A's local copy's lifespan, A still accepts it because B kept it alive.
    tokio::time::sleep(Duration::from_millis(600)).await;
    store_a.authorize(cap.id, "Dispatcher", "").expect("kept alive by B's use");
    assert!(store_b.try_destroy(cap.id).expect("destroy on B"));
    let took = within(Duration::from_secs(1), || store_a.authorize(cap.id, "Dispatcher", "").is_err()).await;
    assert!(took.is_some(), "A still accepts it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_database_gone_writes_fail_clearly_and_cached_capabilities_still_work() {
    let mut pg = PgServer::start_new().expect("start PostgreSQL");
    let (_a, store_a, _b, _store_b) = two_hosts(&pg).await;
    let cap = store_a
        .try_create(Uuid::new_v4(), "Ada Lovelace".into(), "Region".into(), vec![], Duration::from_secs(60))
        .expect("create");
    tokio::task::block_in_place(|| pg.stop()).expect("stop");
    let started = Instant::now();
    let err = store_a
        .try_create(Uuid::new_v4(), "Ada Lovelace".into(), "Region".into(), vec![], Duration::from_secs(60))
        .expect_err("nothing issued without the database");
    assert!(started.elapsed() < Duration::from_secs(7), "took {:?}", started.elapsed());
    assert!(err.to_string().contains("grid"), "{err}");
    assert!(store_a.authorize(cap.id, "Dispatcher", "").is_ok(), "a cached capability keeps working");
    assert!(
        store_a.try_renew(cap.id, Duration::from_secs(30)).is_err(),
        "a renewal is not acknowledged unwritten"
    );
    tokio::task::block_in_place(|| pg.start()).expect("start");
}
