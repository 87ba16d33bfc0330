//! Wire forms of vectors and quaternions (§2.3), read the original's way:
//!
//! - an array whose first 3 (4) elements are numbers or numeric strings; extra
//!   elements are ignored;
//! - a shorter array fails with the original's text
//!   `"Unable to convert token type EndArray to float"`;
//! - a non-numeric element fails;
//! - any other non-array value fails (Q-19 fixed: the original kept the default);
//! - `null` keeps the member's default: request members are `Option<WireVec3>`
//!   and the message type's accessor supplies the default.
//!
//! Written as compact arrays `[x, y, z]` / `[x, y, z, w]`.

use std::fmt;

use dispatcher_scene::{Quaternion, Vector3};
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::ser::{SerializeTuple, Serializer};
use serde::{Deserialize, Serialize};

/// The original's text for a vector or quaternion array that is too short.
pub const SHORT_ARRAY: &str = "Unable to convert token type EndArray to float";

/// A Vector3 member (also colours, `[R, G, B]`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct WireVec3(pub Vector3);

/// A quaternion member, `[X, Y, Z, W]` with W the scalar part; never normalised (Q-50).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct WireQuat(pub Quaternion);

impl WireVec3 {
    pub const fn new(x: f32, y: f32, z: f32) -> Self {
        WireVec3(Vector3::new(x, y, z))
    }
}

impl WireQuat {
    pub const IDENTITY: WireQuat = WireQuat(Quaternion::IDENTITY);
}

impl From<Vector3> for WireVec3 {
    fn from(v: Vector3) -> Self {
        WireVec3(v)
    }
}

impl From<Quaternion> for WireQuat {
    fn from(q: Quaternion) -> Self {
        WireQuat(q)
    }
}

/// The value of an optional vector member, or `default` when absent or null.
pub fn vec3_or(member: Option<WireVec3>, default: Vector3) -> Vector3 {
    member.map_or(default, |v| v.0)
}

/// The value of an optional quaternion member, or `default` when absent or null.
pub fn quat_or(member: Option<WireQuat>, default: Quaternion) -> Quaternion {
    member.map_or(default, |q| q.0)
}

fn serialize_floats<S: Serializer>(serializer: S, values: &[f32]) -> Result<S::Ok, S::Error> {
    let mut t = serializer.serialize_tuple(values.len())?;
    for v in values {
        t.serialize_element(v)?;
    }
    t.end()
}

impl Serialize for WireVec3 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        serialize_floats(serializer, &[v.x, v.y, v.z])
    }
}

impl Serialize for WireQuat {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let q = self.0;
        serialize_floats(serializer, &[q.x, q.y, q.z, q.w])
    }
}

/// Reads the first `N` numbers of an array and skips the rest.
struct Floats<const N: usize>;

impl<'de, const N: usize> Visitor<'de> for Floats<N> {
    type Value = [f32; N];

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an array of {N} numbers")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<[f32; N], A::Error> {
        let mut out = [0.0f32; N];
        for slot in out.iter_mut() {
            *slot = seq.next_element::<f32>()?.ok_or_else(|| de::Error::custom(SHORT_ARRAY))?;
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(out)
    }
}

impl<'de> Deserialize<'de> for WireVec3 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let [x, y, z] = deserializer.deserialize_any(Floats::<3>)?;
        Ok(WireVec3(Vector3::new(x, y, z)))
    }
}

impl<'de> Deserialize<'de> for WireQuat {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let [x, y, z, w] = deserializer.deserialize_any(Floats::<4>)?;
        Ok(WireQuat(Quaternion { x, y, z, w }))
    }
}

#[cfg(test)]
mod tests {
    use dispatcher_protocol::{from_value, json, to_value};
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Default, Deserialize)]
    #[serde(default)]
    struct Probe {
        #[serde(rename = "V")]
        v: Option<WireVec3>,
        #[serde(rename = "Q")]
        q: Option<WireQuat>,
    }

    fn bind(text: &str) -> Result<Probe, String> {
        let value = json::decode(text.as_bytes(), &Default::default())
            .map_err(|e| e.to_string())?
            .ok_or("empty")?;
        from_value::<Probe>(&value).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_numbers_strings_and_ignores_extra_elements() {
        let p = bind(r#"{"v":["100","90.5",30,7],"Q":[0,0,0.25,"0.5",9]}"#).expect("binds");
        assert_eq!(p.v, Some(WireVec3::new(100.0, 90.5, 30.0)));
        assert_eq!(p.q.map(|q| (q.0.z, q.0.w)), Some((0.25, 0.5)));
    }

    #[test]
    fn null_keeps_the_default() {
        let p = bind(r#"{"V":null}"#).expect("binds");
        assert_eq!(vec3_or(p.v, Vector3::ONE), Vector3::ONE);
    }

    #[test]
    fn short_arrays_and_non_arrays_fail() {
        for bad in [r#"{"V":[]}"#, r#"{"V":[1,2]}"#, r#"{"Q":[1,2,3]}"#] {
            assert_eq!(bind(bad).err().as_deref(), Some(SHORT_ARRAY), "{bad}");
        }
        for bad in [r#"{"V":5}"#, r#"{"V":"1,2,3"}"#, r#"{"V":{"x":1}}"#, r#"{"V":["a",1,2]}"#, r#"{"V":true}"#] {
            assert!(bind(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn writes_compact_arrays() {
        let v = to_value(&WireVec3::new(1.0, 0.5, 20.3)).expect("serializes");
        let mut out = Vec::new();
        json::write_value(&mut out, &v);
        assert_eq!(String::from_utf8(out).expect("utf8"), "[1.0,0.5,20.3]");
    }
}
