//! Region leases against a real PostgreSQL: one owner per region, limits,
//! preferences, takeover after a crash, graceful hand-over, fencing of a
//! paused host, and the database going away.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::*;
use dispatcher_grid::{Grid, LeaseEvent, LeaseTask, RegionRef};
use dispatcher_pgtest::{PgServer, DATABASE};

const LEASE: u64 = 2;

fn server() -> PgServer {
    PgServer::start_new().expect("start PostgreSQL")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_region_gets_exactly_one_owner() {
    let pg = server();
    let list = regions(&["One", "Two", "Three", "Four", "Five", "Six"]);
    let mut grids = Vec::new();
    for name in ["sim-a", "sim-b", "sim-c"] {
        grids.push(Grid::connect(&config(&pg.url(), name, LEASE)).await.expect("connect"));
    }
    let mut tasks: Vec<_> = grids.iter().map(|g| g.run_leases(source(&list))).collect();
    // Three lease periods: every region claimed, and nothing moves afterwards.
    let mut owners: HashMap<uuid::Uuid, Vec<String>> = HashMap::new();
    for (grid, task) in grids.iter().zip(tasks.iter_mut()) {
        for e in events_for(task, Duration::from_secs(3 * LEASE)).await {
            match e {
                LeaseEvent::Acquired { region_id, .. } => owners.entry(region_id).or_default().push(grid.host_name().into()),
                LeaseEvent::Lost { region_id, .. } => panic!("{} lost {region_id} with nobody failing", grid.host_name()),
            }
        }
    }
    assert_eq!(owners.len(), list.len(), "every region owned: {owners:?}");
    for (region, hosts) in &owners {
        assert_eq!(hosts.len(), 1, "region {region} acquired more than once: {hosts:?}");
        let row = pg
            .psql(DATABASE, &format!("SELECT host || ' ' || epoch FROM grid_leases WHERE region_id = '{region}'"))
            .expect("row");
        assert_eq!(row, format!("{} 1", hosts[0]));
        for grid in &grids {
            grid.refresh_owners().await.expect("refresh");
            assert_eq!(grid.owner_of(*region).map(|o| o.host), Some(hosts[0].clone()));
        }
    }
    let held: usize = grids.iter().map(|g| g.held_regions().len()).sum();
    assert_eq!(held, list.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_regions_is_respected() {
    let pg = server();
    let list = regions(&["R1", "R2", "R3", "R4", "R5"]);
    let mut small = config(&pg.url(), "small", LEASE);
    small.max_regions = 2;
    let a = Grid::connect(&small).await.expect("connect a");
    let mut ta = a.run_leases(source(&list));
    let first = events_for(&mut ta, Duration::from_secs(2)).await;
    assert_eq!(acquired(&first).len(), 2, "MaxRegions = 2: {first:?}");
    let b = Grid::connect(&config(&pg.url(), "big", LEASE)).await.expect("connect b");
    let mut tb = b.run_leases(source(&list));
    let (got, _) = wait_events(&mut tb, 3, Duration::from_secs(4)).await;
    assert_eq!(acquired(&got).len(), 3, "the rest goes to the host with room: {got:?}");
    let later = events_for(&mut ta, Duration::from_secs(LEASE)).await;
    assert!(later.is_empty(), "the limited host took no more: {later:?}");
    assert_eq!(a.held_regions().len(), 2);
    assert_eq!(
        pg.psql(DATABASE, "SELECT count(*) FROM grid_leases WHERE host = 'small'")
            .expect("count"),
        "2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preferred_regions_go_to_the_host_preferring_them() {
    let pg = server();
    let list = regions(&["Harbor Island", "Test Region", "Meadow"]);
    let mut ca = config(&pg.url(), "sim-a", LEASE);
    ca.preferred_regions = vec!["harbor island".into(), "Test Region".into()];
    let mut cb = config(&pg.url(), "sim-b", LEASE);
    cb.preferred_regions = vec!["Meadow".into()];
    let a = Grid::connect(&ca).await.expect("connect a");
    let b = Grid::connect(&cb).await.expect("connect b");
    // B starts claiming first and still leaves A's preferred regions to A.
    let mut tb = b.run_leases(source(&list));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut ta = a.run_leases(source(&list));
    let got_b = events_for(&mut tb, Duration::from_secs(2 * LEASE)).await;
    let got_a = events_for(&mut ta, Duration::from_millis(100)).await;
    let names = |ids: Vec<(uuid::Uuid, i64)>| -> HashSet<String> {
        ids.iter()
            .map(|(id, _)| list.iter().find(|r| r.id == *id).expect("known region").name.clone())
            .collect()
    };
    assert_eq!(names(acquired(&got_b)), HashSet::from(["Meadow".to_string()]), "{got_b:?}");
    assert_eq!(
        names(acquired(&got_a)),
        HashSet::from(["Harbor Island".to_string(), "Test Region".to_string()]),
        "{got_a:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_stops_renewing_loses_its_regions_with_a_higher_epoch() {
    let pg = server();
    let list = regions(&["One", "Two", "Three"]);
    let a = Grid::connect(&config(&pg.url(), "sim-a", LEASE)).await.expect("connect a");
    let mut ta = a.run_leases(source(&list));
    let (got, _) = wait_events(&mut ta, 3, Duration::from_secs(3)).await;
    let before: HashMap<_, _> = acquired(&got).into_iter().collect();
    assert_eq!(before.len(), 3);
    let b = Grid::connect(&config(&pg.url(), "sim-b", LEASE)).await.expect("connect b");
    let mut tb = b.run_leases(source(&list));
    assert!(events_for(&mut tb, Duration::from_secs(1)).await.is_empty(), "live leases are not taken");
    // A crashes: its task is gone, nothing released.
    ta.abort();
    let (got, took) = wait_events(&mut tb, 3, Duration::from_secs(2 * LEASE + 1)).await;
    let after: HashMap<_, _> = acquired(&got).into_iter().collect();
    assert_eq!(after.len(), 3, "{got:?}");
    assert!(took <= Duration::from_secs(2 * LEASE), "takeover took {took:?}");
    for (region, epoch) in &after {
        assert!(*epoch > before[region], "epoch must grow: {epoch} after {}", before[region]);
        assert!(fence(&pg, DATABASE, *region, "sim-b", *epoch));
        assert!(!fence(&pg, DATABASE, *region, "sim-a", before[region]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_release_hands_over_at_once() {
    let pg = server();
    let list = regions(&["One", "Two"]);
    let a = Grid::connect(&config(&pg.url(), "sim-a", LEASE)).await.expect("connect a");
    let mut ta = a.run_leases(source(&list));
    assert_eq!(acquired(&wait_events(&mut ta, 2, Duration::from_secs(3)).await.0).len(), 2);
    // Long leases: only the release (not expiry) can hand these over within the test's bound.
    let b = Grid::connect(&config(&pg.url(), "sim-b", 10)).await.expect("connect b");
    let mut tb = b.run_leases(source(&list));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(a.release_all().await.expect("release"), 2);
    let (got, took) = wait_events(&mut tb, 2, Duration::from_secs(3)).await;
    assert_eq!(acquired(&got).len(), 2, "{got:?}");
    assert!(took < Duration::from_secs(1), "hand-over took {took:?}");
    assert_eq!(
        pg.psql(DATABASE, "SELECT count(*) FROM grid_hosts WHERE name = 'sim-a'")
            .expect("count"),
        "0"
    );
    assert!(a.held_regions().is_empty());
}

/// sim-a connected and holding the one region of `list`: its grid, its
/// lease task and the epoch it acquired.
async fn held_by_sim_a(pg: &PgServer, list: &[RegionRef]) -> (Grid, LeaseTask, i64) {
    let a = Grid::connect(&config(&pg.url(), "sim-a", LEASE)).await.expect("connect a");
    let mut ta = a.run_leases(source(list));
    let (got, _) = wait_events(&mut ta, 1, Duration::from_secs(3)).await;
    let epoch = acquired(&got)[0].1;
    (a, ta, epoch)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_host_wakes_to_lost_leases_and_its_epoch_is_fenced() {
    let pg = server();
    let list = regions(&["One"]);
    let region = list[0].id;
    let (a, ta, old_epoch) = held_by_sim_a(&pg, &list).await;
    assert_eq!(a.held_epoch(region), Some(old_epoch));
    assert!(fence(&pg, DATABASE, region, "sim-a", old_epoch));
    // Pause A (its task stops, as under SIGSTOP), let B take over.
    ta.abort();
    let b = Grid::connect(&config(&pg.url(), "sim-b", LEASE)).await.expect("connect b");
    let mut tb = b.run_leases(source(&list));
    let (got, _) = wait_events(&mut tb, 1, Duration::from_secs(2 * LEASE + 1)).await;
    let new_epoch = acquired(&got)[0].1;
    assert!(new_epoch > old_epoch);
    // A resumes: the region is reported lost, A holds nothing, the old epoch fences nothing.
    assert_eq!(a.held_epoch(region), None, "not the owner past its lease by its own clock");
    let mut ta = a.run_leases(source(&list));
    let got = events_for(&mut ta, Duration::from_secs(LEASE)).await;
    assert_eq!(lost(&got), vec![(region, old_epoch)], "{got:?}");
    assert!(acquired(&got).is_empty(), "a live lease is not taken back: {got:?}");
    assert!(!fence(&pg, DATABASE, region, "sim-a", old_epoch), "the store's fence must refuse the old epoch");
    assert!(fence(&pg, DATABASE, region, "sim-b", new_epoch));
    assert_eq!(a.owner_of(region).map(|o| (o.host, o.epoch)), Some(("sim-b".to_string(), new_epoch)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_database_drops_leases_by_the_local_clock_and_recovers() {
    let mut pg = server();
    let list = regions(&["One", "Two"]);
    let a = Grid::connect(&config(&pg.url(), "sim-a", LEASE)).await.expect("connect a");
    let mut ta = a.run_leases(source(&list));
    let (got, _) = wait_events(&mut ta, 2, Duration::from_secs(3)).await;
    let before: HashMap<_, _> = acquired(&got).into_iter().collect();
    assert_eq!(before.len(), 2);
    let stopped = std::time::Instant::now();
    tokio::task::block_in_place(|| pg.stop()).expect("stop PostgreSQL");
    let (got, took) = wait_events(&mut ta, 2, Duration::from_secs(LEASE + 2)).await;
    assert_eq!(lost(&got).len(), 2, "{got:?}");
    let since_stop = stopped.elapsed();
    assert!(
        since_stop <= Duration::from_millis(LEASE * 1000 + 300),
        "kept acting as owner {since_stop:?} after the database went away (waited {took:?})"
    );
    assert!(a.held_regions().is_empty());
    tokio::task::block_in_place(|| pg.start()).expect("start PostgreSQL");
    let (got, _) = wait_events(&mut ta, 2, Duration::from_secs(10)).await;
    let after: HashMap<_, _> = acquired(&got).into_iter().collect();
    assert_eq!(after.len(), 2, "recovered: {got:?}");
    for (region, epoch) in after {
        assert!(epoch > before[&region], "a reclaimed lease gets a new epoch");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_released_after_a_failed_load_goes_to_another_host_and_is_not_claimed_back_during_the_backoff() {
    let pg = server();
    let list = regions(&["One"]);
    let region = list[0].id;
    let (a, mut ta, epoch) = held_by_sim_a(&pg, &list).await;
    // sim-a could not load it: released at once, and a backoff of LeaseSeconds.
    let backoff = a.release_failed(region, epoch).await.expect("release");
    assert_eq!(backoff, Duration::from_secs(LEASE));
    assert!(a.held_regions().is_empty());
    assert_eq!(
        pg.psql(DATABASE, &format!("SELECT expires < now() FROM grid_leases WHERE region_id = '{region}'"))
            .expect("row"),
        "t",
        "the lease is expired in the database"
    );
    // Within the backoff sim-a does not claim it again, however many passes run.
    a.wake_leases();
    let early = events_for(&mut ta, Duration::from_millis(LEASE * 1000 / 2)).await;
    assert!(acquired(&early).is_empty(), "claimed back during the backoff: {early:?}");
    // Another host takes it at once.
    let b = Grid::connect(&config(&pg.url(), "sim-b", LEASE)).await.expect("connect b");
    let mut tb = b.run_leases(source(&list));
    let (got, _) = wait_events(&mut tb, 1, Duration::from_secs(3)).await;
    assert_eq!(acquired(&got), vec![(region, epoch + 1)]);
    // A second failure in a row doubles the backoff.
    assert_eq!(a.release_failed(region, epoch).await.expect("again"), Duration::from_secs(2 * LEASE));
    a.served(region);
    assert_eq!(a.release_failed(region, epoch).await.expect("after served"), Duration::from_secs(LEASE));
}
