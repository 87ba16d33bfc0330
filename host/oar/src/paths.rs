//! Member paths: what a path is (object, asset, terrain, …), the asset file
//! names of OpenSim's archives (`assets/<uuid>_<kind>.<ext>`), and the safety
//! check every path passes.

use dispatcher_scene::AssetType;
use uuid::Uuid;

pub const CONTROL_FILE: &str = "archive.xml";
pub const OBJECTS_DIR: &str = "objects/";
pub const ASSETS_DIR: &str = "assets/";
pub const TERRAINS_DIR: &str = "terrains/";
pub const SETTINGS_DIR: &str = "settings/";

/// (type, file name suffix after the id), as OpenSim's `ArchiveConstants`
/// names them; `component.wasm` is this host's WebAssembly components.
const ASSET_SUFFIXES: &[(AssetType, &str)] = &[
    (AssetType::Animation, "_animation.bvh"),
    (AssetType::Bodypart, "_bodypart.txt"),
    (AssetType::CallingCard, "_callingcard.txt"),
    (AssetType::Clothing, "_clothing.txt"),
    (AssetType::Folder, "_folder.txt"),
    (AssetType::Gesture, "_gesture.txt"),
    (AssetType::ImageJpeg, "_image.jpg"),
    (AssetType::ImageTga, "_image.tga"),
    (AssetType::Landmark, "_landmark.txt"),
    (AssetType::LslBytecode, "_bytecode.lso"),
    (AssetType::LslText, "_script.lsl"),
    (AssetType::Notecard, "_notecard.txt"),
    (AssetType::Object, "_object.xml"),
    (AssetType::Simstate, "_simstate.bin"),
    (AssetType::Sound, "_sound.ogg"),
    (AssetType::SoundWav, "_sound.wav"),
    (AssetType::Texture, "_texture.jp2"),
    (AssetType::TextureTga, "_texture.tga"),
    (AssetType::TrashFolder, "_trashfolder.txt"),
    (AssetType::Mesh, "_mesh.llmesh"),
    (AssetType::Material, "_material.xml"),
    (AssetType::Unknown, "_unknown.txt"),
    (AssetType::WasmComponent, "_component.wasm"),
];

/// What a member is, by its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Control,
    Object,
    Asset(Uuid, AssetType),
    Terrain,
    Settings,
    /// Anything else: kept verbatim.
    Other,
}

pub fn classify(path: &str) -> Kind {
    if path == CONTROL_FILE {
        return Kind::Control;
    }
    if let Some(name) = path.strip_prefix(OBJECTS_DIR) {
        if name.ends_with(".xml") && !name.contains('/') {
            return Kind::Object;
        }
    }
    if let Some(name) = path.strip_prefix(ASSETS_DIR) {
        if let Some((id, t)) = asset_name(name) {
            return Kind::Asset(id, t);
        }
    }
    if path.starts_with(TERRAINS_DIR) && path.ends_with(".r32") {
        return Kind::Terrain;
    }
    if path.starts_with(SETTINGS_DIR) && path.ends_with(".xml") {
        return Kind::Settings;
    }
    Kind::Other
}

/// `<uuid>_<kind>.<ext>` → id and type; `None` for kinds not in the table
/// (such members are kept verbatim instead).
fn asset_name(name: &str) -> Option<(Uuid, AssetType)> {
    let id = name.get(..36)?;
    let suffix = name.get(36..)?;
    let id = Uuid::parse_str(id).ok()?;
    let (t, _) = ASSET_SUFFIXES.iter().find(|(_, s)| *s == suffix)?;
    Some((id, *t))
}

/// The member path an asset is written at; types without a file name of
/// their own are written as `_unknown.txt`… only when the table lacks them,
/// which `None` reports (the caller keeps such assets out).
pub fn asset_path(id: Uuid, asset_type: AssetType) -> Option<String> {
    let (_, suffix) = ASSET_SUFFIXES.iter().find(|(t, _)| *t == asset_type)?;
    Some(format!("{ASSETS_DIR}{id}{suffix}"))
}

/// OpenSim's object member name: `objects/<name>_<x>-<y>-<z>__<uuid>.xml`,
/// the name reduced to characters safe in any file system.
pub fn object_path(name: &str, position: [f32; 3], id: Uuid) -> String {
    let safe: String = name
        .chars()
        .take(64)
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '.') { c } else { '_' })
        .collect();
    let coord = |v: f32| if v.is_finite() { v.clamp(0.0, 99_999.0) as u32 } else { 0 };
    format!(
        "{OBJECTS_DIR}{safe}_{:03}-{:03}-{:03}__{id}.xml",
        coord(position[0]),
        coord(position[1]),
        coord(position[2])
    )
}

/// The member path as read from the tar header, made relative (`./` dropped),
/// or `None` when it is absolute, climbs out (`..`), uses backslashes or a
/// drive prefix, or is empty.
pub fn safe_path(raw: &str) -> Option<String> {
    if raw.starts_with('/') || raw.contains('\\') || raw.contains('\0') {
        return None;
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            p if p.contains(':') && parts.is_empty() => return None,
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return None;
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_leave_the_archive_are_refused() {
        for bad in ["../x", "/etc/passwd", "assets/../../x", "a\\..\\b", "C:/x", "", "./"] {
            assert_eq!(safe_path(bad), None, "{bad:?}");
        }
        assert_eq!(safe_path("./objects/a.xml").as_deref(), Some("objects/a.xml"));
        assert_eq!(safe_path("terrains//t.r32").as_deref(), Some("terrains/t.r32"));
    }

    #[test]
    fn asset_names_map_both_ways_and_unknown_kinds_are_other() {
        let id = Uuid::from_u128(0x1234);
        for (t, _) in ASSET_SUFFIXES {
            let path = asset_path(id, *t).expect("named");
            assert_eq!(classify(&path), Kind::Asset(id, *t), "{path}");
        }
        assert_eq!(classify(&format!("assets/{id}_hologram.holo")), Kind::Other);
        assert_eq!(classify("assets/not-a-uuid_texture.jp2"), Kind::Other);
        assert_eq!(classify("landdata/x.xml"), Kind::Other);
        assert_eq!(classify("archive.xml"), Kind::Control);
        assert_eq!(classify("objects/a_1-2-3__x.xml"), Kind::Object);
        assert_eq!(classify("terrains/Scratch 00.r32"), Kind::Terrain);
        assert_eq!(classify("settings/Scratch 00.xml"), Kind::Settings);
    }

    #[test]
    fn object_paths_follow_opensim_and_are_safe() {
        let p = object_path("A/b<c>", [5.2, 300.0, -1.0], Uuid::nil());
        assert_eq!(p, format!("objects/A_b_c__005-300-000__{}.xml", Uuid::nil()));
        assert_eq!(safe_path(&p).as_deref(), Some(p.as_str()));
    }
}
