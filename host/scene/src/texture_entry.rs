//! The binary face description of a prim ("texture entry", §5.2.4).
//!
//! Only the two blocks the model needs are decoded: textures (dependency gathering)
//! and colours (`SetPartColor`). Everything after the colour block (repeats,
//! offsets, rotation, material, media, glow, material ids) is kept byte for byte in
//! `tail`, so that writing an object back loses nothing a viewer would show.
//!
//! Each block is "default value, then (face mask, value) overrides, then a zero
//! mask"; masks are big-endian groups of 7 bits whose high bit marks continuation.

use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

use crate::math::Color;

/// Five 7-bit groups already cover a 32-bit face mask; longer masks are malformed.
const MAX_MASK_BYTES: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TextureEntryError {
    #[error("texture entry truncated")]
    Truncated,
    #[error("texture entry face mask too long")]
    MaskTooLong,
}

/// A value that overrides the default on the faces whose bits are set in `faces`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FaceOverride<T> {
    pub faces: u32,
    pub value: T,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextureEntry {
    pub default_texture: Uuid,
    pub face_textures: Vec<FaceOverride<Uuid>>,
    pub default_color: Color,
    pub face_colors: Vec<FaceOverride<Color>>,
    /// The undecoded blocks after the colours, verbatim.
    pub tail: Vec<u8>,
}

impl Default for TextureEntry {
    fn default() -> Self {
        TextureEntry::with_texture(Uuid::nil())
    }
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], TextureEntryError> {
        let end = self.pos.checked_add(n).ok_or(TextureEntryError::Truncated)?;
        let slice = self.data.get(self.pos..end).ok_or(TextureEntryError::Truncated)?;
        self.pos = end;
        Ok(slice)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn mask(&mut self) -> Result<u32, TextureEntryError> {
        let mut mask: u64 = 0;
        for _ in 0..MAX_MASK_BYTES {
            let b = self.take(1)?[0];
            mask = (mask << 7) | u64::from(b & 0x7f);
            if b & 0x80 == 0 {
                return u32::try_from(mask).map_err(|_| TextureEntryError::MaskTooLong);
            }
        }
        Err(TextureEntryError::MaskTooLong)
    }
}

fn write_mask(out: &mut Vec<u8>, mask: u32) {
    let mut groups = Vec::with_capacity(MAX_MASK_BYTES);
    let mut m = mask;
    loop {
        groups.push((m & 0x7f) as u8);
        m >>= 7;
        if m == 0 {
            break;
        }
    }
    let last = groups.len() - 1;
    for (i, g) in groups.iter().rev().enumerate() {
        out.push(if i < last { g | 0x80 } else { *g });
    }
}

fn color_from_bytes(b: &[u8]) -> Color {
    // Stored inverted, so that all-zero bytes mean opaque white.
    let c = |v: u8| f32::from(255 - v) / 255.0;
    Color::new(c(b[0]), c(b[1]), c(b[2]), c(b[3]))
}

fn color_to_bytes(c: Color) -> [u8; 4] {
    let c = c.clamped();
    let b = |v: f32| 255 - (v * 255.0).round() as u8;
    [b(c.r), b(c.g), b(c.b), b(c.a)]
}

fn read_block<T>(cur: &mut Cursor<'_>, size: usize, conv: impl Fn(&[u8]) -> T) -> Result<(T, Vec<FaceOverride<T>>), TextureEntryError> {
    let default = conv(cur.take(size)?);
    let mut overrides = Vec::new();
    loop {
        let faces = cur.mask()?;
        if faces == 0 {
            return Ok((default, overrides));
        }
        overrides.push(FaceOverride {
            faces,
            value: conv(cur.take(size)?),
        });
    }
}

impl TextureEntry {
    /// One texture on every face, opaque white, nothing else.
    pub fn with_texture(texture: Uuid) -> Self {
        TextureEntry {
            default_texture: texture,
            face_textures: Vec::new(),
            default_color: Color::WHITE,
            face_colors: Vec::new(),
            tail: Vec::new(),
        }
    }

    /// Decodes the binary block. An empty block is a default entry; a block that
    /// stops after the textures keeps the default colour.
    pub fn from_bytes(data: &[u8]) -> Result<Self, TextureEntryError> {
        if data.is_empty() {
            return Ok(TextureEntry::default());
        }
        let mut cur = Cursor { data, pos: 0 };
        let uuid = |b: &[u8]| Uuid::from_slice(b).unwrap_or_default();
        let (default_texture, face_textures) = read_block(&mut cur, 16, uuid)?;
        let mut entry = TextureEntry::with_texture(default_texture);
        entry.face_textures = face_textures;
        if cur.at_end() {
            return Ok(entry);
        }
        let (default_color, face_colors) = read_block(&mut cur, 4, color_from_bytes)?;
        entry.default_color = default_color;
        entry.face_colors = face_colors;
        entry.tail = data.get(cur.pos..).unwrap_or_default().to_vec();
        Ok(entry)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.tail.len());
        out.extend_from_slice(self.default_texture.as_bytes());
        for o in &self.face_textures {
            write_mask(&mut out, o.faces);
            out.extend_from_slice(o.value.as_bytes());
        }
        out.push(0);
        out.extend_from_slice(&color_to_bytes(self.default_color));
        for o in &self.face_colors {
            write_mask(&mut out, o.faces);
            out.extend_from_slice(&color_to_bytes(o.value));
        }
        out.push(0);
        out.extend_from_slice(&self.tail);
        out
    }

    /// Every non-zero texture of the entry, default first, without duplicates.
    pub fn textures(&self) -> Vec<Uuid> {
        let mut out: Vec<Uuid> = Vec::new();
        let all = std::iter::once(self.default_texture).chain(self.face_textures.iter().map(|o| o.value));
        for t in all {
            if !t.is_nil() && !out.contains(&t) {
                out.push(t);
            }
        }
        out
    }

    /// `SetPartColor`: one clamped colour on every face, default and overrides.
    pub fn set_all_colors(&mut self, color: Color) {
        let color = color.clamped();
        self.default_color = color;
        for o in &mut self.face_colors {
            o.value = color;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn b64(s: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD.decode(s).unwrap()
    }

    // The root prim of the Penrose object asset: a texture, a grey colour with
    // alpha 0, and the usual tail.
    const PENROSE_ROOT: &str = "pNrRlulVT3u9jDcyzmZ8SAB/f3//AAAAgD8AAACAPwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    #[test]
    fn decodes_real_entry_and_round_trips() {
        let bytes = b64(PENROSE_ROOT);
        let te = TextureEntry::from_bytes(&bytes).unwrap();
        assert_eq!(te.default_texture.to_string(), "a4dad196-e955-4f7b-bd8c-3732ce667c48");
        assert!(te.face_textures.is_empty());
        assert!((te.default_color.r - 128.0 / 255.0).abs() < 1e-6);
        assert_eq!(te.default_color.a, 0.0);
        assert_eq!(te.to_bytes(), bytes);
    }

    #[test]
    fn face_overrides_round_trip() {
        let mut te = TextureEntry::with_texture(Uuid::from_u128(1));
        te.face_textures.push(FaceOverride {
            faces: 0b101,
            value: Uuid::from_u128(2),
        });
        te.face_textures.push(FaceOverride {
            faces: 1 << 20,
            value: Uuid::from_u128(3),
        });
        te.face_colors.push(FaceOverride {
            faces: 0b10,
            value: Color::new(1.0, 0.0, 0.0, 1.0),
        });
        te.tail = vec![1, 2, 3];
        let back = TextureEntry::from_bytes(&te.to_bytes()).unwrap();
        assert_eq!(back, te);
        assert_eq!(back.textures(), vec![Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3)]);
    }

    #[test]
    fn truncated_and_overlong_masks_are_errors() {
        assert_eq!(TextureEntry::from_bytes(&[1, 2, 3]), Err(TextureEntryError::Truncated));
        let mut bad = vec![0u8; 16];
        bad.extend_from_slice(&[0x80; 6]);
        assert_eq!(TextureEntry::from_bytes(&bad), Err(TextureEntryError::MaskTooLong));
    }

    #[test]
    fn rc_38_set_all_colors_clamps_and_covers_overrides() {
        let mut te = TextureEntry::default();
        te.face_colors.push(FaceOverride {
            faces: 1,
            value: Color::new(0.0, 0.0, 0.0, 0.0),
        });
        te.set_all_colors(Color::new(2.0, -1.0, 0.5, 3.0));
        let want = Color::new(1.0, 0.0, 0.5, 1.0);
        assert_eq!(te.default_color, want);
        assert_eq!(te.face_colors[0].value, want);
        let back = TextureEntry::from_bytes(&te.to_bytes()).unwrap();
        assert!((back.default_color.b - 0.5).abs() < 0.003);
    }
}
