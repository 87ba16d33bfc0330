//! Scene persistence on PostgreSQL: the batch paths of the grid store timed
//! against a real server (dispatcher-pgtest starts one on loopback).
//!
//! Run: `cargo bench -p dispatcher-store --bench pg_load` (object count from
//! `PG_BENCH_OBJECTS`, default 100 000). Prints the bulk save rate, the load
//! time of the whole region (target: 100 000 objects in under 3 s), the
//! write-behind flush rate of moved objects (target: at least 100 000
//! updates/s) and an archive import of half the region through one
//! transaction. Objects are copies of the Penrose region object with fresh ids.
//! `PG_BENCH_SQL=<statements>` runs on the fresh database first.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dispatcher_scene::{parse_object, RezParams, SceneLimits, SceneObject, Uuid, Vector3};
use dispatcher_store::{DynamicsWriter, PgOptions, Store, StoreError};

const TEMPLATE: &[u8] = include_bytes!("../../scene/tests/fixtures/penrose_assets_region_object.xml");
const REGION: Uuid = Uuid::from_u128(0x5ce2e);
const IMPORT_REGION: Uuid = Uuid::from_u128(0x1a2b);
const DEFAULT_OBJECTS: usize = 100_000;
/// SQL run on the fresh database before the bench (to compare table settings,
/// e.g. `ALTER TABLE scene_objects ALTER COLUMN data SET STORAGE EXTERNAL`).
const SQL_VAR: &str = "PG_BENCH_SQL";
/// Objects per `save_objects` call in the bulk phase.
const BULK_BATCH_OBJECTS: usize = 1_000;

fn per_second(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn objects(count: usize, first_id: u128) -> Vec<SceneObject> {
    let template = parse_object(TEMPLATE, &SceneLimits::default()).expect("fixture parses");
    let mut next = first_id;
    let mut ids = move || {
        next += 1;
        Uuid::from_u128(next)
    };
    (0..count)
        .map(|i| {
            let params = RezParams {
                owner_id: Uuid::from_u128(0xada),
                position: Vector3::new((i % 256) as f32, ((i / 256) % 256) as f32, 20.0 + (i / 65_536) as f32),
                ..RezParams::default()
            };
            template.rezzed_copy(&params, &mut ids)
        })
        .collect()
}

fn main() {
    let count: usize = std::env::var("PG_BENCH_OBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_OBJECTS);
    let server = dispatcher_pgtest::PgServer::shared().expect("PostgreSQL for the bench");
    let url = server.fresh_database().expect("database");
    let store = Arc::new(Store::open_postgres(&url, &PgOptions::default()).expect("open"));
    if let Ok(sql) = std::env::var(SQL_VAR) {
        let database = url.rsplit('/').next().expect("database name");
        println!("{SQL_VAR}: {sql}");
        server.psql(database, &sql).expect("bench SQL");
    }
    let objs = objects(count, 1 << 64);

    let start = Instant::now();
    for chunk in objs.chunks(BULK_BATCH_OBJECTS) {
        store.save_objects(REGION, chunk).expect("save");
    }
    let save = start.elapsed();
    println!(
        "save (bulk, {BULK_BATCH_OBJECTS}/transaction): {count} objects in {:.2} s = {:.0} objects/s",
        save.as_secs_f64(),
        per_second(count, save)
    );

    for run in 1..=3 {
        let start = Instant::now();
        let loaded = store.load_objects(REGION).expect("load");
        let load = start.elapsed();
        assert_eq!(loaded.len(), count);
        println!("load_objects (run {run}): {count} objects in {:.2} s", load.as_secs_f64());
    }

    let writer = DynamicsWriter::start(Arc::clone(&store), Duration::from_secs(3600));
    for round in 1..=3 {
        for (i, o) in objs.iter().enumerate() {
            let mut moved = o.clone();
            moved.position = Vector3::new(moved.position.x, moved.position.y, 30.0 + (i + round) as f32 * 0.001);
            writer.queue(REGION, &moved);
        }
        let start = Instant::now();
        writer.flush().expect("flush");
        let flush = start.elapsed();
        println!(
            "dynamics flush (round {round}): {count} updates in one transaction in {:.2} s = {:.0} updates/s",
            flush.as_secs_f64(),
            per_second(count, flush)
        );
    }
    drop(writer);

    let half = &objs[..count / 2];
    let start = Instant::now();
    store
        .import_archive(IMPORT_REGION, |tx| -> Result<(), StoreError> {
            tx.clear_region()?;
            half.iter().try_for_each(|o| tx.put_object(o))
        })
        .expect("import");
    let import = start.elapsed();
    println!(
        "import_archive: {} objects in one transaction in {:.2} s = {:.0} objects/s",
        half.len(),
        import.as_secs_f64(),
        per_second(half.len(), import)
    );
    assert_eq!(store.load_objects(IMPORT_REGION).expect("load").len(), half.len());
}
