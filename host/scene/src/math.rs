//! Small value types of the scene: vectors, quaternions and colours.
//!
//! They carry no invariants of their own: the protocol stores quaternions exactly as
//! sent, so nothing here normalises behind the caller's back. Rules about
//! which values are acceptable (inside the region, positive scale, …) live with the
//! operations that apply them.

use serde::{Deserialize, Serialize};

/// A point or direction in region coordinates (metres; x east, y north, z up).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Vector3 {
    pub x: f32,
    pub y: f32,
    pub z: f32,
}

impl Vector3 {
    pub const ZERO: Vector3 = Vector3 { x: 0.0, y: 0.0, z: 0.0 };
    pub const ONE: Vector3 = Vector3 { x: 1.0, y: 1.0, z: 1.0 };

    pub const fn new(x: f32, y: f32, z: f32) -> Self {
        Vector3 { x, y, z }
    }

    pub fn is_finite(self) -> bool {
        self.x.is_finite() && self.y.is_finite() && self.z.is_finite()
    }

    pub fn is_zero(self) -> bool {
        self == Vector3::ZERO
    }

    pub fn scaled(self, k: f32) -> Self {
        Vector3::new(self.x * k, self.y * k, self.z * k)
    }

    pub fn plus(self, o: Vector3) -> Self {
        Vector3::new(self.x + o.x, self.y + o.y, self.z + o.z)
    }

    /// Component-wise minimum (used to build search boxes from corners in any order).
    pub fn min(self, o: Vector3) -> Self {
        Vector3::new(self.x.min(o.x), self.y.min(o.y), self.z.min(o.z))
    }

    pub fn max(self, o: Vector3) -> Self {
        Vector3::new(self.x.max(o.x), self.y.max(o.y), self.z.max(o.z))
    }

    pub fn distance(self, o: Vector3) -> f32 {
        let (dx, dy, dz) = (self.x - o.x, self.y - o.y, self.z - o.z);
        (dx * dx + dy * dy + dz * dz).sqrt()
    }
}

/// A rotation as `[x, y, z, w]`, `w` being the scalar part (the wire order).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quaternion {
    pub x: f32,
    pub y: f32,
    pub z: f32,
    pub w: f32,
}

impl Default for Quaternion {
    fn default() -> Self {
        Quaternion::IDENTITY
    }
}

impl Quaternion {
    pub const IDENTITY: Quaternion = Quaternion {
        x: 0.0,
        y: 0.0,
        z: 0.0,
        w: 1.0,
    };

    pub const fn new(x: f32, y: f32, z: f32, w: f32) -> Self {
        Quaternion { x, y, z, w }
    }

    pub fn is_finite(self) -> bool {
        self.x.is_finite() && self.y.is_finite() && self.z.is_finite() && self.w.is_finite()
    }

    pub fn length(self) -> f32 {
        (self.x * self.x + self.y * self.y + self.z * self.z + self.w * self.w).sqrt()
    }

    /// Unit-length copy. A zero (or non-finite) quaternion has no direction, so it
    /// becomes the identity rather than a NaN that would poison later maths.
    pub fn normalised(self) -> Self {
        let len = self.length();
        if !len.is_finite() || len <= f32::EPSILON {
            return Quaternion::IDENTITY;
        }
        Quaternion::new(self.x / len, self.y / len, self.z / len, self.w / len)
    }

    /// Rotates a vector by this quaternion (assumed unit length).
    pub fn rotate(self, v: Vector3) -> Vector3 {
        // v' = v + 2w(q × v) + 2 q × (q × v), with q the vector part.
        let q = Vector3::new(self.x, self.y, self.z);
        let cross = |a: Vector3, b: Vector3| Vector3::new(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x);
        let t = cross(q, v).scaled(2.0);
        v.plus(t.scaled(self.w)).plus(cross(q, t))
    }
}

/// An RGBA colour with components in `0..=1`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Color {
    pub r: f32,
    pub g: f32,
    pub b: f32,
    pub a: f32,
}

impl Default for Color {
    /// Opaque white: what a fresh prim face looks like.
    fn default() -> Self {
        Color::WHITE
    }
}

impl Color {
    pub const WHITE: Color = Color {
        r: 1.0,
        g: 1.0,
        b: 1.0,
        a: 1.0,
    };

    pub const fn new(r: f32, g: f32, b: f32, a: f32) -> Self {
        Color { r, g, b, a }
    }

    /// Each component clamped to `0..=1`; NaN becomes 0 so a bad input cannot
    /// produce a colour that no viewer can draw (RC-38 clamps on `SetPartColor`).
    pub fn clamped(self) -> Self {
        let c = |v: f32| if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
        Color::new(c(self.r), c(self.g), c(self.b), c(self.a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quaternion_normalise_and_identity() {
        let q = Quaternion::new(0.0, 0.0, 2.0, 2.0).normalised();
        assert!((q.z - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
        assert!((q.length() - 1.0).abs() < 1e-6);
        assert_eq!(Quaternion::new(0.0, 0.0, 0.0, 0.0).normalised(), Quaternion::IDENTITY);
        assert_eq!(Quaternion::default(), Quaternion::IDENTITY);
    }

    #[test]
    fn quaternion_rotates_about_z() {
        let q = Quaternion::new(0.0, 0.0, std::f32::consts::FRAC_1_SQRT_2, std::f32::consts::FRAC_1_SQRT_2);
        let v = q.rotate(Vector3::new(1.0, 0.0, 0.0));
        assert!(v.x.abs() < 1e-5 && (v.y - 1.0).abs() < 1e-5 && v.z.abs() < 1e-5);
    }

    #[test]
    fn rc_38_colour_clamps_each_component() {
        let c = Color::new(2.0, -1.0, 0.5, 3.0).clamped();
        assert_eq!(c, Color::new(1.0, 0.0, 0.5, 1.0));
        assert_eq!(Color::new(f32::NAN, 0.2, 0.2, 0.2).clamped().r, 0.0);
    }

    #[test]
    fn vector_box_corners() {
        let a = Vector3::new(5.0, 1.0, 9.0);
        let b = Vector3::new(1.0, 5.0, 0.0);
        assert_eq!(a.min(b), Vector3::new(1.0, 1.0, 0.0));
        assert_eq!(a.max(b), Vector3::new(5.0, 5.0, 9.0));
    }
}
