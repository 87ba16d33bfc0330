//! Elements of the object XML the model does not interpret, kept for writing back.
//!
//! A part carries about a hundred such elements (path cuts, flexi, light, sit
//! targets, pay prices…). Holding them as an element tree meant hundreds of small
//! allocations per part, which dominated loading and cloning a large region. They
//! are only ever written back whole, so they are held as one text fragment: the
//! elements serialised in document order, exactly as [`Element::write`] writes them
//! (so write → parse → write is byte-identical).
//!
//! The fragment is held packed (about a quarter of its text size for a typical
//! part): tags of well-known names ([`crate::kept_names`]) become two bytes, the
//! nil UUID one. Token bytes are control characters, which XML text cannot
//! hold; a fragment that holds them anyway is kept verbatim behind a marker.
//! Packed text is still UTF-8, so it serialises as a plain string.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use serde::de::{SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::kept_names::{KEPT_NAMES, MAX_KEPT_NAMES};
use crate::xml_tree::{Element, XmlError, XmlLimits};

/// Token bytes: `<Name>`, `</Name>`, `<Name />` for names 0..95, then for 95..190.
const OPEN: [u8; 2] = [0x01, 0x04];
const CLOSE: [u8; 2] = [0x02, 0x05];
const EMPTY: [u8; 2] = [0x03, 0x06];
/// First byte of a fragment stored as plain text (it held token bytes itself).
const VERBATIM: u8 = 0x07;
/// `00000000-0000-0000-0000-000000000000`.
const NIL_UUID_TOKEN: u8 = 0x08;
const NIL_UUID: &str = "00000000-0000-0000-0000-000000000000";
/// Index bytes are printable ASCII, so packed text stays UTF-8.
const INDEX_BASE: u8 = 0x20;
const NAMES_PER_PAGE: usize = 95;

fn is_token_byte(b: u8) -> bool {
    (0x01..=NIL_UUID_TOKEN).contains(&b)
}

fn name_index() -> &'static HashMap<&'static str, usize> {
    static INDEX: OnceLock<HashMap<&'static str, usize>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut map = HashMap::new();
        for (i, name) in KEPT_NAMES.iter().enumerate().take(MAX_KEPT_NAMES) {
            map.entry(*name).or_insert(i);
        }
        map
    })
}

/// The token for a tag of `name`, if it has one.
fn token(kind: [u8; 2], name: &str) -> Option<[u8; 2]> {
    let i = *name_index().get(name)?;
    let (page, index) = (i / NAMES_PER_PAGE, i % NAMES_PER_PAGE);
    Some([kind[page], INDEX_BASE + index as u8])
}

/// Packs canonical element text (as [`Element::write`] gives it).
fn pack(text: &str) -> Box<str> {
    if text.bytes().any(is_token_byte) {
        let mut out = String::with_capacity(text.len() + 1);
        out.push(VERBATIM as char);
        out.push_str(text);
        return out.into_boxed_str();
    }
    let mut out: Vec<u8> = Vec::with_capacity(text.len() / 3);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if let Some((tok, used)) = tag_token(rest) {
            out.extend_from_slice(&tok);
            rest = &rest[used..];
        } else if let Some(after) = rest.strip_prefix(NIL_UUID) {
            out.push(NIL_UUID_TOKEN);
            rest = after;
        } else {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            rest = &rest[c.len_utf8()..];
        }
    }
    // Only ASCII was replaced by ASCII, so this cannot fail; stay total anyway.
    String::from_utf8(out)
        .map(String::into_boxed_str)
        .unwrap_or_else(|_| format!("{}{text}", VERBATIM as char).into_boxed_str())
}

/// A simple tag (`<N>`, `</N>`, `<N />`) of a listed name at the start of `s`:
/// its token and length.
fn tag_token(s: &str) -> Option<([u8; 2], usize)> {
    let body = s.strip_prefix('<')?;
    let (kind, body, offset) = match body.strip_prefix('/') {
        Some(b) => (CLOSE, b, 2),
        None => (OPEN, body, 1),
    };
    let end = body.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))?;
    let name = &body[..end];
    let after = &body[end..];
    if after.starts_with('>') {
        return Some((token(kind, name)?, offset + end + 1));
    }
    if kind == OPEN && after.starts_with(" />") {
        return Some((token(EMPTY, name)?, offset + end + 3));
    }
    None
}

/// The name a tag token (`kind`, `index` bytes) stands for.
fn token_name(kind: u8, index: u8) -> Result<&'static str, &'static str> {
    let page = usize::from((kind - 1) / 3);
    let slot = usize::from(index.checked_sub(INDEX_BASE).ok_or("bad tag index")?);
    if slot >= NAMES_PER_PAGE {
        return Err("bad tag index");
    }
    KEPT_NAMES.get(page * NAMES_PER_PAGE + slot).copied().ok_or("unknown tag index")
}

/// Checks packed text without expanding it (loading must not pay for that).
fn check_packed(packed: &str) -> Result<(), &'static str> {
    if packed.starts_with(VERBATIM as char) {
        return Ok(());
    }
    let bytes = packed.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if is_token_byte(b) && b != NIL_UUID_TOKEN && b != VERBATIM {
            token_name(b, *bytes.get(i + 1).ok_or("truncated tag token")?)?;
            i += 2;
        } else if b == VERBATIM {
            return Err("misplaced verbatim marker");
        } else {
            i += 1;
        }
    }
    Ok(())
}

/// Appends the text of packed `packed`; `Err` names what is corrupt.
fn unpack_into(packed: &str, out: &mut String) -> Result<(), &'static str> {
    if let Some(text) = packed.strip_prefix(VERBATIM as char) {
        out.push_str(text);
        return Ok(());
    }
    let bytes = packed.as_bytes();
    let mut plain_from = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !is_token_byte(b) {
            i += 1;
            continue;
        }
        out.push_str(&packed[plain_from..i]);
        if b == NIL_UUID_TOKEN {
            out.push_str(NIL_UUID);
            i += 1;
        } else if b == VERBATIM {
            return Err("misplaced verbatim marker");
        } else {
            let name = token_name(b, *bytes.get(i + 1).ok_or("truncated tag token")?)?;
            match (b - 1) % 3 {
                0 => {
                    out.push('<');
                    out.push_str(name);
                    out.push('>');
                }
                1 => {
                    out.push_str("</");
                    out.push_str(name);
                    out.push('>');
                }
                _ => {
                    out.push('<');
                    out.push_str(name);
                    out.push_str(" />");
                }
            }
            i += 2;
        }
        plain_from = i;
    }
    out.push_str(&packed[plain_from..]);
    Ok(())
}

/// Serialised XML elements in document order, packed; empty when there are
/// none. Serialised as the packed string (checked when read back); also read
/// from the element list objects were stored with before.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct KeptXml(Box<str>);

impl<'de> Deserialize<'de> for KeptXml {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KeptXmlVisitor)
    }
}

struct KeptXmlVisitor;

impl<'de> Visitor<'de> for KeptXmlVisitor {
    type Value = KeptXml;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("XML text or a list of elements")
    }

    fn visit_str<E: serde::de::Error>(self, packed: &str) -> Result<KeptXml, E> {
        KeptXml::from_packed(packed.into()).map_err(E::custom)
    }

    fn visit_string<E: serde::de::Error>(self, packed: String) -> Result<KeptXml, E> {
        KeptXml::from_packed(packed.into_boxed_str()).map_err(E::custom)
    }

    /// Objects stored before the text form held their kept elements as a tree.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<KeptXml, A::Error> {
        let mut elements = Vec::new();
        while let Some(el) = seq.next_element::<Element>()? {
            elements.push(el);
        }
        Ok(KeptXml::from_elements(&elements))
    }
}

/// Wrapper element used to re-read a fragment (it may hold several elements).
const FRAGMENT_ROOT: &str = "Kept";

impl KeptXml {
    /// No kept elements.
    pub fn new() -> Self {
        KeptXml::default()
    }

    /// The fragment of these elements, in order.
    pub fn from_elements<'a>(elements: impl IntoIterator<Item = &'a Element>) -> Self {
        let mut out = String::new();
        for el in elements {
            el.write(&mut out);
        }
        KeptXml(pack(&out))
    }

    /// The fragment of elements already serialised in canonical form (as
    /// [`Element::write`] writes them; the streaming object reader does).
    pub(crate) fn from_canonical(text: &str) -> Self {
        if text.is_empty() {
            return KeptXml::new();
        }
        KeptXml(pack(text))
    }

    /// Packed text read back from storage: checked, so writing never meets
    /// a bad token.
    fn from_packed(packed: Box<str>) -> Result<Self, String> {
        check_packed(&packed).map_err(|e| format!("corrupt kept XML: {e}"))?;
        Ok(KeptXml(packed))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Appends the serialised elements to a document.
    pub fn write_to(&self, out: &mut String) {
        // Checked when made or read back: the error branch is unreachable.
        let _ = unpack_into(&self.0, out);
    }

    /// The serialised elements.
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(self.0.len() * 4);
        self.write_to(&mut out);
        out
    }

    /// Bytes held (the packed form).
    pub fn packed_len(&self) -> usize {
        self.0.len()
    }

    /// Re-reads the kept elements as a tree (for inspection; not on any hot path).
    pub fn elements(&self, limits: XmlLimits) -> Result<Vec<Element>, XmlError> {
        let doc = format!("<{FRAGMENT_ROOT}>{}</{FRAGMENT_ROOT}>", self.to_xml());
        // One extra level for the wrapper element.
        let limits = XmlLimits {
            max_depth: limits.max_depth.saturating_add(1),
            max_elements: limits.max_elements.saturating_add(1),
        };
        Ok(Element::parse(&doc, limits)?.children)
    }

    /// Names of the kept top-level elements, in order.
    pub fn names(&self) -> Vec<String> {
        let limits = XmlLimits {
            max_depth: usize::MAX,
            max_elements: usize::MAX,
        };
        self.elements(limits)
            .map(|els| els.into_iter().map(|e| e.name).collect())
            .unwrap_or_default()
    }

    /// Drops every kept element.
    pub fn clear(&mut self) {
        self.0 = Box::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_round_trips_through_elements() {
        let els = vec![
            Element::leaf("PathScaleX", "100"),
            Element::new("Empty"),
            Element::new("Deep").with_child(Element::leaf("X", "a<b & c")),
        ];
        let kept = KeptXml::from_elements(&els);
        assert_eq!(kept.to_xml(), "<PathScaleX>100</PathScaleX><Empty /><Deep><X>a&lt;b &amp; c</X></Deep>");
        let limits = XmlLimits {
            max_depth: 4,
            max_elements: 10,
        };
        assert_eq!(kept.elements(limits).unwrap(), els);
        assert_eq!(kept.names(), vec!["PathScaleX", "Empty", "Deep"]);
        assert!(KeptXml::new().is_empty());
        assert!(KeptXml::new().elements(limits).unwrap().is_empty());
    }

    #[test]
    fn reads_text_and_the_older_element_list() {
        let kept: KeptXml = serde_json::from_str("\"<A>1</A>\"").unwrap();
        assert_eq!(kept.to_xml(), "<A>1</A>");
        let legacy = r#"[{"name":"A","text":"1"},{"name":"B","children":[{"name":"C"}]}]"#;
        let kept: KeptXml = serde_json::from_str(legacy).unwrap();
        assert_eq!(kept.to_xml(), "<A>1</A><B><C /></B>");
        let json = serde_json::to_string(&kept).unwrap();
        assert_eq!(serde_json::from_str::<KeptXml>(&json).unwrap(), kept);
        assert!(serde_json::from_str::<KeptXml>("7").is_err());
        // Bad tokens from storage are refused, not written out.
        for bad in ["\"\\u0001\"", "\"\\u0001\\u007f\"", "\"\\u0006~\"", "\"a\\u0007\""] {
            assert!(serde_json::from_str::<KeptXml>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn packing_is_compact_and_exact() {
        let text = "<PathScaleX>100</PathScaleX><Sound><UUID>00000000-0000-0000-0000-000000000000</UUID></Sound>\
            <Text /><Odd a=\"1\">é &lt;</Odd><PrimMediaURLs>x</PrimMediaURLs>";
        let packed = pack(text);
        assert!(packed.len() < text.len() / 2, "{packed:?}");
        let mut out = String::new();
        unpack_into(&packed, &mut out).unwrap();
        assert_eq!(out, text);
        // Text holding token bytes itself is kept verbatim.
        let odd = "<A>\u{1}\u{8}</A>";
        let packed = pack(odd);
        let mut out = String::new();
        unpack_into(&packed, &mut out).unwrap();
        assert_eq!(out, odd);
        assert!(KEPT_NAMES.len() <= MAX_KEPT_NAMES);
    }
}
