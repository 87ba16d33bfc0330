//! `cargo bench -p dispatcher-oar --bench oar`: import objects/s and export
//! time for a generated 50,000-object archive into a fresh store on disk
//! (SQLite, WAL, synchronous FULL: one transaction for the whole import).

use std::time::Instant;

use dispatcher_oar::{export, generate, import, ImportOptions, Mode, OarLimits};
use dispatcher_scene::Region;
use dispatcher_store::Store;
use uuid::Uuid;

const OBJECTS: usize = 50_000;
const RUNS: usize = 3;

fn main() {
    let bytes = generate::archive(OBJECTS).expect("generate the archive");
    println!("archive: {OBJECTS} objects, {} bytes compressed", bytes.len());
    let options = ImportOptions {
        mode: Mode::Replace,
        limits: OarLimits::default(),
        now_unix: 1_700_000_000,
    };
    // Where the time goes: unpacking alone, then parsing the unpacked object
    // members on one thread with each reader (same members, same run).
    let start = Instant::now();
    let mut members = 0;
    let mut objects = Vec::with_capacity(OBJECTS);
    dispatcher_oar::read::read_archive(bytes.as_slice(), &OarLimits::default(), |m| {
        members += 1;
        if m.kind == dispatcher_oar::paths::Kind::Object {
            objects.push(m.data);
        }
        Ok(())
    })
    .expect("read");
    println!("unpack only: {:.2} s ({members} members)", start.elapsed().as_secs_f64());
    let limits = dispatcher_scene::SceneLimits::default();
    // Alternating rounds, the best of each: the machine is shared.
    let (mut tree, mut streamed) = (f64::MAX, f64::MAX);
    let mut parsed = Vec::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        for data in &objects {
            std::hint::black_box(dispatcher_scene::parse_object_tree(data, &limits).expect("parse"));
        }
        tree = tree.min(start.elapsed().as_secs_f64());
        let start = Instant::now();
        parsed = objects
            .iter()
            .map(|data| dispatcher_scene::parse_object(data, &limits).expect("parse"))
            .collect();
        streamed = streamed.min(start.elapsed().as_secs_f64());
    }
    println!(
        "parse, element tree (one thread, best of {RUNS}): {tree:.2} s ({:.1} µs/object)",
        tree * 1e6 / OBJECTS as f64
    );
    println!(
        "parse, streaming (one thread, best of {RUNS}): {streamed:.2} s ({:.1} µs/object; {:.2}x the tree's speed)",
        streamed * 1e6 / OBJECTS as f64,
        tree / streamed
    );
    // OpenSim's own objects carry ~100 elements per part this host keeps
    // without reading (the generated ones almost none): penrose.oar's.
    let penrose = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/penrose.oar")).expect("penrose.oar");
    let mut opensim = Vec::new();
    dispatcher_oar::read::read_archive(penrose.as_slice(), &OarLimits::default(), |m| {
        if m.kind == dispatcher_oar::paths::Kind::Object {
            opensim.push(m.data);
        }
        Ok(())
    })
    .expect("read penrose");
    const REPEAT: usize = 2_000;
    let (mut tree, mut streamed) = (f64::MAX, f64::MAX);
    for _ in 0..RUNS {
        let start = Instant::now();
        for data in opensim.iter().cycle().take(REPEAT) {
            std::hint::black_box(dispatcher_scene::parse_object_tree(data, &limits).expect("parse"));
        }
        tree = tree.min(start.elapsed().as_secs_f64());
        let start = Instant::now();
        for data in opensim.iter().cycle().take(REPEAT) {
            std::hint::black_box(dispatcher_scene::parse_object(data, &limits).expect("parse"));
        }
        streamed = streamed.min(start.elapsed().as_secs_f64());
    }
    println!(
        "penrose.oar's objects (OpenSim XML2), {REPEAT} parses: tree {:.1} µs/object, streaming {:.1} µs/object ({:.2}x)",
        tree * 1e6 / REPEAT as f64,
        streamed * 1e6 / REPEAT as f64,
        tree / streamed
    );
    let start = Instant::now();
    for o in &parsed {
        std::hint::black_box(dispatcher_store::encode_scene_object(o).expect("encode"));
    }
    println!("store encoding: {:.2} s", start.elapsed().as_secs_f64());
    let start = Instant::now();
    let mut region = Region::new(Uuid::from_u128(1), "Bench");
    for o in parsed {
        region.add_object(o).expect("add");
    }
    println!("scene add: {:.2} s", start.elapsed().as_secs_f64());
    drop(region);
    drop(objects);
    let mut import_rates = Vec::new();
    let mut export_secs = Vec::new();
    for _ in 0..RUNS {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path()).expect("open");
        let mut region = Region::new(Uuid::from_u128(1), "Bench");
        let start = Instant::now();
        let summary = import(&store, &mut region, bytes.as_slice(), &options, &mut |_| {}).expect("import");
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(summary.objects, OBJECTS);
        import_rates.push(OBJECTS as f64 / secs);
        let start = Instant::now();
        let (exported, out) = export(&store, &region, Vec::new(), 1_700_000_000).expect("export");
        export_secs.push(start.elapsed().as_secs_f64());
        assert_eq!(exported.objects, OBJECTS);
        std::hint::black_box(out);
    }
    import_rates.sort_by(f64::total_cmp);
    export_secs.sort_by(f64::total_cmp);
    println!(
        "import: {:.0} objects/s (median of {RUNS}; runs {:?})",
        import_rates[RUNS / 2],
        import_rates.iter().map(|r| r.round()).collect::<Vec<_>>()
    );
    println!("export: {:.2} s for {OBJECTS} objects (median of {RUNS})", export_secs[RUNS / 2]);
}
