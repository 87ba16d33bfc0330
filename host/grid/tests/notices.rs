//! Extension change notices between hosts, and the re-read after the notice
//! connection was down (notices sent meanwhile are lost to that host).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use dispatcher_grid::{ExtensionChange, Grid};
use dispatcher_pgtest::{PgServer, DATABASE};
use parking_lot::Mutex;
use uuid::Uuid;

async fn within(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extension_changes_are_heard_and_a_dropped_notice_connection_asks_for_a_full_reread() {
    let pg = PgServer::start_new().expect("start PostgreSQL");
    let a = Grid::connect(&config(&pg.url(), "sim-a", 2)).await.expect("connect a");
    let b = Grid::connect(&config(&pg.url(), "sim-b", 2)).await.expect("connect b");
    let heard = Arc::new(Mutex::new(Vec::new()));
    let sink = heard.clone();
    b.on_extension_change(Arc::new(move |change| sink.lock().push(change)));
    let own = Arc::new(Mutex::new(Vec::new()));
    let own_sink = own.clone();
    a.on_extension_change(Arc::new(move |change| own_sink.lock().push(change)));
    // Let both notice connections LISTEN before changes start.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let id = Uuid::new_v4();
    a.announce_extension(id);
    assert!(
        within(Duration::from_secs(2), || heard.lock().contains(&ExtensionChange::One(id))).await,
        "B did not hear A's change: {:?}",
        heard.lock()
    );
    // The first connection is no reconnection, and a host does not hear itself.
    assert!(!heard.lock().contains(&ExtensionChange::All), "{:?}", heard.lock());
    assert!(own.lock().is_empty(), "A heard its own notice: {:?}", own.lock());

    // Cut every LISTEN connection: both hosts reconnect and, having possibly
    // missed notices, are told to read every record again.
    let cut = pg
        .psql(DATABASE, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'")
        .expect("terminate the listeners");
    assert_ne!(cut.trim(), "0", "no LISTEN connection found to cut");
    assert!(
        within(Duration::from_secs(5), || heard.lock().contains(&ExtensionChange::All)).await,
        "B was not asked to re-read after its notice connection came back: {:?}",
        heard.lock()
    );
    assert!(within(Duration::from_secs(5), || own.lock().contains(&ExtensionChange::All)).await);
    // Notices flow again after the reconnection.
    let again = Uuid::new_v4();
    a.announce_extension(again);
    assert!(within(Duration::from_secs(2), || heard.lock().contains(&ExtensionChange::One(again))).await);
}
