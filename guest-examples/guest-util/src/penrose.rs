//! A Penrose rhombus (P3) tiling by repeated deflation of Robinson triangles.
//!
//! Each rhombus is two isosceles triangles mirrored across their shared base:
//! the thin rhombus (36°) is two "golden" triangles with a 36° apex, the thick
//! rhombus (72°) two "gnomons" with a 108° apex. Deflating a triangle yields
//! smaller triangles of both kinds whose legs are shorter by the golden ratio;
//! pairing the results across their bases again gives rhombi. Starting from a
//! wheel of ten golden triangles gives a disc-shaped patch.

const PHI: f64 = 1.618_033_988_749_895;

/// One rhombus of the tiling, already approximated by a box footprint.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rhombus {
    /// Centre in metres, relative to the centre of the patch.
    pub center: [f32; 2],
    /// Rotation about z (radians) that turns a box's x axis onto the
    /// rhombus's diagonal through the triangle apex.
    pub yaw: f32,
    /// Box footprint: x along that diagonal, y across it. Each diagonal is
    /// scaled by 1/√2 so the box has the rhombus's area.
    pub size: [f32; 2],
    /// Thick (72°) or thin (36°) rhombus; the two get different colours.
    pub thick: bool,
}

#[derive(Clone, Copy)]
struct Triangle {
    /// false: golden triangle (36° apex); true: gnomon (108° apex).
    gnomon: bool,
    apex: [f64; 2],
    b: [f64; 2],
    c: [f64; 2],
}

fn lerp(p: [f64; 2], q: [f64; 2], t: f64) -> [f64; 2] {
    [p[0] + (q[0] - p[0]) * t, p[1] + (q[1] - p[1]) * t]
}

/// Splits every triangle into smaller ones (legs shorter by φ), keeping the
/// whole patch covered exactly.
fn deflate(triangles: &[Triangle]) -> Vec<Triangle> {
    let mut out = Vec::with_capacity(triangles.len() * 3);
    for t in triangles {
        if !t.gnomon {
            // The bisector of the base angle at `c` cuts the golden triangle
            // into a smaller golden triangle and a gnomon.
            let p = lerp(t.apex, t.b, 1.0 / PHI);
            out.push(Triangle {
                gnomon: false,
                apex: t.c,
                b: p,
                c: t.b,
            });
            out.push(Triangle {
                gnomon: true,
                apex: p,
                b: t.c,
                c: t.apex,
            });
        } else {
            // A gnomon becomes two gnomons and one golden triangle.
            let q = lerp(t.b, t.apex, 1.0 / PHI);
            let r = lerp(t.b, t.c, 1.0 / PHI);
            out.push(Triangle {
                gnomon: true,
                apex: r,
                b: t.c,
                c: t.apex,
            });
            out.push(Triangle {
                gnomon: true,
                apex: q,
                b: r,
                c: t.b,
            });
            out.push(Triangle {
                gnomon: false,
                apex: r,
                b: q,
                c: t.apex,
            });
        }
    }
    out
}

/// The ten golden triangles around the origin (unit legs). Every second one is
/// mirrored so that neighbours meet edge to edge with matching orientation,
/// which is what keeps later deflations a valid Penrose tiling.
fn wheel() -> Vec<Triangle> {
    (0..10)
        .map(|i| {
            let angle = |k: i32| f64::from(k) * std::f64::consts::PI / 10.0;
            let b = [angle(2 * i - 1).cos(), angle(2 * i - 1).sin()];
            let c = [angle(2 * i + 1).cos(), angle(2 * i + 1).sin()];
            let (b, c) = if i % 2 == 0 { (c, b) } else { (b, c) };
            Triangle {
                gnomon: false,
                apex: [0.0, 0.0],
                b,
                c,
            }
        })
        .collect()
}

/// Deepest deflation we ever do: level 8 is ~20 000 triangles, far beyond any
/// sensible object count, and the bound keeps the work finite whatever count a
/// user asks for.
const MAX_LEVEL: u32 = 8;

/// Up to `count` rhombi with edges of `edge_m` metres, nearest to the centre
/// first, so any prefix of the result is a roughly round patch.
pub fn tiling(count: usize, edge_m: f32) -> Vec<Rhombus> {
    let mut triangles = wheel();
    let mut level = 0;
    // Each rhombus is two triangles (one at the rim); deflate until there are
    // enough of them.
    while triangles.len() / 2 < count && level < MAX_LEVEL {
        triangles = deflate(&triangles);
        level += 1;
    }
    // Legs start at 1 and shrink by φ per level; scale them up to `edge_m`.
    let scale = f64::from(edge_m) * PHI.powi(level as i32);

    // A BTreeSet, not a HashSet: std's hasher seeds itself from
    // `wasi:random`, an import these guests otherwise do without.
    let mut seen = std::collections::BTreeSet::new();
    let mut rhombi = Vec::with_capacity(triangles.len() / 2 + 5);
    for t in &triangles {
        let mid = lerp(t.b, t.c, 0.5);
        // Both halves of a rhombus share the base midpoint: keep one.
        let key = ((mid[0] * 1e6).round() as i64, (mid[1] * 1e6).round() as i64);
        if !seen.insert(key) {
            continue;
        }
        let axis = [t.apex[0] - mid[0], t.apex[1] - mid[1]];
        let half_diag = axis[0].hypot(axis[1]);
        let base = (t.c[0] - t.b[0]).hypot(t.c[1] - t.b[1]);
        let k = scale * std::f64::consts::FRAC_1_SQRT_2;
        rhombi.push(Rhombus {
            center: [(mid[0] * scale) as f32, (mid[1] * scale) as f32],
            yaw: axis[1].atan2(axis[0]) as f32,
            size: [(2.0 * half_diag * k) as f32, (base * k) as f32],
            thick: t.gnomon,
        });
    }
    rhombi.sort_by(|a, b| {
        let da = a.center[0].hypot(a.center[1]);
        let db = b.center[0].hypot(b.center[1]);
        da.total_cmp(&db)
    });
    rhombi.truncate(count);
    rhombi
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_the_requested_count_nearest_first() {
        for count in [1, 10, 50, 300] {
            let r = tiling(count, 2.0);
            assert_eq!(r.len(), count);
            let d: Vec<f32> = r.iter().map(|x| x.center[0].hypot(x.center[1])).collect();
            assert!(d.windows(2).all(|w| w[0] <= w[1]));
        }
    }

    #[test]
    fn has_both_kinds_with_golden_proportions() {
        let r = tiling(200, 2.0);
        let thick: Vec<_> = r.iter().filter(|x| x.thick).collect();
        let thin: Vec<_> = r.iter().filter(|x| !x.thick).collect();
        assert!(!thick.is_empty() && !thin.is_empty());
        // The ratio of thick to thin rhombi tends to φ in a large patch.
        let ratio = thick.len() as f64 / thin.len() as f64;
        assert!((1.3..2.0).contains(&ratio), "ratio {ratio}");
        // Footprint area equals the rhombus area: edge² · sin(angle).
        let area = |x: &Rhombus| f64::from(x.size[0] * x.size[1]);
        let thick_area = 4.0 * (72f64).to_radians().sin();
        let thin_area = 4.0 * (36f64).to_radians().sin();
        assert!(thick.iter().all(|x| (area(x) - thick_area).abs() < 1e-3));
        assert!(thin.iter().all(|x| (area(x) - thin_area).abs() < 1e-3));
    }

    #[test]
    fn huge_counts_are_bounded() {
        assert!(tiling(usize::MAX, 1.0).len() < 20_000);
    }
}
