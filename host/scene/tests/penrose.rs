//! The object XML codec against real OpenSim output: the Penrose archive.
//!
//! Fixtures (copied from shared/data/penrose.oar): the archive's one region object
//! (xml2 layout) and its one object asset (inventory layout, trailing NUL), plus the
//! script that asset holds. When the archive itself is reachable, every object in
//! it is parsed and round-tripped too.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use dispatcher_scene::{
    dependent_assets, parse_object, parse_object_tree, write_object, write_object_asset, Asset, AssetType, PrimType, SceneLimits,
    SceneObject, Uuid, Vector3,
};

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

const REGION_OBJECT: &str = "penrose_assets_region_object.xml";
const OBJECT_ASSET: &str = "cc75083c-3ca0-433d-9ba5-a51e86a98933_object.xml";
const SCRIPT_ASSET: &str = "de1e02d4-d6b8-4d3d-94e4-297e8520e50a_script.lsl";

fn id(s: &str) -> Uuid {
    Uuid::parse_str(s).unwrap()
}

fn round_trip(obj: &SceneObject) {
    let limits = SceneLimits::default();
    let again = parse_object(write_object(obj).as_bytes(), &limits).unwrap();
    assert_eq!(&again, obj, "write -> parse changed the object");
    assert_eq!(write_object(&again), write_object(obj));
    assert_eq!(parse_object(&write_object_asset(obj), &limits).unwrap(), *obj);
}

#[test]
fn the_streaming_reader_matches_the_tree_reader_on_the_fixtures() {
    let limits = SceneLimits::default();
    for name in [REGION_OBJECT, OBJECT_ASSET] {
        let data = fixture(name);
        let streamed = parse_object(&data, &limits).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(parse_object_tree(&data, &limits), Ok(streamed.clone()), "{name}");
        assert!(!streamed.root().extra.is_empty(), "{name}: OpenSim's extra elements are kept");
        assert_eq!(
            write_object(&parse_object(write_object(&streamed).as_bytes(), &limits).unwrap()),
            write_object(&streamed)
        );
    }
}

#[test]
fn region_object_xml2_layout() {
    let obj = parse_object(&fixture(REGION_OBJECT), &SceneLimits::default()).unwrap();
    assert_eq!(obj.id(), id("18b10e15-3b7c-4036-8df8-6ba9c1dc2ec1"));
    assert_eq!(obj.name(), "Penrose Assets");
    assert_eq!(obj.part_count(), 1);
    assert_eq!(obj.root().link_num, 0);
    assert_eq!(obj.position, Vector3::new(5.0, 5.0, 30.0));
    assert_eq!(obj.root().prim_type(), PrimType::Box);
    let inv = &obj.root().inventory;
    assert_eq!(inv.len(), 1);
    assert_eq!(inv[0].name, "Penrose Point Generator Json");
    assert_eq!(inv[0].asset_type, AssetType::Object);
    assert_eq!(inv[0].asset_id, id("cc75083c-3ca0-433d-9ba5-a51e86a98933"));
    assert_eq!(inv[0].permissions.base, 581_633);
    round_trip(&obj);
}

#[test]
fn rc_50_object_asset_inventory_layout() {
    let obj = parse_object(&fixture(OBJECT_ASSET), &SceneLimits::default()).unwrap();
    assert_eq!(obj.id(), id("560cff86-a0d7-4d98-ac37-2656196822d4"));
    assert_eq!(obj.name(), "Penrose Point Generator Json");
    assert_eq!(obj.position, Vector3::new(120.8424, 130.902, 34.5));
    assert_eq!(obj.root().prim_type(), PrimType::Sphere);
    assert_eq!(obj.root().flags, vec!["Scripted".to_string()]);
    // The file lists children 5,4,3,2; the model keeps ascending link order.
    let parts: Vec<(i32, &str)> = obj.parts().map(|p| (p.link_num, p.name.as_str())).collect();
    assert_eq!(parts, vec![(1, "Penrose Point Generator Json"), (2, "D"), (3, "A"), (4, "B"), (5, "C")]);
    let c = obj.part_by_link(5).unwrap();
    assert_eq!(c.offset_position, Vector3::new(0.740_005_5, 0.240_005_5, 0.0));
    assert_eq!(c.scale, Vector3::new(0.48, 0.48, 0.1));
    assert_eq!(c.prim_type(), PrimType::Box);
    let inv: Vec<(&str, i8)> = obj
        .root()
        .inventory
        .iter()
        .map(|i| (i.name.as_str(), i.asset_type.code()))
        .collect();
    assert_eq!(inv, vec![("polygon", 10), ("texture", 0)]);
    // Group-level data the model does not read survives (script states).
    assert_eq!(obj.extra.names(), vec!["GroupScriptStates"]);
    round_trip(&obj);
}

/// Kept elements are held as text: writing, re-reading and writing again gives
/// the very same bytes, for both real OpenSim layouts.
#[test]
fn write_parse_write_is_byte_identical_for_both_fixtures() {
    let limits = SceneLimits::default();
    for name in [REGION_OBJECT, OBJECT_ASSET] {
        let obj = parse_object(&fixture(name), &limits).unwrap();
        let first = write_object(&obj);
        let again = parse_object(first.as_bytes(), &limits).unwrap();
        assert_eq!(write_object(&again), first, "{name}");
        let asset = write_object_asset(&obj);
        let from_asset = parse_object(&asset, &limits).unwrap();
        assert_eq!(write_object_asset(&from_asset), asset, "{name}");
        // Spot checks that kept elements are written out in full.
        assert!(first.contains("<PayPrice4>-2</PayPrice4>"), "{name}");
        assert!(first.contains("<FlexiSoftness>0</FlexiSoftness>"), "{name}");
    }
}

#[test]
fn rc_49_dependencies_of_the_penrose_assets() {
    let asset_id = id("cc75083c-3ca0-433d-9ba5-a51e86a98933");
    let script_id = id("de1e02d4-d6b8-4d3d-94e4-297e8520e50a");
    let container_id = id("18b10e15-3b7c-4036-8df8-6ba9c1dc2ec1");
    let mut store = HashMap::new();
    store.insert(container_id, Asset::from_type(container_id, AssetType::Object, fixture(REGION_OBJECT)));
    store.insert(asset_id, Asset::from_type(asset_id, AssetType::Object, fixture(OBJECT_ASSET)));
    store.insert(script_id, Asset::from_type(script_id, AssetType::LslText, fixture(SCRIPT_ASSET)));
    let deps = dependent_assets(container_id, &SceneLimits::default(), |i| store.get(&i).cloned()).unwrap();
    assert_eq!(deps[0], container_id);
    for want in [
        "89556747-24cb-43ed-920b-47caed15465f", // container face texture
        "cc75083c-3ca0-433d-9ba5-a51e86a98933", // nested object, expanded
        "a4dad196-e955-4f7b-bd8c-3732ce667c48", // its root texture
        "806e816f-0397-4e8f-818c-98e591a9f58b", // its child texture
        "de1e02d4-d6b8-4d3d-94e4-297e8520e50a", // its script
        "f0e197c4-ae74-4748-af19-08147de39018", // its texture item
    ] {
        assert!(deps.contains(&id(want)), "missing {want} in {deps:?}");
    }
}

/// A copy of shared/data/penrose.oar kept with the tests, so they never skip.
fn archive_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/penrose.oar")
}

#[test]
fn every_object_in_the_archive_parses_and_round_trips() {
    let path = archive_path();
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let limits = SceneLimits::default();
    let mut objects = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let is_object = (name.starts_with("objects/") && name.ends_with(".xml")) || name.ends_with("_object.xml");
        if !is_object {
            continue;
        }
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        let obj = parse_object(&data, &limits).unwrap_or_else(|e| panic!("{name}: {e}"));
        // The streaming reader reads what the element tree reads.
        assert_eq!(parse_object_tree(&data, &limits).as_ref(), Ok(&obj), "{name}");
        round_trip(&obj);
        objects.push((name, obj));
    }
    assert_eq!(objects.len(), 2);
    let parts: usize = objects.iter().map(|(_, o)| o.part_count()).sum();
    assert_eq!(parts, 6);
    assert!(objects
        .iter()
        .any(|(_, o)| o.name() == "Penrose Assets" && o.position == Vector3::new(5.0, 5.0, 30.0)));
}
