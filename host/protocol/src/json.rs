//! JSON text in and out.
//!
//! Input: UTF-8 (a byte-order mark is skipped), one top-level value; content after
//! it is ignored as the original did. Output: compact UTF-8, `$type` first, nulls
//! written, floats always with a fractional part.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::error::DecodeError;
use crate::limits::DecodeLimits;
use crate::value::Value;

/// Parse one JSON value from `bytes`, honouring the depth cap.
///
/// Returns `Ok(None)` for an empty (all-whitespace) body or a literal `null`,
/// which the protocol reports as "Failed to deserialize request".
pub fn decode(bytes: &[u8], limits: &DecodeLimits) -> Result<Option<Value>, DecodeError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    // serde_json has its own recursion guard (128); ours is tighter and counted below.
    let value = ValueSeed {
        depth_left: limits.max_depth,
        max_members: limits.max_members_per_object,
    }
    .deserialize(&mut de)
    .map_err(|e| DecodeError::Fatal(e.to_string()))?;
    // Trailing content after the first value is ignored (kept from the original).
    match value {
        Value::Null => Ok(None),
        v => Ok(Some(v)),
    }
}

#[derive(Clone, Copy)]
struct ValueSeed {
    depth_left: usize,
    max_members: usize,
}

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(ValueVisitor {
            depth_left: self.depth_left,
            max_members: self.max_members,
        })
    }
}

struct ValueVisitor {
    depth_left: usize,
    max_members: usize,
}

impl ValueVisitor {
    /// The seed for a child of an array or object, one level deeper.
    fn nested<E: serde::de::Error>(&self) -> Result<ValueSeed, E> {
        let depth_left = self
            .depth_left
            .checked_sub(1)
            .ok_or_else(|| E::custom("nesting exceeds the depth limit"))?;
        Ok(ValueSeed {
            depth_left,
            max_members: self.max_members,
        })
    }
}

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let seed = self.nested()?;
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element_seed(seed)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let seed = self.nested()?;
        let mut members = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if members.len() >= self.max_members {
                return Err(serde::de::Error::custom(crate::limits::too_many_members(self.max_members)));
            }
            let value = map.next_value_seed(seed)?;
            members.push((key, value));
        }
        Ok(Value::Object(members))
    }
}

/// Append `value` as compact JSON text.
pub fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Int(i) => out.extend_from_slice(itoa_buf(*i).as_bytes()),
        Value::Float(f) => write_float(out, *f),
        Value::String(s) => write_str(out, s),
        Value::Binary(b) => {
            use base64::Engine as _;
            write_str(out, &base64::engine::general_purpose::STANDARD.encode(b))
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(members) => {
            out.push(b'{');
            for (i, (k, v)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, k);
                out.push(b':');
                write_value(out, v);
            }
            out.push(b'}');
        }
    }
}

fn itoa_buf(i: i64) -> String {
    i.to_string()
}

fn write_float(out: &mut Vec<u8>, f: f64) {
    if !f.is_finite() {
        // JSON has no NaN or infinity; null is what a reader can still parse.
        out.extend_from_slice(b"null");
        return;
    }
    let mut buf = ryu::Buffer::new();
    out.extend_from_slice(buf.format_finite(f).as_bytes());
}

/// Append a JSON string literal with standard escaping; non-ASCII is written raw.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0x08 => Some(b"\\b"),
            0x0c => Some(b"\\f"),
            0..=0x1f => None,
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        match escape {
            Some(e) => out.extend_from_slice(e),
            None => out.extend_from_slice(format!("\\u{:04x}", b).as_bytes()),
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Compact JSON text of a value.
pub fn to_string(value: &Value) -> String {
    let mut out = Vec::new();
    write_value(&mut out, value);
    // write_value only emits valid UTF-8 (input strings are UTF-8, escapes are ASCII).
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Result<Option<Value>, &str>) {
        let got = decode(input.as_bytes(), &DecodeLimits::default());
        match expected {
            Ok(v) => assert_eq!(got, Ok(v), "input {input}"),
            Err(prefix) => match got {
                Err(DecodeError::Fatal(m)) => assert!(m.contains(prefix), "{m}"),
                other => panic!("expected error for {input}, got {other:?}"),
            },
        }
    }

    #[test]
    fn decodes_objects_in_order_with_duplicates() {
        check(
            r#"{"b":1,"a":2.5,"b":"x"}"#,
            Ok(Some(Value::Object(vec![
                ("b".into(), Value::Int(1)),
                ("a".into(), Value::Float(2.5)),
                ("b".into(), Value::String("x".into())),
            ]))),
        );
    }

    #[test]
    fn empty_and_null_are_nothing() {
        check("", Ok(None));
        check("  \n", Ok(None));
        check("null", Ok(None));
    }

    #[test]
    fn trailing_garbage_is_ignored() {
        check(r#"{"a":1} garbage"#, Ok(Some(Value::Object(vec![("a".into(), Value::Int(1))]))));
    }

    #[test]
    fn malformed_is_fatal() {
        check(r#"{"a":"#, Err("EOF"));
        check(r#"{"a" 1}"#, Err("expected"));
    }

    #[test]
    fn depth_is_capped() {
        let deep = "[".repeat(40) + &"]".repeat(40);
        check(&deep, Err("depth limit"));
    }

    #[test]
    fn bom_is_skipped() {
        let got = decode(b"\xEF\xBB\xBF{}", &DecodeLimits::default());
        assert_eq!(got, Ok(Some(Value::Object(vec![]))));
    }

    #[test]
    fn writes_compact_text() {
        let v = Value::Object(vec![
            ("$type".into(), "T".into()),
            ("f".into(), Value::Float(128.0)),
            ("s".into(), "a\"b\u{1}é".into()),
            ("n".into(), Value::Null),
            ("l".into(), Value::Array(vec![Value::Int(1), Value::Bool(true)])),
        ]);
        assert_eq!(to_string(&v), "{\"$type\":\"T\",\"f\":128.0,\"s\":\"a\\\"b\\u0001é\",\"n\":null,\"l\":[1,true]}");
    }
}
