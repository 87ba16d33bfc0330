//! Import, export and refusal of region archives against a real store.

use std::io::Write;
use std::path::Path;

use dispatcher_oar::{export, generate, import, load_region, ImportOptions, Mode, OarError, OarLimits};
use dispatcher_scene::{AssetType, Region, SceneLimits};
use dispatcher_store::Store;
use uuid::Uuid;

const REGION: Uuid = Uuid::from_u128(0x5eed);

fn penrose() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/penrose.oar");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn options(mode: Mode) -> ImportOptions {
    ImportOptions {
        mode,
        limits: OarLimits::default(),
        now_unix: 1_700_000_000,
    }
}

fn fresh() -> (tempfile::TempDir, Store, Region) {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(dir.path()).expect("open");
    let region = Region::new(REGION, "Scratch 00");
    (dir, store, region)
}

fn run(store: &Store, region: &mut Region, bytes: &[u8], mode: Mode) -> Result<dispatcher_oar::ImportSummary, OarError> {
    import(store, region, bytes, &options(mode), &mut |_| {})
}

/// Everything an import can change, to compare before and after.
fn snapshot(store: &Store, region: &Region) -> String {
    let stored = load_region(store, REGION, "Scratch 00", &SceneLimits::default()).expect("load");
    let ids = |r: &Region| r.objects().map(|o| o.id()).collect::<Vec<_>>();
    format!(
        "{:?} {:?} {:?} {} {:?} {:?} {}",
        ids(&stored),
        ids(region),
        store.archive_members(REGION).expect("kept"),
        store.archive_asset_ids(REGION).expect("assets").len(),
        store.load_water_height(REGION).expect("water"),
        stored.terrain.heights().iter().take(4).collect::<Vec<_>>(),
        region.object_count()
    )
}

#[test]
fn penrose_imports_every_object_asset_and_the_terrain_and_round_trips() {
    let (_dir, store, mut region) = fresh();
    let summary = run(&store, &mut region, &penrose(), Mode::Replace).expect("import");
    assert_eq!(summary.major_version, 0);
    assert_eq!(summary.objects, 1);
    assert_eq!(summary.assets, 10, "{summary:?}");
    assert!(summary.terrain && summary.settings);
    // The object, its task inventory and the assets.
    let object_id = Uuid::parse_str("18b10e15-3b7c-4036-8df8-6ba9c1dc2ec1").expect("id");
    let object = region.object(object_id).expect("object in the scene");
    assert_eq!(object.name(), "Penrose Assets");
    assert_eq!((object.position.x, object.position.y, object.position.z), (5.0, 5.0, 30.0));
    let items = &object.root().inventory;
    assert!(items
        .iter()
        .any(|i| i.name == "Penrose Point Generator Json" && i.asset_type == AssetType::Object));
    for (id, t) in [
        ("9aec9b8d-a29d-4632-8c30-135617dbb023", AssetType::Texture),
        ("cc75083c-3ca0-433d-9ba5-a51e86a98933", AssetType::Object),
        ("de1e02d4-d6b8-4d3d-94e4-297e8520e50a", AssetType::LslText),
    ] {
        let asset = store.get_asset(Uuid::parse_str(id).expect("id")).expect("get").expect("stored");
        assert_eq!(asset.asset_type, t, "{id}");
        assert!(!asset.data.is_empty());
    }
    // The terrain matches the member byte for byte; the water came from the settings.
    let member = member_of(&penrose(), "terrains/Scratch 00.r32");
    assert_eq!(dispatcher_oar::terrain::write(&region.terrain), member);
    assert_eq!(region.water_height_m, 20.0);
    assert!(store
        .archive_members(REGION)
        .expect("kept")
        .iter()
        .any(|(p, _)| p.starts_with("landdata/")));
    // The store holds what the scene holds.
    let stored = load_region(&store, REGION, "Scratch 00", &SceneLimits::default()).expect("load");
    assert_eq!(stored.objects().collect::<Vec<_>>(), region.objects().collect::<Vec<_>>());
    assert_eq!(stored.terrain, region.terrain);

    // Export, then import into another data directory: the same content.
    let (exported, _) = export(&store, &region, Vec::new(), 1_700_000_000).expect("export");
    let bytes = export(&store, &region, Vec::new(), 1_700_000_000).expect("export").1;
    assert_eq!(exported.objects, 1);
    assert_eq!(exported.assets, 10);
    let (_dir2, store2, mut region2) = fresh();
    let again = run(&store2, &mut region2, &bytes, Mode::Replace).expect("re-import");
    assert_eq!(again.major_version, 1);
    assert_eq!((again.objects, again.assets, again.terrain), (1, 10, true));
    assert_eq!(region2.objects().collect::<Vec<_>>(), region.objects().collect::<Vec<_>>());
    assert_eq!(region2.terrain, region.terrain);
    assert_eq!(region2.water_height_m, region.water_height_m);
    assert_eq!(store2.archive_members(REGION).expect("kept"), store.archive_members(REGION).expect("kept"));
    for id in store.archive_asset_ids(REGION).expect("ids") {
        assert_eq!(store2.get_asset(id).expect("get"), store.get_asset(id).expect("get"));
    }
}

#[test]
fn the_export_has_the_form_opensim_0_9_loads() {
    let (_dir, store, mut region) = fresh();
    run(&store, &mut region, &penrose(), Mode::Replace).expect("import");
    let (_, bytes) = export(&store, &region, Vec::new(), 1_700_000_000).expect("export");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
    let mut paths = Vec::new();
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let path = entry.path().expect("path").to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).expect("read");
        if path == "archive.xml" {
            let text = String::from_utf8(data).expect("utf8");
            assert!(text.contains("<archive major_version=\"1\" minor_version=\"0\">"), "{text}");
            assert!(text.contains("<size_in_meters>256,256</size_in_meters>"));
        } else if path.starts_with("objects/") {
            let text = String::from_utf8(data).expect("utf8");
            assert!(text.starts_with("<SceneObjectGroup><SceneObjectPart"), "XML2 layout: {}", &text[..60]);
            assert!(!text.contains("<RootPart>"));
        }
        paths.push(path);
    }
    assert_eq!(paths[0], "archive.xml", "the control file comes first");
    assert!(
        paths.contains(&"objects/Penrose Assets_005-005-030__18b10e15-3b7c-4036-8df8-6ba9c1dc2ec1.xml".to_string()),
        "{paths:?}"
    );
    assert!(paths.contains(&"assets/de1e02d4-d6b8-4d3d-94e4-297e8520e50a_script.lsl".to_string()));
    assert!(paths.contains(&"terrains/Scratch 00.r32".to_string()));
    assert!(paths.contains(&"settings/Scratch 00.xml".to_string()));
    assert!(paths.contains(&"landdata/b22a0780-69d7-46d2-847f-f8514d5c1448.xml".to_string()));
}

#[test]
fn merge_adds_objects_and_replace_replaces_them() {
    let (_dir, store, mut region) = fresh();
    run(&store, &mut region, &penrose(), Mode::Replace).expect("import");
    let generated = generate::archive(3).expect("generate");
    run(&store, &mut region, &generated, Mode::Merge).expect("merge");
    assert_eq!(region.object_count(), 4);
    assert_eq!(region.water_height_m, 20.0, "merge leaves the settings");
    assert_eq!(store.load_objects(REGION).expect("load").len(), 4);
    // Merging the same objects again: duplicate ids, refused, nothing changed.
    let before = snapshot(&store, &region);
    let err = run(&store, &mut region, &generated, Mode::Merge).expect_err("duplicates");
    assert!(err.to_string().contains("objects/object 0_"), "{err}");
    assert_eq!(snapshot(&store, &region), before);
    run(&store, &mut region, &generated, Mode::Replace).expect("replace");
    assert_eq!(region.object_count(), 3);
    assert_eq!(region.water_height_m, 18.5);
    assert_eq!(store.load_objects(REGION).expect("load").len(), 3);
    assert!(
        !store
            .archive_members(REGION)
            .expect("kept")
            .iter()
            .any(|(p, _)| p.contains("b22a0780")),
        "replaced"
    );
}

#[test]
fn a_generated_archive_of_50_000_objects_imports_whole() {
    let (_dir, store, mut region) = fresh();
    let bytes = generate::archive(50_000).expect("generate");
    let mut reports = 0;
    let summary = import(&store, &mut region, bytes.as_slice(), &options(Mode::Replace), &mut |_| reports += 1).expect("import");
    assert_eq!(summary.objects, 50_000);
    assert!(reports >= 45, "progress every batch of 1024 objects: {reports}");
    assert_eq!(store.load_objects(REGION).expect("load").len(), 50_000);
    assert_eq!(region.terrain.height(100, 7), Some(32.0));
    assert_eq!(region.terrain.height(100, 8), Some(22.0));
}

// ----- hostile archives -----------------------------------------------------

fn member_of(archive: &[u8], name: &str) -> Vec<u8> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        if entry.path().expect("path").to_string_lossy() == name {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).expect("read");
            return data;
        }
    }
    panic!("{name} not in the archive")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).expect("gzip");
    gz.finish().expect("gzip")
}

/// A raw ustar header for `path` declaring `size` bytes (any path, any size:
/// the tar crate's builder refuses the hostile ones).
fn header(path: &str, size: u64, kind: u8) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..path.len()].copy_from_slice(path.as_bytes());
    h[100..107].copy_from_slice(b"0000644");
    h[108..115].copy_from_slice(b"0000000");
    h[116..123].copy_from_slice(b"0000000");
    if size < 8u64.pow(11) {
        h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
    } else {
        // GNU base-256 for sizes past 8 GiB.
        h[124] = 0x80;
        h[128..136].copy_from_slice(&size.to_be_bytes());
    }
    h[136..147].copy_from_slice(b"00000000000");
    h[156] = kind;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    let field = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(field.as_bytes());
    h
}

/// A tar of (path, data) members, with a valid control file first, gzipped.
fn raw_archive(members: &[(&str, &[u8])], with_control: bool) -> Vec<u8> {
    let mut tar = Vec::new();
    let control: &[u8] = b"<archive major_version=\"1\" minor_version=\"0\"/>";
    let mut all: Vec<(&str, &[u8])> = Vec::new();
    if with_control {
        all.push(("archive.xml", control));
    }
    all.extend_from_slice(members);
    for (path, data) in all {
        tar.extend_from_slice(&header(path, data.len() as u64, b'0'));
        tar.extend_from_slice(data);
        tar.resize(tar.len().div_ceil(512) * 512, 0);
    }
    tar.extend_from_slice(&[0u8; 1024]);
    gzip(&tar)
}

/// Imports `bad` into a region holding penrose; the error must mention
/// `expect` and the store and region must be as before.
fn refused(bad: &[u8], expect: &str) {
    refused_in(bad, expect, &[Mode::Replace, Mode::Merge]);
}

/// [`refused`] in the given modes only (a merge reads no terrain or settings).
fn refused_in(bad: &[u8], expect: &str, modes: &[Mode]) {
    let (_dir, store, mut region) = fresh();
    run(&store, &mut region, &penrose(), Mode::Replace).expect("import");
    let before = snapshot(&store, &region);
    for &mode in modes {
        let err = run(&store, &mut region, bad, mode).expect_err("refused");
        assert!(err.to_string().contains(expect), "{mode:?}: {err} (wanted {expect:?})");
        assert_eq!(snapshot(&store, &region), before, "{mode:?}: nothing changed");
    }
}

#[test]
fn not_gzip_not_tar_and_no_control_file_are_refused() {
    refused(b"PK\x03\x04 this is a zip", "not a gzip file");
    refused(b"", "not a gzip file");
    refused(&gzip(b"hello, this is not a tar archive at all"), "not a tar archive");
    refused(&raw_archive(&[("landdata/a.xml", b"<LandData/>")], false), "no archive.xml");
}

#[test]
fn unknown_major_versions_are_refused() {
    let mut tar = Vec::new();
    let control = b"<archive major_version=\"7\" minor_version=\"0\"/>";
    tar.extend_from_slice(&header("archive.xml", control.len() as u64, b'0'));
    tar.extend_from_slice(control);
    tar.resize(tar.len().div_ceil(512) * 512 + 1024, 0);
    refused(&gzip(&tar), "unsupported major version 7");
}

#[test]
fn truncated_members_and_truncated_gzip_are_refused_naming_the_member() {
    let mut tar = Vec::new();
    tar.extend_from_slice(&header("assets/00000000-0000-0000-0000-000000000001_texture.jp2", 5000, b'0'));
    tar.extend_from_slice(&[7u8; 1000]);
    refused(&gzip(&tar), "00000000-0000-0000-0000-000000000001_texture.jp2\" is truncated");
    // A good archive cut in the middle of its gzip stream.
    let whole = generate::archive(50).expect("generate");
    refused(&whole[..whole.len() / 2], "objects/");
}

#[test]
fn object_xml_that_does_not_parse_names_the_member() {
    refused(
        &raw_archive(&[("objects/broken_1-2-3__x.xml", b"<SceneObjectGroup><SceneObjectPart>")], true),
        "objects/broken_1-2-3__x.xml",
    );
    refused(&raw_archive(&[("objects/other.xml", b"<Something/>")], true), "objects/other.xml");
}

#[test]
fn paths_leaving_the_archive_are_refused() {
    refused(&raw_archive(&[("../../etc/passwd", b"x")], true), "path leaves the archive");
    refused(&raw_archive(&[("/etc/passwd", b"x")], true), "path leaves the archive");
    refused(&raw_archive(&[("assets/../../x", b"x")], true), "path leaves the archive");
}

#[test]
fn a_10_gb_declared_member_is_refused_without_allocating() {
    let mut tar = Vec::new();
    tar.extend_from_slice(&header("assets/huge_texture.jp2", 10 * 1024 * 1024 * 1024, b'0'));
    tar.extend_from_slice(&[0u8; 4096]);
    refused(&gzip(&tar), "declares 10737418240 bytes");
}

#[test]
fn too_many_members_and_too_many_bytes_are_refused() {
    let (_dir, store, mut region) = fresh();
    let bytes = generate::archive(20).expect("generate");
    let tight = ImportOptions {
        limits: OarLimits {
            max_members: 10,
            ..OarLimits::default()
        },
        ..options(Mode::Replace)
    };
    let err = import(&store, &mut region, bytes.as_slice(), &tight, &mut |_| {}).expect_err("members");
    assert!(err.to_string().contains("more than 10 members"), "{err}");
    let small = ImportOptions {
        limits: OarLimits {
            max_archive_bytes: 100_000,
            ..OarLimits::default()
        },
        ..options(Mode::Replace)
    };
    let err = import(&store, &mut region, bytes.as_slice(), &small, &mut |_| {}).expect_err("bytes");
    assert!(err.to_string().contains("100000 bytes"), "{err}");
    assert_eq!(region.object_count(), 0);
    assert!(store.load_objects(REGION).expect("load").is_empty());
}

#[test]
fn links_and_bad_terrains_are_refused() {
    let mut tar = Vec::new();
    tar.extend_from_slice(&header("archive.xml", 0, b'2'));
    tar.extend_from_slice(&[0u8; 1024]);
    refused(&gzip(&tar), "not a regular file");
    refused_in(&raw_archive(&[("terrains/odd.r32", &[0u8; 24])], true), "terrains/odd.r32", &[Mode::Replace]);
}
