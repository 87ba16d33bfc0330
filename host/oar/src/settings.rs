//! Region settings (`settings/<region>.xml`): the water height and the sun
//! are read into the model; the whole document is kept and given back on
//! export with those values written into it.

use dispatcher_scene::xml_tree::{Element, XmlLimits};

use crate::control::xml_text;
use crate::OarError;

const XML_LIMITS: XmlLimits = XmlLimits {
    max_depth: 16,
    max_elements: 10_000,
};

/// The settings this host models.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Settings {
    pub water_height_m: Option<f32>,
    /// `SunPosition` (hours) when `FixedSun` is true.
    pub fixed_sun_hours: Option<f64>,
}

fn finite<T: std::str::FromStr + Into<f64> + Copy>(member: &str, el: &Element) -> Result<T, OarError> {
    let v: T = el
        .text
        .trim()
        .parse()
        .map_err(|_| OarError::member(member, format!("<{}> is not a number", el.name)))?;
    if !v.into().is_finite() {
        return Err(OarError::member(member, format!("<{}> is not finite", el.name)));
    }
    Ok(v)
}

pub fn parse(member: &str, data: &[u8]) -> Result<Settings, OarError> {
    let root = Element::parse(xml_text(member, data)?, XML_LIMITS).map_err(|e| OarError::member(member, e))?;
    if root.name != "RegionSettings" {
        return Err(OarError::member(member, format!("root element <{}> is not <RegionSettings>", root.name)));
    }
    let mut settings = Settings::default();
    if let Some(terrain) = root.child("Terrain") {
        if let Some(w) = terrain.child("WaterHeight") {
            settings.water_height_m = Some(finite::<f32>(member, w)?);
        }
        let fixed = terrain
            .child("FixedSun")
            .is_some_and(|f| f.text.trim().eq_ignore_ascii_case("true"));
        if fixed {
            if let Some(p) = terrain.child("SunPosition") {
                settings.fixed_sun_hours = Some(finite::<f64>(member, p)?);
            }
        }
    }
    Ok(settings)
}

/// Replaces the text of the first `<name>…</name>` (or `<name />`) in `doc`;
/// a document without it is returned unchanged.
fn set_leaf(doc: &str, name: &str, value: &str) -> String {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    if let Some(start) = doc.find(&open) {
        let body = start + open.len();
        if let Some(len) = doc[body..].find(&close) {
            return format!("{}{value}{}", &doc[..body], &doc[body + len..]);
        }
    }
    for empty in [format!("<{name} />"), format!("<{name}/>")] {
        if let Some(start) = doc.find(&empty) {
            return format!("{}{open}{value}{close}{}", &doc[..start], &doc[start + empty.len()..]);
        }
    }
    doc.to_string()
}

/// The settings document to export: the kept one with our water height (and
/// sun position when the sun is fixed) written in, or a minimal one.
pub fn write(kept: Option<&[u8]>, water_height_m: f32, sun_hours: f64) -> Vec<u8> {
    let Some(doc) = kept.and_then(|k| std::str::from_utf8(k).ok()) else {
        return format!(
            "<?xml version=\"1.0\" encoding=\"utf-16\"?>\n<RegionSettings>\n  <Terrain>\n    <WaterHeight>{water_height_m}</WaterHeight>\n    \
             <UseEstateSun>True</UseEstateSun>\n    <FixedSun>False</FixedSun>\n    <SunPosition>{sun_hours}</SunPosition>\n  </Terrain>\n</RegionSettings>"
        )
        .into_bytes();
    };
    let mut out = set_leaf(doc, "WaterHeight", &water_height_m.to_string());
    if parse("settings", out.as_bytes()).is_ok_and(|s| s.fixed_sun_hours.is_some()) {
        out = set_leaf(&out, "SunPosition", &sun_hours.to_string());
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "<?xml version=\"1.0\" encoding=\"utf-16\"?>\n<RegionSettings><General><X>1</X></General>\
        <Terrain><WaterHeight>20</WaterHeight><FixedSun>True</FixedSun><SunPosition>9.5</SunPosition></Terrain><Telehub /></RegionSettings>";

    #[test]
    fn water_and_fixed_sun_are_read_and_written_back_into_the_kept_document() {
        let s = parse("settings/r.xml", DOC.as_bytes()).expect("parse");
        assert_eq!(s.water_height_m, Some(20.0));
        assert_eq!(s.fixed_sun_hours, Some(9.5));
        let out = write(Some(DOC.as_bytes()), 31.5, 12.0);
        let text = String::from_utf8(out).expect("utf8");
        assert!(
            text.contains("<WaterHeight>31.5</WaterHeight>") && text.contains("<SunPosition>12</SunPosition>"),
            "{text}"
        );
        assert!(text.contains("<General><X>1</X></General>") && text.contains("<Telehub />"), "the rest is kept");
        let fresh = write(None, 12.0, 6.0);
        assert_eq!(parse("s", &fresh).expect("fresh").water_height_m, Some(12.0));
    }

    #[test]
    fn bad_settings_name_the_member() {
        let bad = b"<RegionSettings><Terrain><WaterHeight>deep</WaterHeight></Terrain></RegionSettings>";
        let err = parse("settings/r.xml", bad).expect_err("bad");
        assert!(err.to_string().contains("settings/r.xml") && err.to_string().contains("WaterHeight"), "{err}");
        assert!(parse(
            "settings/r.xml",
            b"<RegionSettings><Terrain><WaterHeight>NaN</WaterHeight></Terrain></RegionSettings>"
        )
        .is_err());
    }
}
