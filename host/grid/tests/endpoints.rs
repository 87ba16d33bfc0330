//! Grid-wide callback endpoints: two hosts, two endpoint registries, one database.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use dispatcher_dispatch::endpoints::{CallbackSink, EndpointError, UnknownEndpoint};
use dispatcher_dispatch::EndpointRegistry;
use dispatcher_grid::Grid;
use dispatcher_pgtest::{PgServer, DATABASE};
use parking_lot::Mutex;
use uuid::Uuid;

/// Records where each datagram went.
#[derive(Default)]
struct Recording(Mutex<Vec<SocketAddr>>);

impl CallbackSink for Recording {
    fn send(&self, to: SocketAddr, _datagram: &[u8]) {
        self.0.lock().push(to);
    }
}

struct Host {
    _grid: Grid,
    registry: Arc<EndpointRegistry>,
    sink: Arc<Recording>,
}

async fn host(pg: &PgServer, name: &str) -> Host {
    let grid = Grid::connect(&config(&pg.url(), name, 2)).await.expect("connect");
    let sink = Arc::new(Recording::default());
    let registry = Arc::new(EndpointRegistry::new(sink.clone(), Duration::from_millis(1000)));
    registry.set_backing(grid.endpoint_backing()).expect("backing");
    assert!(registry.set_backing(grid.endpoint_backing()).is_err(), "a second backing is refused");
    Host {
        _grid: grid,
        registry,
        sink,
    }
}

async fn two_hosts(pg: &PgServer) -> (Host, Host) {
    let a = host(pg, "sim-a").await;
    let b = host(pg, "sim-b").await;
    // Let both notice connections LISTEN before changes start.
    tokio::time::sleep(Duration::from_millis(300)).await;
    (a, b)
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

fn addr() -> SocketAddr {
    "127.0.0.1:41234".parse().expect("addr")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_renew_close_on_one_host_take_effect_on_the_other() {
    let pg = PgServer::start_new().expect("start PostgreSQL");
    let (a, b) = two_hosts(&pg).await;
    let owner = Uuid::new_v4();
    let ep = a.registry.try_create_for(addr(), Some(owner), None, 60_000).expect("create");
    // B never saw it: a callback there reads it from the grid and reaches its address.
    assert!(b.registry.send(ep.id, b"hello"), "B delivers to an endpoint created on A");
    assert_eq!(b.sink.0.lock().as_slice(), &[addr()]);
    // Another account cannot renew it on B either.
    assert_eq!(
        b.registry.try_renew(ep.id, Some(Uuid::new_v4()), 60_000).err(),
        Some(EndpointError::Unknown(UnknownEndpoint(ep.id)))
    );
    // Renew on B: A drops its copy within a second and reads the new lifespan.
    let renewed = b.registry.try_renew(ep.id, Some(owner), 120_000).expect("renew on B");
    assert_eq!(renewed.lifespan, Duration::from_secs(120));
    let took = within(Duration::from_secs(1), || a.registry.get(ep.id).is_none()).await;
    assert!(took.is_some(), "A kept its old copy after 1 s");
    assert!(a.registry.exists(ep.id));
    assert_eq!(a.registry.get(ep.id).map(|e| e.lifespan), Some(Duration::from_secs(120)));
    // Close on A: B refuses within a second.
    a.registry.try_close(ep.id, Some(owner)).expect("close on A");
    let took = within(Duration::from_secs(1), || !b.registry.exists(ep.id)).await;
    assert!(took.is_some(), "B still knows a closed endpoint after 1 s");
    assert!(!b.registry.send(ep.id, b"late"));
    assert_eq!(
        b.registry.try_renew(ep.id, Some(owner), 1000).err(),
        Some(EndpointError::Unknown(UnknownEndpoint(ep.id)))
    );
    assert_eq!(b.registry.try_close(ep.id, Some(owner)), Err(EndpointError::Unknown(UnknownEndpoint(ep.id))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_expire_with_the_lifespan_and_go_with_their_capability() {
    let pg = PgServer::start_new().expect("start PostgreSQL");
    let (a, b) = two_hosts(&pg).await;
    let short = a.registry.try_create_for(addr(), None, None, 1000).expect("create");
    let count = |pg: &PgServer| -> i64 {
        pg.psql(DATABASE, "SELECT count(*) FROM grid_endpoints WHERE expires > now()")
            .expect("count")
            .parse()
            .expect("number")
    };
    assert_eq!(count(&pg), 1);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(count(&pg), 0, "the row outlived its lifespan");
    assert!(!b.registry.exists(short.id), "B reads an expired endpoint");
    // Closing a capability closes its endpoints on every host.
    let cap = Uuid::new_v4();
    let mine = a.registry.try_create_for(addr(), None, Some(cap), 60_000).expect("create");
    let other = a
        .registry
        .try_create_for(addr(), None, Some(Uuid::new_v4()), 60_000)
        .expect("create");
    assert!(b.registry.exists(mine.id) && b.registry.exists(other.id));
    assert_eq!(a.registry.close_for_capability(cap), vec![mine.id]);
    let took = within(Duration::from_secs(1), || !b.registry.exists(mine.id)).await;
    assert!(took.is_some(), "B still knows an endpoint of a closed capability after 1 s");
    assert!(b.registry.exists(other.id));
    assert_eq!(count(&pg), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_database_gone_nothing_is_acknowledged_unwritten() {
    let mut pg = PgServer::start_new().expect("start PostgreSQL");
    let (a, _b) = two_hosts(&pg).await;
    let ep = a.registry.try_create_for(addr(), None, None, 60_000).expect("create");
    tokio::task::block_in_place(|| pg.stop()).expect("stop");
    let err = a
        .registry
        .try_create_for(addr(), None, None, 60_000)
        .expect_err("no endpoint without the database");
    assert!(err.to_string().contains("grid endpoint store"), "{err}");
    assert_eq!(a.registry.len(), 1, "the failed create left nothing behind");
    assert!(matches!(a.registry.try_renew(ep.id, None, 90_000), Err(EndpointError::Backing(_))));
    assert_eq!(a.registry.get(ep.id).map(|e| e.lifespan), Some(Duration::from_secs(60)), "renewal rolled back");
    assert!(matches!(a.registry.try_close(ep.id, None), Err(EndpointError::Backing(_))));
    assert!(a.registry.send(ep.id, b"still here"), "a cached endpoint keeps receiving callbacks");
    tokio::task::block_in_place(|| pg.start()).expect("start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_to_an_unknown_endpoint_read_the_database_once_until_a_create_notice() {
    let pg = PgServer::start_new().expect("start PostgreSQL");
    let grid = Grid::connect(&config(&pg.url(), "sim-a", 2)).await.expect("connect");
    let backing = grid.endpoint_backing();
    let registry = Arc::new(EndpointRegistry::new(Arc::new(Recording::default()), Duration::from_millis(1000)));
    registry.set_backing(backing.clone()).expect("backing");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let unknown = Uuid::new_v4();
    let reg = registry.clone();
    let sends = tokio::task::spawn_blocking(move || (0..50).filter(|_| reg.send(unknown, b"x")).count())
        .await
        .expect("sends");
    assert_eq!(sends, 0, "nothing is delivered to an unknown endpoint");
    assert_eq!(backing.lookups(), 1, "fifty sends to one unknown endpoint cost one database look-up");
    // Another host creates it (a row and its `ep:` notice): the miss is forgotten at once.
    pg.psql(
        DATABASE,
        &format!(
            "INSERT INTO grid_endpoints (id, addr, owner_id, capability, lifespan_ms, expires) \
             VALUES ('{unknown}', '{}', NULL, NULL, 60000, now() + interval '60 seconds'); \
             SELECT pg_notify('grid_changes', 'ep:{unknown}@{}')",
            addr(),
            Uuid::new_v4()
        ),
    )
    .expect("create elsewhere");
    let reg = registry.clone();
    let seen = within(Duration::from_millis(800), move || reg.send(unknown, b"x")).await;
    assert!(seen.is_some(), "the create notice ends the negative cache before its TTL");
    assert_eq!(backing.lookups(), 2);
    // Without a notice, a miss is believed only for MISS_TTL.
    let other = Uuid::new_v4();
    assert!(!registry.send(other, b"x"));
    assert!(!registry.send(other, b"x"));
    assert_eq!(backing.lookups(), 3);
    tokio::time::sleep(dispatcher_grid::endpoints::MISS_TTL + Duration::from_millis(50)).await;
    assert!(!registry.send(other, b"x"));
    assert_eq!(backing.lookups(), 4, "looked up again after the TTL");
}
