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
    // Where the time goes: unpacking alone, then unpacking and parsing.
    let start = Instant::now();
    let mut members = 0;
    dispatcher_oar::read::read_archive(bytes.as_slice(), &OarLimits::default(), |_| {
        members += 1;
        Ok(())
    })
    .expect("read");
    println!("unpack only: {:.2} s ({members} members)", start.elapsed().as_secs_f64());
    let start = Instant::now();
    let limits = dispatcher_scene::SceneLimits::default();
    let mut parsed = Vec::with_capacity(OBJECTS);
    dispatcher_oar::read::read_archive(bytes.as_slice(), &OarLimits::default(), |m| {
        if m.kind == dispatcher_oar::paths::Kind::Object {
            parsed.push(dispatcher_scene::parse_object(&m.data, &limits).expect("parse"));
        }
        Ok(())
    })
    .expect("read");
    println!(
        "unpack + parse: {:.2} s ({:.0} objects/s)",
        start.elapsed().as_secs_f64(),
        OBJECTS as f64 / start.elapsed().as_secs_f64()
    );
    let start = Instant::now();
    let mut region = Region::new(Uuid::from_u128(1), "Bench");
    for o in parsed {
        region.add_object(o).expect("add");
    }
    println!("scene add: {:.2} s", start.elapsed().as_secs_f64());
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
