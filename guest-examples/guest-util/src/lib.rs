//! Helpers shared by the Rust guest examples.
//!
//! Deliberately free of WIT bindings: each guest generates its own bindings, and
//! types generated in two crates would be distinct types. Everything here is
//! plain data and arithmetic, so it can be unit-tested on the build machine
//! (`cargo test -p guest-util --target x86_64-unknown-linux-gnu`).

pub mod penrose;

/// The zero UUID: "none" for every id field of the protocol.
pub const ZERO_UUID: &str = "00000000-0000-0000-0000-000000000000";

/// OpenSim's default "plywood" texture; every viewer and asset server has it,
/// so a generated box never refers to an asset that might be missing.
pub const PLYWOOD_TEXTURE: &str = "89556747-24cb-43ed-920b-47caed15465f";

/// Base64 of a minimal texture entry (remote-control §5.2.4): plywood as the
/// default texture, white opaque colour, repeats 1.0, everything else zero, no
/// per-face overrides. Precomputed because a guest has no reason to carry a
/// base64 encoder for one constant.
const TEXTURE_ENTRY_B64: &str = "iVVnRyTLQ+2SC0fK7RVGXwAAAAAAAAAAgD8AAACAPwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==";

/// An object asset (remote-control §5.2, "original XML format") holding one box
/// prim of the given size, ready for `assets.add` with content type
/// [`OBJECT_CONTENT_TYPE`]. The ids inside are placeholders: `CreateObject`
/// gives every rezzed part a fresh id and the caller as owner anyway.
pub fn box_object_asset(name: &str, scale: [f32; 3]) -> Vec<u8> {
    let part_id = "b0b0b0b0-0000-4000-8000-000000000001";
    let mut xml = String::with_capacity(1500);
    xml.push_str("<SceneObjectGroup><RootPart><SceneObjectPart>");
    push_uuid(&mut xml, "CreatorID", ZERO_UUID);
    push_uuid(&mut xml, "UUID", part_id);
    push_text(&mut xml, "Name", name);
    push_vec(&mut xml, "GroupPosition", &[0.0, 0.0, 0.0]);
    push_vec(&mut xml, "OffsetPosition", &[0.0, 0.0, 0.0]);
    push_quat(&mut xml, "RotationOffset", &[0.0, 0.0, 0.0, 1.0]);
    push_vec(&mut xml, "Velocity", &[0.0, 0.0, 0.0]);
    push_vec(&mut xml, "Acceleration", &[0.0, 0.0, 0.0]);
    push_text(&mut xml, "Description", "");
    xml.push_str("<LinkNum>0</LinkNum>");
    // Square profile + straight path is a box (remote-control §5.2.3).
    xml.push_str("<Shape><ProfileCurve>1</ProfileCurve><TextureEntry>");
    xml.push_str(TEXTURE_ENTRY_B64);
    xml.push_str("</TextureEntry><PathCurve>16</PathCurve><PCode>9</PCode>");
    push_uuid(&mut xml, "SculptTexture", ZERO_UUID);
    xml.push_str("<SculptEntry>false</SculptEntry></Shape>");
    push_vec(&mut xml, "Scale", &scale);
    push_uuid(&mut xml, "GroupID", ZERO_UUID);
    push_uuid(&mut xml, "OwnerID", ZERO_UUID);
    push_uuid(&mut xml, "LastOwnerID", ZERO_UUID);
    xml.push_str("</SceneObjectPart></RootPart><OtherParts /></SceneObjectGroup>");
    let mut bytes = xml.into_bytes();
    // Object assets produced by OpenSim end with one NUL; writing it keeps ours
    // indistinguishable from theirs (remote-control §5.1).
    bytes.push(0);
    bytes
}

/// Content type of object assets (asset type 6).
pub const OBJECT_CONTENT_TYPE: &str = "application/vnd.ll.primitive";

fn push_uuid(xml: &mut String, tag: &str, id: &str) {
    xml.push_str(&format!("<{tag}><UUID>{id}</UUID></{tag}>"));
}

fn push_text(xml: &mut String, tag: &str, text: &str) {
    if text.is_empty() {
        xml.push_str(&format!("<{tag} />"));
    } else {
        xml.push_str(&format!("<{tag}>{}</{tag}>", xml_escape(text)));
    }
}

fn push_vec(xml: &mut String, tag: &str, v: &[f32; 3]) {
    xml.push_str(&format!("<{tag}><X>{}</X><Y>{}</Y><Z>{}</Z></{tag}>", v[0], v[1], v[2]));
}

fn push_quat(xml: &mut String, tag: &str, q: &[f32; 4]) {
    xml.push_str(&format!("<{tag}><X>{}</X><Y>{}</Y><Z>{}</Z><W>{}</W></{tag}>", q[0], q[1], q[2], q[3]));
}

/// Names come from start parameters, i.e. from users: escape them so a name
/// like `a<b` cannot break the asset.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

/// Quaternion `[x, y, z, w]` for a rotation of `yaw` radians about the z axis
/// (counter-clockwise seen from above, the region's convention).
pub fn yaw_quaternion(yaw: f32) -> [f32; 4] {
    let half = yaw * 0.5;
    [0.0, 0.0, half.sin(), half.cos()]
}

/// Start parameters are free text typed by people; the examples read them as
/// whitespace-separated words, where a missing or unparsable word means
/// "use the default" rather than a failed start.
pub fn word<T: std::str::FromStr>(text: &str, index: usize, default: T) -> T {
    text.split_whitespace().nth(index).and_then(|w| w.parse().ok()).unwrap_or(default)
}

/// Decimal text of a counter stored as bytes; `0` for anything unreadable, so a
/// corrupted or foreign value restarts the count instead of wedging the script.
pub fn parse_count(bytes: Option<&[u8]>) -> u64 {
    bytes
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_asset_is_nul_terminated_xml() {
        let asset = box_object_asset("tile <1>", [1.0, 2.0, 0.1]);
        assert_eq!(asset.last(), Some(&0));
        let text = std::str::from_utf8(&asset[..asset.len() - 1]).unwrap();
        assert!(text.starts_with("<SceneObjectGroup><RootPart><SceneObjectPart>"));
        assert!(text.contains("<Name>tile &lt;1&gt;</Name>"));
        assert!(text.contains("<Scale><X>1</X><Y>2</Y><Z>0.1</Z></Scale>"));
    }

    #[test]
    fn words_fall_back_to_defaults() {
        assert_eq!(word("12 x", 0, 7u32), 12);
        assert_eq!(word("12 x", 1, 7u32), 7);
        assert_eq!(word("", 0, -3i32), -3);
        assert_eq!(word(" -5 ", 0, 7i32), -5);
    }

    #[test]
    fn counts_parse_or_restart() {
        assert_eq!(parse_count(Some(b"41")), 41);
        assert_eq!(parse_count(Some(b"x")), 0);
        assert_eq!(parse_count(None), 0);
    }

    #[test]
    fn yaw_quarter_turn() {
        let q = yaw_quaternion(std::f32::consts::FRAC_PI_2);
        assert!((q[2] - q[3]).abs() < 1e-6 && (q[3] - 0.70710677).abs() < 1e-6);
    }
}
