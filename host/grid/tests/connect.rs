//! Joining a grid: migrations, host names, bad URLs and passwords, status.

mod common;

use std::time::{Duration, Instant};

use common::*;
use dispatcher_grid::{Grid, GridError, SCHEMA_VERSION};
use dispatcher_pgtest::{PgServer, DATABASE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_starting_at_once_migrate_once_and_register() {
    let pg = PgServer::start_new().expect("start PostgreSQL");
    let url = pg.url();
    let joins: Vec<_> = ["sim-a", "sim-b", "sim-c", "sim-d"]
        .into_iter()
        .map(|name| {
            let c = config(&url, name, 2);
            tokio::spawn(async move { Grid::connect(&c).await })
        })
        .collect();
    for j in joins {
        j.await.expect("join").expect("connect");
    }
    assert_eq!(
        pg.psql(DATABASE, "SELECT count(*) || ' ' || max(version) FROM grid_schema")
            .expect("versions"),
        format!("{SCHEMA_VERSION} {SCHEMA_VERSION}"),
        "each migration applied once"
    );
    assert_eq!(
        pg.psql(DATABASE, "SELECT string_agg(name, ',' ORDER BY name) FROM grid_hosts")
            .expect("hosts"),
        "sim-a,sim-b,sim-c,sim-d"
    );
    // The lease table is the store's fence contract: these columns and types.
    assert_eq!(
        pg.psql(
            DATABASE,
            "SELECT string_agg(column_name || ':' || data_type, ',' ORDER BY ordinal_position) \
             FROM information_schema.columns WHERE table_name = 'grid_leases'"
        )
        .expect("columns"),
        "region_id:text,host:text,epoch:bigint,expires:timestamp with time zone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_host_s_name_is_refused_naming_the_key() {
    let pg = PgServer::start_new().expect("start PostgreSQL");
    let first = Grid::connect(&config(&pg.url(), "sim-a", 2)).await.expect("first");
    let err = Grid::connect(&config(&pg.url(), "sim-a", 2))
        .await
        .err()
        .expect("a second sim-a must be refused");
    assert!(matches!(err, GridError::HostNameInUse { .. }), "{err:?}");
    assert!(err.to_string().contains("[Grid] HostName = sim-a"), "{err}");
    // Once the first has left, the name is free again.
    first.release_all().await.expect("release");
    Grid::connect(&config(&pg.url(), "sim-a", 2))
        .await
        .expect("name free after leaving");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_host_s_name_is_free_after_its_lease() {
    let pg = PgServer::start_new().expect("start PostgreSQL");
    let _crashed = Grid::connect(&config(&pg.url(), "sim-a", 2)).await.expect("first");
    // No lease task runs, so no heartbeat: after LeaseSeconds the name may be used again.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    Grid::connect(&config(&pg.url(), "sim-a", 2))
        .await
        .expect("stale registration replaced");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_is_an_error_naming_the_key_within_seconds() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    // Nothing listens there now.
    let url = format!("postgresql://u:secret-pw@127.0.0.1:{port}/d");
    let started = Instant::now();
    let err = Grid::connect(&config(&url, "sim-a", 2)).await.err().expect("must fail");
    assert!(started.elapsed() < Duration::from_secs(7), "took {:?}", started.elapsed());
    let text = err.to_string();
    assert!(text.contains("[Grid] DatabaseUrl"), "{text}");
    assert!(!text.contains("secret-pw"), "the password stays out of messages: {text}");
    // A host that drops packets: the connect timeout bounds the wait (TEST-NET-1 is unroutable).
    let started = Instant::now();
    let err = Grid::connect(&config("postgresql://u:p@192.0.2.1:5432/d", "sim-a", 2))
        .await
        .err()
        .expect("must fail");
    assert!(started.elapsed() < Duration::from_secs(8), "took {:?}", started.elapsed());
    assert!(err.to_string().contains("[Grid] DatabaseUrl"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_or_database_is_a_login_error() {
    let pg = PgServer::start_new().expect("start PostgreSQL");
    let url = pg.url().replace(dispatcher_pgtest::PASSWORD, "wrong-password");
    let err = Grid::connect(&config(&url, "sim-a", 2)).await.err().expect("must fail");
    assert!(matches!(err, GridError::Login { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("[Grid] DatabaseUrl") && text.contains("password authentication failed"), "{text}");
    assert!(!text.contains("wrong-password"), "{text}");
    let err = Grid::connect(&config(&pg.url_for("nosuchdb"), "sim-a", 2))
        .await
        .err()
        .expect("must fail");
    assert!(matches!(err, GridError::Login { .. }) && err.to_string().contains("nosuchdb"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_lists_hosts_leases_and_capabilities() {
    let pg = PgServer::start_new().expect("start PostgreSQL");
    let err = dispatcher_grid::status::status_of(&pg.url()).await.expect_err("no grid yet");
    assert!(err.to_string().contains("no grid here yet"), "{err}");
    let list = regions(&["One", "Two"]);
    let a = Grid::connect(&config(&pg.url(), "sim-a", 2)).await.expect("connect");
    let mut task = a.run_leases(source(&list));
    wait_events(&mut task, 2, Duration::from_secs(3)).await;
    let status = dispatcher_grid::status::status_of(&pg.url()).await.expect("status");
    assert_eq!(status.hosts.len(), 1);
    assert_eq!(status.hosts[0].name, "sim-a");
    assert!(status.hosts[0].heartbeat_age_s < 2.0);
    assert_eq!(status.leases.len(), 2);
    assert!(status
        .leases
        .iter()
        .all(|l| l.host == "sim-a" && l.epoch == 1 && l.expires_in_s > 0.0));
    assert_eq!(status.live_capabilities, 0);
    let text = status.to_string();
    assert!(
        text.contains("sim-a") && text.contains(&list[0].id.to_string()) && text.contains("capabilities live: 0"),
        "{text}"
    );
}
