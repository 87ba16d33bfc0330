//! `archive.xml`, the control file: its major version (0 and 1 are read) and
//! the region size it declares; the form OpenSim 0.9 writes for one region.

use dispatcher_scene::xml_tree::{Element, XmlLimits};
use uuid::Uuid;

use crate::OarError;

const XML_LIMITS: XmlLimits = XmlLimits {
    max_depth: 16,
    max_elements: 10_000,
};

/// What the control file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    pub major_version: u32,
    pub minor_version: u32,
    /// `region_info/size_in_meters` when given (version 1 archives).
    pub size_m: Option<(u32, u32)>,
}

/// Text of an XML member: UTF-8 (whatever the declaration says, OpenSim
/// writes UTF-8 bytes), a byte-order mark and NULs around it dropped.
pub(crate) fn xml_text<'a>(member: &str, data: &'a [u8]) -> Result<&'a str, OarError> {
    let data = data.strip_suffix(&[0]).unwrap_or(data);
    let text = std::str::from_utf8(data).map_err(|_| OarError::member(member, "not UTF-8 text"))?;
    Ok(text.trim_start_matches('\u{feff}').trim())
}

pub fn parse(data: &[u8]) -> Result<Control, OarError> {
    let member = crate::paths::CONTROL_FILE;
    let root = Element::parse(xml_text(member, data)?, XML_LIMITS).map_err(|e| OarError::member(member, e))?;
    if root.name != "archive" {
        return Err(OarError::member(member, format!("root element <{}> is not <archive>", root.name)));
    }
    let major = root.attr("major_version").unwrap_or("").trim();
    let major_version = match major {
        "0" => 0,
        "1" => 1,
        other => return Err(OarError::UnknownVersion(other.chars().take(32).collect())),
    };
    let minor_version = root.attr("minor_version").and_then(|m| m.trim().parse().ok()).unwrap_or(0);
    let size_m = root
        .child("region_info")
        .and_then(|r| r.child("size_in_meters"))
        .and_then(|s| s.text.split_once(','))
        .and_then(|(x, y)| Some((x.trim().parse().ok()?, y.trim().parse().ok()?)));
    Ok(Control {
        major_version,
        minor_version,
        size_m,
    })
}

/// The version 1.0 control file OpenSim 0.9 writes for a single region.
pub fn write(id: Uuid, unix_seconds: i64, size_m: (u32, u32)) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-16\"?>\n\
         <archive major_version=\"1\" minor_version=\"0\">\n  \
         <creation_info>\n    <datetime>{unix_seconds}</datetime>\n    <id>{id}</id>\n  </creation_info>\n  \
         <assets_included>True</assets_included>\n  \
         <region_info>\n    <is_megaregion>False</is_megaregion>\n    <size_in_meters>{},{}</size_in_meters>\n  </region_info>\n\
         </archive>",
        size_m.0, size_m.1
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_zero_and_one_are_read_others_refused() {
        let v0 = br#"<?xml version="1.0" encoding="utf-16"?><archive major_version="0" minor_version="8"></archive>"#;
        assert_eq!(parse(v0).expect("v0").major_version, 0);
        let v1 = write(Uuid::nil(), 1, (256, 512));
        let c = parse(v1.as_bytes()).expect("v1");
        assert_eq!((c.major_version, c.minor_version, c.size_m), (1, 0, Some((256, 512))));
        let v2 = br#"<archive major_version="2" minor_version="0"/>"#;
        assert!(matches!(parse(v2), Err(OarError::UnknownVersion(v)) if v == "2"));
        assert!(matches!(parse(b"<other/>"), Err(OarError::BadMember { .. })));
        assert!(matches!(parse(b"<archive"), Err(OarError::BadMember { .. })));
    }
}
