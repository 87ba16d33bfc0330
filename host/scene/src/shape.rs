//! A part's shape: the few parameters the model reads, the face description, and
//! every other shape element kept verbatim for writing back.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::kept_xml::KeptXml;
use crate::texture_entry::TextureEntry;
use crate::xml_tree::Element;

/// `PCode` of an ordinary prim.
pub const PCODE_PRIM: u8 = 9;

const PROFILE_CIRCLE: u8 = 0;
const PROFILE_SQUARE: u8 = 1;
const PROFILE_EQUILATERAL_TRIANGLE: u8 = 3;
const PROFILE_HALF_CIRCLE: u8 = 5;
const PATH_STRAIGHT: u8 = 16;
const PATH_CIRCULAR: u8 = 32;
const PATH_CIRCULAR_2: u8 = 48;

/// `PartInformation.Type` (§5.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PrimType {
    Box = 0,
    Cylinder = 1,
    Prism = 2,
    Sphere = 3,
    Torus = 4,
    Tube = 5,
    Ring = 6,
    Sculpt = 7,
}

impl PrimType {
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The prim type of a `PartInformation.Type` code; `None` for a code no
    /// type has.
    pub fn from_code(code: i32) -> Option<PrimType> {
        use PrimType::*;
        [Box, Cylinder, Prism, Sphere, Torus, Tube, Ring, Sculpt]
            .into_iter()
            .find(|t| t.code() == code)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shape {
    pub pcode: u8,
    /// Low 3 bits: profile shape; high bits: hollow shape.
    pub profile_curve: u8,
    pub path_curve: u8,
    pub texture_entry: TextureEntry,
    pub sculpt_entry: bool,
    pub sculpt_texture: Uuid,
    pub sculpt_type: u8,
    /// Other `Shape` children (path cuts, twists, flexi, light, …), verbatim.
    #[serde(default)]
    pub extra: KeptXml,
}

impl Default for Shape {
    /// A plain 0.5 m-style box: square profile, straight path, untextured.
    fn default() -> Self {
        Shape {
            pcode: PCODE_PRIM,
            profile_curve: PROFILE_SQUARE,
            path_curve: PATH_STRAIGHT,
            texture_entry: TextureEntry::default(),
            sculpt_entry: false,
            sculpt_texture: Uuid::nil(),
            sculpt_type: 0,
            extra: KeptXml::from_elements(&[Element::leaf("PathScaleX", "100"), Element::leaf("PathScaleY", "100")]),
        }
    }
}

impl Shape {
    /// The prim type the viewer would show (§5.2.3); unlisted combinations are boxes.
    pub fn prim_type(&self) -> PrimType {
        if self.sculpt_entry {
            return PrimType::Sculpt;
        }
        match (self.profile_curve & 0x07, self.path_curve) {
            (PROFILE_SQUARE, PATH_STRAIGHT) => PrimType::Box,
            (PROFILE_SQUARE, PATH_CIRCULAR) => PrimType::Tube,
            (PROFILE_CIRCLE, PATH_STRAIGHT) => PrimType::Cylinder,
            (PROFILE_CIRCLE, PATH_CIRCULAR) => PrimType::Torus,
            (PROFILE_HALF_CIRCLE, PATH_CIRCULAR | PATH_CIRCULAR_2) => PrimType::Sphere,
            (PROFILE_EQUILATERAL_TRIANGLE, PATH_STRAIGHT) => PrimType::Prism,
            (PROFILE_EQUILATERAL_TRIANGLE, PATH_CIRCULAR) => PrimType::Ring,
            _ => PrimType::Box,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(profile: u8, path: u8) -> Shape {
        Shape {
            profile_curve: profile,
            path_curve: path,
            ..Shape::default()
        }
    }

    #[test]
    fn every_code_reads_back_as_its_type() {
        for code in 0..8 {
            assert_eq!(PrimType::from_code(code).map(PrimType::code), Some(code));
        }
        assert_eq!(PrimType::from_code(8), None);
        assert_eq!(PrimType::from_code(-1), None);
    }

    #[test]
    fn rc_15_prim_type_table_of_5_2_3() {
        let cases = [
            (1, 16, PrimType::Box),
            (1, 32, PrimType::Tube),
            (0, 16, PrimType::Cylinder),
            (0, 32, PrimType::Torus),
            (5, 32, PrimType::Sphere),
            (5, 48, PrimType::Sphere),
            (3, 16, PrimType::Prism),
            (3, 32, PrimType::Ring),
            (4, 16, PrimType::Box),
            (2, 128, PrimType::Box),
            // Hollow bits above the low three do not change the type.
            (0x21, 16, PrimType::Box),
            (0x10, 32, PrimType::Torus),
        ];
        for (profile, path, want) in cases {
            assert_eq!(shape(profile, path).prim_type(), want, "profile {profile} path {path}");
        }
        let sculpt = Shape {
            sculpt_entry: true,
            ..shape(1, 16)
        };
        assert_eq!(sculpt.prim_type().code(), 7);
    }
}
