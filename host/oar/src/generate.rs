//! Builds archives for tests and the benchmark: `objects` one-part objects
//! (each with a texture and a task-inventory script), their assets, a
//! terrain and settings, in the layout OpenSim writes (version 0.8 control
//! file, members in OpenSim's order with `archive.xml` last, as penrose.oar).

use dispatcher_scene::{write_object_xml2, AssetType, Part, SceneObject, TaskInventoryItem, Terrain, TextureEntry, Vector3};
use flate2::write::GzEncoder;
use flate2::Compression;
use uuid::Uuid;

use crate::paths::{asset_path, object_path};
use crate::terrain;

fn add(tar: &mut tar::Builder<GzEncoder<Vec<u8>>>, path: &str, data: &[u8]) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, path, data)
}

/// The object number `i` of a generated archive.
pub fn object(i: usize, texture: Uuid, script: Uuid) -> SceneObject {
    let n = i as u128;
    let mut root = Part::new(Uuid::from_u128(0x0a00_0000_0000_0000_0000_0000_0000_0000 | n), format!("object {i}"));
    root.description = format!("generated object number {i}");
    root.shape.texture_entry = TextureEntry::with_texture(texture);
    root.inventory.push(TaskInventoryItem::new(
        Uuid::from_u128(0x0b00_0000_0000_0000_0000_0000_0000_0000 | n),
        "counter",
        AssetType::LslText,
        script,
    ));
    let position = Vector3::new((i % 250) as f32 + 3.0, ((i / 250) % 250) as f32 + 3.0, 25.0 + (i / 62_500) as f32);
    SceneObject::new(root, Vec::new(), position)
}

/// A gzip-compressed archive of `objects` objects.
pub fn archive(objects: usize) -> std::io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    let texture = Uuid::from_u128(0x7e);
    let script = Uuid::from_u128(0x5c);
    let tex_path = asset_path(texture, AssetType::Texture).unwrap_or_default();
    add(&mut tar, &tex_path, b"\xff\x4f\xff\x51 not really a jpeg2000 codestream")?;
    let script_path = asset_path(script, AssetType::LslText).unwrap_or_default();
    add(&mut tar, &script_path, b"default { state_entry() { llSay(0, \"hi\"); } }")?;
    for i in 0..objects {
        let o = object(i, texture, script);
        let p = o.position;
        add(&mut tar, &object_path(o.name(), [p.x, p.y, p.z], o.id()), write_object_xml2(&o).as_bytes())?;
    }
    let mut t = Terrain::flat(256, 256, 22.0);
    for x in 0..256 {
        // A slope, so orientation errors show.
        let _ = t.set_height(x, 7, 22.0 + x as f32 / 10.0);
    }
    add(&mut tar, "terrains/Generated.r32", &terrain::write(&t))?;
    add(
        &mut tar,
        "settings/Generated.xml",
        b"<?xml version=\"1.0\" encoding=\"utf-16\"?>\n<RegionSettings><Terrain><WaterHeight>18.5</WaterHeight><FixedSun>False</FixedSun><SunPosition>0</SunPosition></Terrain></RegionSettings>",
    )?;
    add(
        &mut tar,
        "landdata/00000000-0000-0000-0000-0000000000aa.xml",
        b"<LandData><Area>65536</Area></LandData>",
    )?;
    add(
        &mut tar,
        "archive.xml",
        b"<?xml version=\"1.0\" encoding=\"utf-16\"?>\n<archive major_version=\"0\" minor_version=\"8\"><creation_info><datetime>0</datetime></creation_info></archive>",
    )?;
    tar.into_inner()?.finish()
}
