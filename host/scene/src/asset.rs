//! Asset records and the asset-type / content-type mapping (§5.1).
//!
//! Types are signed bytes on every wire this host speaks. Codes the model does
//! not name are kept as [`AssetType::Other`] rather than refused, because the REST
//! service and old archives carry folder and legacy codes through unchanged.
//!
//! [`AssetType::WasmComponent`] (code 100) is this host's addition for WebAssembly
//! components (scripting spec §6). OpenSim uses codes −2..=57 (and a handful of
//! legacy values below 100), so 100 cannot collide with an asset an OpenSim grid
//! produces. Its canonical content type is the standard `application/wasm`; the
//! label does not prove the bytes are a component — the scripting host checks that
//! when it loads them.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::limits::SceneLimits;

/// An asset type code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "i8", into = "i8")]
pub enum AssetType {
    Material,
    Unknown,
    Texture,
    Sound,
    CallingCard,
    Landmark,
    Clothing,
    Object,
    Notecard,
    Folder,
    RootFolder,
    LslText,
    LslBytecode,
    TextureTga,
    Bodypart,
    TrashFolder,
    SnapshotFolder,
    LostAndFoundFolder,
    SoundWav,
    ImageTga,
    ImageJpeg,
    Animation,
    Gesture,
    Simstate,
    Mesh,
    /// WebAssembly component (this host's addition, code 100).
    WasmComponent,
    /// Any other code, kept as given.
    Other(i8),
}

/// (type, code, content types; the first content type is canonical).
const TABLE: &[(AssetType, i8, &[&str])] = &[
    (AssetType::Material, -2, &["application/llsd+xml"]),
    (AssetType::Unknown, -1, &["application/octet-stream"]),
    (AssetType::Texture, 0, &["image/x-j2c", "image/jp2"]),
    (AssetType::Sound, 1, &["audio/ogg", "application/ogg"]),
    (AssetType::CallingCard, 2, &["application/vnd.ll.callingcard"]),
    (AssetType::Landmark, 3, &["application/vnd.ll.landmark"]),
    (AssetType::Clothing, 5, &["application/vnd.ll.clothing"]),
    (AssetType::Object, 6, &["application/vnd.ll.primitive"]),
    (AssetType::Notecard, 7, &["application/vnd.ll.notecard"]),
    (AssetType::Folder, 8, &[]),
    (AssetType::RootFolder, 9, &[]),
    (AssetType::LslText, 10, &["application/vnd.ll.lsltext"]),
    (AssetType::LslBytecode, 11, &["application/vnd.ll.lslbyte"]),
    (AssetType::TextureTga, 12, &["image/tga"]),
    (AssetType::Bodypart, 13, &["application/vnd.ll.bodypart"]),
    (AssetType::TrashFolder, 14, &[]),
    (AssetType::SnapshotFolder, 15, &[]),
    (AssetType::LostAndFoundFolder, 16, &[]),
    (AssetType::SoundWav, 17, &["audio/x-wav"]),
    (AssetType::ImageTga, 18, &[]),
    (AssetType::ImageJpeg, 19, &["image/jpeg"]),
    (AssetType::Animation, 20, &["application/vnd.ll.animation"]),
    (AssetType::Gesture, 21, &["application/vnd.ll.gesture"]),
    (AssetType::Simstate, 22, &[]),
    (AssetType::Mesh, 49, &["application/vnd.ll.mesh"]),
    (AssetType::WasmComponent, 100, &["application/wasm"]),
];

/// Reported for types without a content type of their own.
const FALLBACK_CONTENT_TYPE: &str = "application/octet-stream";

impl From<i8> for AssetType {
    fn from(code: i8) -> Self {
        TABLE
            .iter()
            .find(|(_, c, _)| *c == code)
            .map(|(t, _, _)| *t)
            .unwrap_or(AssetType::Other(code))
    }
}

impl From<AssetType> for i8 {
    fn from(t: AssetType) -> i8 {
        t.code()
    }
}

impl AssetType {
    pub fn code(self) -> i8 {
        match self {
            AssetType::Other(code) => code,
            known => TABLE.iter().find(|(t, _, _)| *t == known).map(|(_, c, _)| *c).unwrap_or(-1),
        }
    }

    /// The type a content type names, or `Unknown` (−1) when it names none.
    /// Matching is exact, as the original's table lookup was.
    pub fn from_content_type(content_type: &str) -> AssetType {
        TABLE
            .iter()
            .find(|(_, _, names)| names.contains(&content_type))
            .map(|(t, _, _)| *t)
            .unwrap_or(AssetType::Unknown)
    }

    /// The first content type of the type's row (§5.1).
    pub fn canonical_content_type(self) -> &'static str {
        TABLE
            .iter()
            .find(|(t, _, _)| *t == self)
            .and_then(|(_, _, names)| names.first().copied())
            .unwrap_or(FALLBACK_CONTENT_TYPE)
    }
}

/// One stored asset (§3.4; REST §10 adds nothing but `local`/`temporary`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Asset {
    pub id: Uuid,
    pub asset_type: AssetType,
    pub name: String,
    pub description: String,
    /// Kept verbatim when given, also when it names no known type (RC-46).
    pub content_type: Option<String>,
    /// Free text, normally a UUID string.
    pub creator_id: String,
    /// Never forwarded to a grid (the original marked uploads local).
    pub local: bool,
    pub temporary: bool,
    pub data: Vec<u8>,
}

/// Why an asset record is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssetError {
    #[error("asset too large ({bytes} bytes, limit {limit})")]
    TooLarge { bytes: usize, limit: usize },
}

impl Asset {
    /// An asset uploaded with a content type: the type follows from it (§4.3.3).
    pub fn from_content_type(id: Uuid, content_type: &str, data: Vec<u8>) -> Self {
        Asset {
            id,
            asset_type: AssetType::from_content_type(content_type),
            name: String::new(),
            description: String::new(),
            content_type: Some(content_type.to_string()),
            creator_id: String::new(),
            local: true,
            temporary: false,
            data,
        }
    }

    /// An asset known by type only (REST uploads, archives).
    pub fn from_type(id: Uuid, asset_type: AssetType, data: Vec<u8>) -> Self {
        Asset {
            content_type: None,
            asset_type,
            ..Asset::from_content_type(id, "", data)
        }
    }

    /// The stored content type, or the type's canonical one (§4.3.2).
    pub fn effective_content_type(&self) -> &str {
        match &self.content_type {
            Some(ct) if !ct.is_empty() => ct,
            _ => self.asset_type.canonical_content_type(),
        }
    }

    /// The data as text: one trailing NUL stripped, as OpenSim appends one (§5.1).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        let data = self.data.strip_suffix(&[0]).unwrap_or(&self.data);
        String::from_utf8_lossy(data)
    }

    pub fn check_limits(&self, limits: &SceneLimits) -> Result<(), AssetError> {
        if self.data.len() > limits.max_asset_bytes {
            return Err(AssetError::TooLarge {
                bytes: self.data.len(),
                limit: limits.max_asset_bytes,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_including_unnamed() {
        for code in i8::MIN..=i8::MAX {
            assert_eq!(AssetType::from(code).code(), code);
        }
        assert_eq!(AssetType::from(6), AssetType::Object);
        assert_eq!(AssetType::from(4), AssetType::Other(4));
        assert_eq!(AssetType::WasmComponent.code(), 100);
        assert_eq!(serde_json::to_string(&AssetType::Notecard).unwrap(), "7");
        assert_eq!(serde_json::from_str::<AssetType>("100").unwrap(), AssetType::WasmComponent);
    }

    #[test]
    fn content_type_mapping_of_5_1() {
        assert_eq!(AssetType::from_content_type("image/jp2"), AssetType::Texture);
        assert_eq!(AssetType::from_content_type("application/ogg"), AssetType::Sound);
        assert_eq!(AssetType::from_content_type("application/vnd.ll.primitive"), AssetType::Object);
        assert_eq!(AssetType::from_content_type("application/wasm"), AssetType::WasmComponent);
        assert_eq!(AssetType::Sound.canonical_content_type(), "audio/ogg");
        assert_eq!(AssetType::Folder.canonical_content_type(), "application/octet-stream");
    }

    #[test]
    fn rc_46_unknown_content_type_is_kept_verbatim() {
        let a = Asset::from_content_type(Uuid::from_u128(1), "text/x-mystery", vec![1]);
        assert_eq!(a.asset_type, AssetType::Unknown);
        assert_eq!(a.effective_content_type(), "text/x-mystery");
        let b = Asset::from_type(Uuid::from_u128(2), AssetType::Notecard, vec![]);
        assert_eq!(b.effective_content_type(), "application/vnd.ll.notecard");
    }

    #[test]
    fn text_strips_one_trailing_nul() {
        let a = Asset::from_type(Uuid::nil(), AssetType::Notecard, b"hi\0\0".to_vec());
        assert_eq!(a.text(), "hi\0");
    }

    #[test]
    fn asset_size_limit() {
        let limits = SceneLimits {
            max_asset_bytes: 4,
            ..SceneLimits::default()
        };
        let a = Asset::from_type(Uuid::nil(), AssetType::Texture, vec![0; 5]);
        assert_eq!(a.check_limits(&limits), Err(AssetError::TooLarge { bytes: 5, limit: 4 }));
    }
}
