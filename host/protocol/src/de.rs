//! Binding a [`Value`] to a typed message with the protocol's leniency.
//!
//! The rules (dispatcher-core.md §3.2, §3.4) live here and nowhere else:
//! - a member binds to the field of the same name, else to a field whose name
//!   matches without regard to case; unknown members are ignored; when several
//!   members bind to one field the last one wins;
//! - `$type`, `$id` and `$ref` members are metadata, never fields;
//! - integers accept numeric strings (blanks trimmed) and integral floats; BSON
//!   doubles are rounded half-to-even; out-of-range values are refused;
//! - strings accept numbers and booleans (written as text); null reads as "";
//! - booleans accept 0/1 and the strings "true"/"false" (any case);
//! - lists accept null as empty (quirk Q17 fixed);
//! - byte fields accept BSON binary or base64 text.

use std::collections::HashSet;

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};

use crate::error::DeError;
use crate::value::Value;

/// A serde deserializer over a borrowed value tree.
#[derive(Clone, Copy)]
pub struct ValueDeserializer<'a> {
    value: &'a Value,
    /// BSON requests may carry doubles for integer fields; the original rounded them.
    round_fractions: bool,
}

impl<'a> ValueDeserializer<'a> {
    pub fn new(value: &'a Value) -> Self {
        ValueDeserializer {
            value,
            round_fractions: false,
        }
    }

    /// Round fractional numbers bound to integer fields (BSON semantics).
    pub fn rounding_fractions(mut self, yes: bool) -> Self {
        self.round_fractions = yes;
        self
    }

    fn child(&self, value: &'a Value) -> Self {
        ValueDeserializer {
            value,
            round_fractions: self.round_fractions,
        }
    }

    fn integer(&self) -> Result<i64, DeError> {
        match self.value {
            Value::Int(i) => Ok(*i),
            Value::Float(f) => {
                if f.fract() == 0.0 || self.round_fractions {
                    let r = f.round_ties_even();
                    if r.is_finite() && r >= i64::MIN as f64 && r <= i64::MAX as f64 {
                        return Ok(r as i64);
                    }
                }
                Err(DeError(format!("Input {f} is not a valid integer")))
            }
            Value::String(s) => s
                .trim()
                .parse::<i64>()
                .map_err(|_| DeError(format!("Could not convert string to integer: {s}"))),
            other => Err(DeError(format!("Expected an integer, found {}", other.kind()))),
        }
    }

    fn float(&self) -> Result<f64, DeError> {
        match self.value {
            Value::Int(i) => Ok(*i as f64),
            Value::Float(f) => Ok(*f),
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .map_err(|_| DeError(format!("Could not convert string to number: {s}"))),
            other => Err(DeError(format!("Expected a number, found {}", other.kind()))),
        }
    }

    fn text(&self) -> Result<String, DeError> {
        match self.value {
            Value::String(s) => Ok(s.clone()),
            Value::Null => Ok(String::new()),
            Value::Int(i) => Ok(i.to_string()),
            Value::Float(f) => Ok(f.to_string()),
            Value::Bool(b) => Ok(if *b { "True" } else { "False" }.to_owned()),
            other => Err(DeError(format!("Expected a string, found {}", other.kind()))),
        }
    }
}

fn ranged<T: TryFrom<i64>>(i: i64, what: &str) -> Result<T, DeError> {
    T::try_from(i).map_err(|_| DeError(format!("Value {i} is out of range for {what}")))
}

macro_rules! int_method {
    ($method:ident, $visit:ident, $ty:ty) => {
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            visitor.$visit(ranged::<$ty>(self.integer()?, stringify!($ty))?)
        }
    };
}

impl<'de, 'a> de::Deserializer<'de> for ValueDeserializer<'a> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(i) => visitor.visit_i64(*i),
            Value::Float(f) => visitor.visit_f64(*f),
            Value::String(s) => visitor.visit_str(s),
            Value::Binary(b) => visitor.visit_bytes(b),
            Value::Array(items) => visitor.visit_seq(Seq {
                de: self,
                items: items.iter(),
            }),
            Value::Object(members) => visitor.visit_map(Members::plain(self, members)),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let b = match self.value {
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(DeError(format!("Could not convert string to boolean: {s}"))),
            },
            other => return Err(DeError(format!("Expected a boolean, found {}", other.kind()))),
        };
        visitor.visit_bool(b)
    }

    int_method!(deserialize_i8, visit_i8, i8);
    int_method!(deserialize_i16, visit_i16, i16);
    int_method!(deserialize_i32, visit_i32, i32);
    int_method!(deserialize_i64, visit_i64, i64);
    int_method!(deserialize_u8, visit_u8, u8);
    int_method!(deserialize_u16, visit_u16, u16);
    int_method!(deserialize_u32, visit_u32, u32);
    int_method!(deserialize_u64, visit_u64, u64);

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_f32(self.float()? as f32)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_f64(self.float()?)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.value {
            Value::String(s) => visitor.visit_str(s),
            _ => visitor.visit_string(self.text()?),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_string(self.text()?)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_byte_buf(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        use base64::Engine as _;
        match self.value {
            Value::Binary(b) => visitor.visit_bytes(b),
            Value::String(s) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(s.trim())
                    .map_err(|e| DeError(format!("invalid base64 data: {e}")))?;
                visitor.visit_byte_buf(bytes)
            }
            Value::Null => visitor.visit_byte_buf(Vec::new()),
            other => Err(DeError(format!("Expected binary data, found {}", other.kind()))),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.value {
            Value::Array(items) => visitor.visit_seq(Seq {
                de: self,
                items: items.iter(),
            }),
            Value::Null => visitor.visit_seq(Seq {
                de: self,
                items: [].iter(),
            }),
            other => Err(DeError(format!("Expected an array, found {}", other.kind()))),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, DeError> {
        match self.value {
            Value::Array(items) if items.len() == len => visitor.visit_seq(Seq {
                de: self,
                items: items.iter(),
            }),
            Value::Array(items) => Err(DeError(format!("Expected an array of {len} numbers, found {} elements", items.len()))),
            other => Err(DeError(format!("Expected an array of {len} numbers, found {}", other.kind()))),
        }
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(self, _name: &'static str, len: usize, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.value {
            Value::Object(members) => visitor.visit_map(Members::plain(self, members)),
            Value::Null => visitor.visit_map(Members::plain(self, &[])),
            other => Err(DeError(format!("Expected an object, found {}", other.kind()))),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self.value {
            Value::Object(members) => visitor.visit_map(Members::bound(self, members, fields)),
            other => Err(DeError(format!("Expected an object, found {}", other.kind()))),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self.value {
            Value::String(s) => {
                let name = variants.iter().find(|v| v.eq_ignore_ascii_case(s)).copied().unwrap_or(s.as_str());
                visitor.visit_enum(name.into_deserializer())
            }
            Value::Int(i) => {
                let idx = ranged::<usize>(*i, "enum")?;
                let name = variants
                    .get(idx)
                    .ok_or_else(|| DeError(format!("Value {i} is not a known variant")))?;
                visitor.visit_enum(name.into_deserializer())
            }
            other => Err(DeError(format!("Expected a name, found {}", other.kind()))),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }
}

struct Seq<'a> {
    de: ValueDeserializer<'a>,
    items: std::slice::Iter<'a, Value>,
}

impl<'de, 'a> SeqAccess<'de> for Seq<'a> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            Some(v) => seed.deserialize(self.de.child(v)).map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

/// Object members, each with the name it binds to.
struct Members<'a> {
    de: ValueDeserializer<'a>,
    entries: std::vec::IntoIter<(&'a str, &'a Value)>,
    pending: Option<&'a Value>,
}

fn is_metadata(name: &str) -> bool {
    matches!(name, "$type" | "$id" | "$ref")
}

impl<'a> Members<'a> {
    fn plain(de: ValueDeserializer<'a>, members: &'a [(String, Value)]) -> Self {
        let entries: Vec<_> = members
            .iter()
            .filter(|(k, _)| !is_metadata(k))
            .map(|(k, v)| (k.as_str(), v))
            .collect();
        Members {
            de,
            entries: entries.into_iter(),
            pending: None,
        }
    }

    /// Bind members to struct fields in one pass over the members plus one over
    /// the result: O(members × fields), never O(members²). Each field is fed
    /// once, from the last member that binds to it, at that member's position;
    /// each unknown name once, at its first position. (The old code looked up
    /// earlier entries per member, which made 100,000 distinct or case-variant
    /// names cost tens of seconds.)
    fn bound(de: ValueDeserializer<'a>, members: &'a [(String, Value)], fields: &'static [&'static str]) -> Self {
        const UNKNOWN: usize = usize::MAX;
        const SKIP: usize = usize::MAX - 1;
        // Per member: the index of the field it binds to, UNKNOWN, or SKIP.
        let mut slots: Vec<usize> = Vec::with_capacity(members.len());
        // Per field: the position of the last member bound to it.
        let mut last: Vec<Option<usize>> = vec![None; fields.len()];
        let mut unknown_seen: HashSet<&'a str> = HashSet::new();
        for (pos, (key, _)) in members.iter().enumerate() {
            let slot = if is_metadata(key) {
                SKIP
            } else if let Some(i) = field_index(fields, key) {
                last[i] = Some(pos);
                i
            } else if unknown_seen.insert(key.as_str()) {
                // Unknown members are kept under their own name, once; a
                // derived Deserialize ignores them.
                UNKNOWN
            } else {
                SKIP
            };
            slots.push(slot);
        }
        let mut entries: Vec<(&'a str, &'a Value)> = Vec::new();
        for (pos, ((key, value), slot)) in members.iter().zip(slots).enumerate() {
            match slot {
                SKIP => {}
                UNKNOWN => entries.push((key.as_str(), value)),
                // The last member bound to a field wins.
                i if last[i] == Some(pos) => entries.push((fields[i], value)),
                _ => {}
            }
        }
        Members {
            de,
            entries: entries.into_iter(),
            pending: None,
        }
    }
}

/// The field a member name binds to: the same name, else one equal without
/// regard to ASCII case. Field lists are short and fixed per type.
fn field_index(fields: &[&str], key: &str) -> Option<usize> {
    fields
        .iter()
        .position(|f| *f == key)
        .or_else(|| fields.iter().position(|f| f.eq_ignore_ascii_case(key)))
}

impl<'de, 'a> MapAccess<'de> for Members<'a> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DeError> {
        match self.entries.next() {
            Some((key, value)) => {
                self.pending = Some(value);
                seed.deserialize(key.into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let value = self.pending.take().ok_or_else(|| DeError("value requested before key".into()))?;
        seed.deserialize(self.de.child(value))
    }
}

impl<'de> IntoDeserializer<'de, DeError> for &'de Value {
    type Deserializer = ValueDeserializer<'de>;

    fn into_deserializer(self) -> Self::Deserializer {
        ValueDeserializer::new(self)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::json;
    use crate::limits::DecodeLimits;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default)]
    struct Sample {
        #[serde(rename = "LifeSpan")]
        life_span: i32,
        #[serde(rename = "_Domain")]
        domain: String,
        #[serde(rename = "_AsyncRequest")]
        async_request: bool,
        #[serde(rename = "DomainList")]
        domain_list: Vec<String>,
        #[serde(rename = "Position")]
        position: Option<[f32; 3]>,
    }

    fn bind(text: &str) -> Result<Sample, DeError> {
        let v = json::decode(text.as_bytes(), &DecodeLimits::default())
            .expect("json")
            .expect("value");
        crate::from_value(&v)
    }

    fn check(text: &str, expected: Sample) {
        assert_eq!(bind(text), Ok(expected), "{text}");
    }

    fn check_err(text: &str, contains: &str) {
        match bind(text) {
            Err(DeError(m)) => assert!(m.contains(contains), "{m}"),
            Ok(v) => panic!("expected error for {text}, got {v:?}"),
        }
    }

    #[test]
    fn names_bind_without_regard_to_case_last_wins() {
        check(
            r#"{"$type":"X","LIFESPAN":5,"_Domain":"a","_domain":"b","extra":1}"#,
            Sample {
                life_span: 5,
                domain: "b".into(),
                ..Default::default()
            },
        );
    }

    #[test]
    fn exact_name_binds_like_any_other_spelling() {
        check(
            r#"{"_domain":"b","_Domain":"a"}"#,
            Sample {
                domain: "a".into(),
                ..Default::default()
            },
        );
    }

    #[test]
    fn coercions() {
        check(
            r#"{"lifespan":" 120 "}"#,
            Sample {
                life_span: 120,
                ..Default::default()
            },
        );
        check(
            r#"{"lifespan":120.0}"#,
            Sample {
                life_span: 120,
                ..Default::default()
            },
        );
        check(
            r#"{"_asyncrequest":1}"#,
            Sample {
                async_request: true,
                ..Default::default()
            },
        );
        check(
            r#"{"_asyncrequest":"true"}"#,
            Sample {
                async_request: true,
                ..Default::default()
            },
        );
        check(
            r#"{"_domain":42}"#,
            Sample {
                domain: "42".into(),
                ..Default::default()
            },
        );
        check(r#"{"domainlist":null}"#, Sample::default());
        check(
            r#"{"position":[1,2.5,"3"]}"#,
            Sample {
                position: Some([1.0, 2.5, 3.0]),
                ..Default::default()
            },
        );
    }

    #[test]
    fn refusals() {
        check_err(r#"{"lifespan":120.5}"#, "not a valid integer");
        check_err(r#"{"lifespan":"abc"}"#, "Could not convert string to integer: abc");
        check_err(r#"{"lifespan":null}"#, "Expected an integer, found null");
        check_err(r#"{"lifespan":true}"#, "Expected an integer");
        check_err(r#"{"lifespan":3000000000}"#, "out of range");
        check_err(r#"{"position":[1,2]}"#, "array of 3");
        check_err(r#"{"position":"1,2,3"}"#, "array of 3");
        check_err(r#"{"domainlist":{"a":1}}"#, "Expected an array");
    }

    /// 120,000 distinct unknown names, then the field in three spellings.
    /// Quadratic binding (the old per-member scan of earlier entries) took
    /// minutes here; linear binding takes milliseconds.
    #[test]
    fn many_distinct_members_bind_linearly_last_wins() {
        let mut text = String::from("{\"$type\":\"X\"");
        for i in 0..120_000 {
            text.push_str(&format!(",\"k{i}\":{i}"));
        }
        text.push_str(",\"_DOMAIN\":\"a\",\"lifespan\":7,\"_domain\":\"b\"}");
        check(
            &text,
            Sample {
                life_span: 7,
                domain: "b".into(),
                ..Default::default()
            },
        );
    }

    /// 2^16 case variants of an unknown name (all distinct keys), then 60,000
    /// members spelling a field's name in its 64 case variants: all bind to the
    /// field without regard to case, and the last one wins.
    #[test]
    fn many_case_variants_bind_linearly_last_wins() {
        fn variant(base: &str, bits: u32) -> String {
            base.chars()
                .enumerate()
                .map(|(i, c)| if bits >> (i % 32) & 1 == 1 { c.to_ascii_uppercase() } else { c })
                .collect()
        }
        let mut text = String::from("{");
        for bits in 0..(1u32 << 16) {
            text.push_str(&format!("\"{}\":{bits},", variant("unknownmembername", bits)));
        }
        for bits in 0..60_000 {
            text.push_str(&format!("\"{}\":\"v{bits}\",", variant("_domain", bits)));
        }
        text.push_str("\"LifeSpan\":1}");
        check(
            &text,
            Sample {
                life_span: 1,
                domain: "v59999".into(),
                ..Default::default()
            },
        );
    }

    #[test]
    fn bson_doubles_round_half_to_even() {
        let v = Value::Object(vec![("LifeSpan".into(), Value::Float(2.5))]);
        let s = Sample::deserialize(ValueDeserializer::new(&v).rounding_fractions(true)).expect("bind");
        assert_eq!(s.life_span, 2);
    }
}
