//! `dispatcher grid status --config FILE` against a real PostgreSQL with a grid on it.

use std::process::Command;
use std::time::Duration;

use dispatcher_grid::{Grid, GridConfig, GridMode, LeaseEvent, RegionRef};
use dispatcher_pgtest::PgServer;

fn grid_ini(url: &str) -> String {
    format!(
        "[Grid]\nMode = grid\nDatabaseUrl = {url}\nHostName = sim-cli\nAdvertiseUrl = http://127.0.0.1:9000\n\
         Secret = 0123456789abcdef-cli\nLeaseSeconds = 3\n"
    )
}

fn run_status(config: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dispatcher"))
        .args(["grid", "status", "--config"])
        .arg(config)
        .output()
        .expect("run dispatcher")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grid_status_lists_hosts_regions_and_capabilities() {
    let pg = PgServer::start_new().expect("start PostgreSQL");
    let dir = tempfile::tempdir().expect("tmp");
    let ini = dir.path().join("grid.ini");
    std::fs::write(&ini, grid_ini(&pg.url())).expect("write ini");

    let before = tokio::task::block_in_place(|| run_status(&ini));
    assert!(!before.status.success(), "no grid yet must be an error");
    assert!(String::from_utf8_lossy(&before.stderr).contains("no grid here yet"), "{before:?}");

    let config = GridConfig {
        mode: GridMode::Grid,
        database_url: Some(pg.url()),
        host_name: Some("sim-cli".into()),
        advertise_url: Some("http://127.0.0.1:9000".into()),
        lease_seconds: 3,
        secret: Some("0123456789abcdef-cli".into()),
        ..GridConfig::default()
    };
    let grid = Grid::connect(&config).await.expect("connect");
    let region = RegionRef {
        id: uuid::Uuid::new_v4(),
        name: "Harbor Island".into(),
    };
    let list = vec![region.clone()];
    let mut task = grid.run_leases(move || Ok(list.clone()));
    let event = tokio::time::timeout(Duration::from_secs(5), task.next()).await.expect("in time");
    assert!(matches!(event, Some(LeaseEvent::Acquired { epoch: 1, .. })), "{event:?}");

    let out = tokio::task::block_in_place(|| run_status(&ini));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        text.contains("hosts (1):") && text.contains("sim-cli") && text.contains("http://127.0.0.1:9000"),
        "{text}"
    );
    assert!(
        text.contains(&region.id.to_string()) && text.contains("epoch 1") && text.contains("expires in"),
        "{text}"
    );
    assert!(text.contains("capabilities live: 0"), "{text}");
    assert!(!text.contains(dispatcher_pgtest::PASSWORD), "{text}");

    // A bad DatabaseUrl names the key.
    let bad = dir.path().join("bad.ini");
    std::fs::write(&bad, grid_ini("postgresql://u:p@127.0.0.1:1/d")).expect("write ini");
    let out = tokio::task::block_in_place(|| run_status(&bad));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("[Grid] DatabaseUrl"), "{out:?}");
}

#[test]
fn serve_with_an_unreachable_database_names_the_key_and_exits_non_zero() {
    let dir = tempfile::tempdir().expect("tmp");
    let ini = dir.path().join("grid.ini");
    std::fs::write(&ini, grid_ini("postgresql://u:p@127.0.0.1:1/d")).expect("write ini");
    let out = Command::new(env!("CARGO_BIN_EXE_dispatcher"))
        .args(["serve", "--config"])
        .arg(&ini)
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .expect("run dispatcher");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[Grid] DatabaseUrl"), "{out:?}");
    assert!(!stderr.contains(":p@"), "the password is not shown: {stderr}");
}
