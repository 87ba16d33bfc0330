//! The region's height map: one f32 per 1 m cell, indexed `[x][y]` (x east, y north).
//!
//! Coordinates arrive as signed integers straight from requests, so every access
//! is bounds-checked here and an out-of-range write changes nothing.

use serde::{Deserialize, Serialize};

use crate::change::SceneChange;
use crate::error::SceneError;

/// OpenSim's usual flat-land default, in metres above the zero level.
pub const DEFAULT_TERRAIN_HEIGHT_M: f32 = 21.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Terrain {
    size_x: u32,
    size_y: u32,
    /// Row-major by x: cell `[x][y]` is at `x * size_y + y`.
    heights: Vec<f32>,
}

impl Terrain {
    /// A flat height map. Sizes are validated by the region before this is called.
    pub fn flat(size_x: u32, size_y: u32, height_m: f32) -> Self {
        Terrain {
            size_x,
            size_y,
            heights: vec![height_m; size_x as usize * size_y as usize],
        }
    }

    pub fn size(&self) -> (u32, u32) {
        (self.size_x, self.size_y)
    }

    fn index(&self, x: i64, y: i64) -> Option<usize> {
        if x < 0 || y < 0 || x >= i64::from(self.size_x) || y >= i64::from(self.size_y) {
            return None;
        }
        Some(x as usize * self.size_y as usize + y as usize)
    }

    /// The height of cell `[x][y]`, or `None` outside the map.
    pub fn height(&self, x: i64, y: i64) -> Option<f32> {
        self.index(x, y).and_then(|i| self.heights.get(i).copied())
    }

    /// `GetTerrainHeight` semantics: outside the map the answer is 0, not an error
    /// (original behaviour, RC-63).
    pub fn height_or_zero(&self, x: i64, y: i64) -> f32 {
        self.height(x, y).unwrap_or(0.0)
    }

    /// Stores one cell (no smoothing of neighbours). NaN and ±∞ are ignored (§3.7),
    /// which yields no change; outside the map the write is refused (RC-64).
    pub fn set_height(&mut self, x: i64, y: i64, height_m: f32) -> Result<Vec<SceneChange>, SceneError> {
        let i = self.index(x, y).ok_or(SceneError::TerrainOutOfRange { x, y })?;
        if !height_m.is_finite() {
            return Ok(Vec::new());
        }
        let cell = self.heights.get_mut(i).ok_or(SceneError::TerrainOutOfRange { x, y })?;
        if *cell == height_m {
            return Ok(Vec::new());
        }
        *cell = height_m;
        Ok(vec![SceneChange::TerrainChanged {
            x: x as u32,
            y: y as u32,
            height: height_m,
        }])
    }

    /// All heights, `[x][y]` row-major by x, for persistence.
    pub fn heights(&self) -> &[f32] {
        &self.heights
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rc_62_set_then_get_single_cell() {
        let mut t = Terrain::flat(256, 256, DEFAULT_TERRAIN_HEIGHT_M);
        let changes = t.set_height(128, 64, 23.5).unwrap();
        assert_eq!(
            changes,
            vec![SceneChange::TerrainChanged {
                x: 128,
                y: 64,
                height: 23.5
            }]
        );
        assert_eq!(t.height(128, 64), Some(23.5));
        for (x, y) in [(127, 64), (129, 64), (128, 63), (128, 65)] {
            assert_eq!(t.height(x, y), Some(DEFAULT_TERRAIN_HEIGHT_M));
        }
    }

    #[test]
    fn rc_62_stored_as_f32() {
        let mut t = Terrain::flat(4, 4, 0.0);
        t.set_height(1, 1, 20.3).unwrap();
        assert_eq!(f64::from(t.height(1, 1).unwrap()), 20.299999237060547);
    }

    #[test]
    fn rc_63_get_out_of_range_is_zero() {
        let t = Terrain::flat(256, 256, DEFAULT_TERRAIN_HEIGHT_M);
        assert_eq!(t.height_or_zero(300, 5), 0.0);
        assert_eq!(t.height_or_zero(-1, 5), 0.0);
        assert_eq!(t.height_or_zero(5, 5), DEFAULT_TERRAIN_HEIGHT_M);
    }

    #[test]
    fn rc_64_set_out_of_range_fails_without_change() {
        let mut t = Terrain::flat(256, 256, DEFAULT_TERRAIN_HEIGHT_M);
        let before = t.clone();
        for (x, y) in [(-1, 0), (256, 0), (0, 256), (0, -1)] {
            let err = t.set_height(x, y, 5.0).unwrap_err();
            assert!(err.to_string().starts_with("Fatal error; "));
        }
        assert_eq!(t, before);
    }

    #[test]
    fn non_finite_writes_are_ignored() {
        let mut t = Terrain::flat(4, 4, 1.0);
        assert!(t.set_height(0, 0, f32::NAN).unwrap().is_empty());
        assert!(t.set_height(0, 0, f32::INFINITY).unwrap().is_empty());
        assert_eq!(t.height(0, 0), Some(1.0));
    }
}
