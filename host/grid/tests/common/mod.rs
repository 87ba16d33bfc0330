//! Shared helpers of the grid tests: configurations, region lists, event collection.

#![allow(dead_code, reason = "each test binary uses its own share of the helpers")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use dispatcher_grid::{GridConfig, GridMode, LeaseEvent, LeaseTask, RegionRef};
use uuid::Uuid;

pub const SECRET: &str = "grid-test-secret-0123456789";

pub fn config(url: &str, name: &str, lease_seconds: u64) -> GridConfig {
    GridConfig {
        mode: GridMode::Grid,
        database_url: Some(url.to_owned()),
        host_name: Some(name.to_owned()),
        advertise_url: Some(format!("http://127.0.0.1:9{}/", name.len())),
        lease_seconds,
        max_regions: 0,
        preferred_regions: Vec::new(),
        secret: Some(SECRET.to_owned()),
    }
}

pub fn regions(names: &[&str]) -> Vec<RegionRef> {
    names
        .iter()
        .map(|n| RegionRef {
            id: Uuid::new_v4(),
            name: (*n).to_owned(),
        })
        .collect()
}

/// A region source over a fixed list.
pub fn source(list: &[RegionRef]) -> impl Fn() -> Result<Vec<RegionRef>, String> + Send + Sync + 'static {
    let list = Arc::new(list.to_vec());
    move || Ok(list.as_ref().clone())
}

/// Events arriving within `window`.
pub async fn events_for(task: &mut LeaseTask, window: Duration) -> Vec<LeaseEvent> {
    let deadline = tokio::time::Instant::now() + window;
    let mut got = Vec::new();
    while let Ok(Some(e)) = tokio::time::timeout_at(deadline, task.next()).await {
        got.push(e);
    }
    got
}

/// Wait until `count` events arrived (or `limit` passed); returns them and the time taken.
pub async fn wait_events(task: &mut LeaseTask, count: usize, limit: Duration) -> (Vec<LeaseEvent>, Duration) {
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + limit;
    let mut got = Vec::new();
    while got.len() < count {
        match tokio::time::timeout_at(deadline, task.next()).await {
            Ok(Some(e)) => got.push(e),
            _ => break,
        }
    }
    (got, start.elapsed())
}

pub fn acquired(events: &[LeaseEvent]) -> Vec<(Uuid, i64)> {
    events
        .iter()
        .filter_map(|e| match e {
            LeaseEvent::Acquired { region_id, epoch, .. } => Some((*region_id, *epoch)),
            LeaseEvent::Lost { .. } => None,
        })
        .collect()
}

pub fn lost(events: &[LeaseEvent]) -> Vec<(Uuid, i64)> {
    events
        .iter()
        .filter_map(|e| match e {
            LeaseEvent::Lost { region_id, epoch } => Some((*region_id, *epoch)),
            LeaseEvent::Acquired { .. } => None,
        })
        .collect()
}

/// The store's fence, as the contract writes it: a row when (host, epoch) still owns the region.
pub fn fence(pg: &dispatcher_pgtest::PgServer, db: &str, region: Uuid, host: &str, epoch: i64) -> bool {
    let sql =
        format!("BEGIN; SELECT 1 FROM grid_leases WHERE region_id = '{region}' AND host = '{host}' AND epoch = {epoch} FOR SHARE; COMMIT");
    pg.psql(db, &sql).expect("fence query") == "1"
}
