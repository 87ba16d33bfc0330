//! Terrain members (`terrains/*.r32`): little-endian f32 heights, rows of
//! constant y (x fastest), as OpenSim's RAW32 format. A square map of another
//! side than the region's is resampled (bilinear); anything else is refused.

use dispatcher_scene::Terrain;

use crate::OarError;

/// Decodes a `.r32` member into a terrain of the region's size.
pub fn read(member: &str, data: &[u8], region_size: (u32, u32)) -> Result<Terrain, OarError> {
    if data.is_empty() || !data.len().is_multiple_of(4) {
        return Err(OarError::member(member, format!("{} bytes is not a whole number of 4-byte heights", data.len())));
    }
    let cells = data.len() / 4;
    let side = (cells as f64).sqrt().round() as usize;
    if side * side != cells {
        return Err(OarError::member(
            member,
            format!("{cells} heights do not make a square map; only square terrains can be scaled"),
        ));
    }
    let mut heights = Vec::with_capacity(cells);
    for chunk in data.chunks_exact(4) {
        let h = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        if !h.is_finite() {
            return Err(OarError::member(member, "a height is not a finite number"));
        }
        heights.push(h);
    }
    // heights[y * side + x]
    let (rx, ry) = region_size;
    let mut terrain = Terrain::flat(rx, ry, 0.0);
    let scale_x = side as f64 / f64::from(rx);
    let scale_y = side as f64 / f64::from(ry);
    let at = |x: usize, y: usize| heights[y.min(side - 1) * side + x.min(side - 1)];
    for y in 0..ry {
        for x in 0..rx {
            let h = if side == rx as usize && side == ry as usize {
                at(x as usize, y as usize)
            } else {
                // Sample at the cell centre of the source map.
                let sx = ((f64::from(x) + 0.5) * scale_x - 0.5).max(0.0);
                let sy = ((f64::from(y) + 0.5) * scale_y - 0.5).max(0.0);
                let (x0, y0) = (sx.floor() as usize, sy.floor() as usize);
                let (fx, fy) = ((sx - x0 as f64) as f32, (sy - y0 as f64) as f32);
                let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx;
                let bottom = at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx;
                top * (1.0 - fy) + bottom * fy
            };
            terrain
                .set_height(i64::from(x), i64::from(y), h)
                .map_err(|e| OarError::member(member, e))?;
        }
    }
    Ok(terrain)
}

/// Encodes the terrain as a `.r32` member.
pub fn write(terrain: &Terrain) -> Vec<u8> {
    let (sx, sy) = terrain.size();
    let mut out = Vec::with_capacity(sx as usize * sy as usize * 4);
    for y in 0..sy {
        for x in 0..sx {
            out.extend_from_slice(&terrain.height_or_zero(i64::from(x), i64::from(y)).to_le_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_size_round_trips_exactly_with_x_fastest() {
        let mut t = Terrain::flat(256, 256, 21.0);
        t.set_height(3, 200, 42.5).expect("set");
        let bytes = write(&t);
        assert_eq!(bytes.len(), 256 * 256 * 4);
        let i = (200 * 256 + 3) * 4;
        assert_eq!(f32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]), 42.5);
        assert_eq!(read("t", &bytes, (256, 256)).expect("read"), t);
    }

    #[test]
    fn other_square_sizes_are_scaled_and_others_refused() {
        let big = write(&Terrain::flat(512, 512, 30.0));
        let t = read("terrains/big.r32", &big, (256, 256)).expect("scaled");
        assert_eq!(t.size(), (256, 256));
        assert_eq!(t.height(100, 100), Some(30.0));
        let small = write(&Terrain::flat(128, 128, 5.0));
        assert_eq!(read("s", &small, (256, 256)).expect("up").height(255, 255), Some(5.0));
        let err = read("terrains/odd.r32", &[0u8; 4 * 6], (256, 256)).expect_err("not square");
        assert!(err.to_string().contains("terrains/odd.r32") && err.to_string().contains("square"), "{err}");
        assert!(read("t", &[0u8; 7], (256, 256)).is_err());
        assert!(read("t", &f32::NAN.to_le_bytes(), (256, 256)).is_err());
    }
}
