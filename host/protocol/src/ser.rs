//! Serializing typed replies and callbacks into a [`Value`] tree, which the JSON
//! and BSON writers then encode. Member order is the declaration order.

use serde::ser::{self, Serialize};

use crate::error::DeError;
use crate::value::Value;

/// A serde serializer producing [`Value`]s.
pub struct ValueSerializer;

/// `f32` values are widened through their shortest decimal form so that `0.1f32`
/// is written as `0.1`, not `0.10000000149011612`.
fn widen(f: f32) -> f64 {
    if !f.is_finite() {
        return f64::from(f);
    }
    let mut buf = ryu::Buffer::new();
    buf.format_finite(f).parse::<f64>().unwrap_or(f64::from(f))
}

impl ser::Serializer for ValueSerializer {
    type Ok = Value;
    type Error = DeError;
    type SerializeSeq = SeqBuilder;
    type SerializeTuple = SeqBuilder;
    type SerializeTupleStruct = SeqBuilder;
    type SerializeTupleVariant = SeqBuilder;
    type SerializeMap = MapBuilder;
    type SerializeStruct = MapBuilder;
    type SerializeStructVariant = MapBuilder;

    fn serialize_bool(self, v: bool) -> Result<Value, DeError> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, DeError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<Value, DeError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<Value, DeError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<Value, DeError> {
        Ok(Value::Int(v))
    }
    fn serialize_u8(self, v: u8) -> Result<Value, DeError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<Value, DeError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<Value, DeError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<Value, DeError> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn serialize_f32(self, v: f32) -> Result<Value, DeError> {
        Ok(Value::Float(widen(v)))
    }
    fn serialize_f64(self, v: f64) -> Result<Value, DeError> {
        Ok(Value::Float(v))
    }
    fn serialize_char(self, v: char) -> Result<Value, DeError> {
        Ok(Value::String(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, DeError> {
        Ok(Value::String(v.to_owned()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value, DeError> {
        Ok(Value::Binary(v.to_vec()))
    }
    fn serialize_none(self) -> Result<Value, DeError> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, DeError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, DeError> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value, DeError> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result<Value, DeError> {
        Ok(Value::String(variant.to_owned()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Result<Value, DeError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value, DeError> {
        Ok(Value::Object(vec![(variant.to_owned(), value.serialize(ValueSerializer)?)]))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqBuilder, DeError> {
        Ok(SeqBuilder(Vec::with_capacity(len.unwrap_or(0))))
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqBuilder, DeError> {
        Ok(SeqBuilder(Vec::with_capacity(len)))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<SeqBuilder, DeError> {
        Ok(SeqBuilder(Vec::with_capacity(len)))
    }
    fn serialize_tuple_variant(self, _name: &'static str, _index: u32, _variant: &'static str, len: usize) -> Result<SeqBuilder, DeError> {
        Ok(SeqBuilder(Vec::with_capacity(len)))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<MapBuilder, DeError> {
        Ok(MapBuilder {
            members: Vec::with_capacity(len.unwrap_or(0)),
            key: None,
        })
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<MapBuilder, DeError> {
        Ok(MapBuilder {
            members: Vec::with_capacity(len),
            key: None,
        })
    }
    fn serialize_struct_variant(self, _name: &'static str, _index: u32, _variant: &'static str, len: usize) -> Result<MapBuilder, DeError> {
        Ok(MapBuilder {
            members: Vec::with_capacity(len),
            key: None,
        })
    }
}

pub struct SeqBuilder(Vec<Value>);

impl ser::SerializeSeq for SeqBuilder {
    type Ok = Value;
    type Error = DeError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), DeError> {
        self.0.push(value.serialize(ValueSerializer)?);
        Ok(())
    }
    fn end(self) -> Result<Value, DeError> {
        Ok(Value::Array(self.0))
    }
}

impl ser::SerializeTuple for SeqBuilder {
    type Ok = Value;
    type Error = DeError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), DeError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value, DeError> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for SeqBuilder {
    type Ok = Value;
    type Error = DeError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), DeError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value, DeError> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleVariant for SeqBuilder {
    type Ok = Value;
    type Error = DeError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), DeError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value, DeError> {
        ser::SerializeSeq::end(self)
    }
}

pub struct MapBuilder {
    members: Vec<(String, Value)>,
    key: Option<String>,
}

impl ser::SerializeMap for MapBuilder {
    type Ok = Value;
    type Error = DeError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), DeError> {
        let key = match key.serialize(ValueSerializer)? {
            Value::String(s) => s,
            Value::Int(i) => i.to_string(),
            other => return Err(DeError(format!("map keys must be strings, found {}", other.kind()))),
        };
        self.key = Some(key);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), DeError> {
        let key = self.key.take().ok_or_else(|| DeError("value without key".into()))?;
        self.members.push((key, value.serialize(ValueSerializer)?));
        Ok(())
    }
    fn end(self) -> Result<Value, DeError> {
        Ok(Value::Object(self.members))
    }
}

impl ser::SerializeStruct for MapBuilder {
    type Ok = Value;
    type Error = DeError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), DeError> {
        self.members.push((key.to_owned(), value.serialize(ValueSerializer)?));
        Ok(())
    }
    fn end(self) -> Result<Value, DeError> {
        Ok(Value::Object(self.members))
    }
}

impl ser::SerializeStructVariant for MapBuilder {
    type Ok = Value;
    type Error = DeError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), DeError> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }
    fn end(self) -> Result<Value, DeError> {
        ser::SerializeStruct::end(self)
    }
}

#[cfg(test)]
mod tests {

    #[derive(serde::Serialize)]
    struct R {
        #[serde(rename = "A")]
        a: f32,
        #[serde(rename = "B")]
        b: Vec<u8>,
        #[serde(rename = "C")]
        c: Option<String>,
    }

    #[test]
    fn keeps_declaration_order_and_short_floats() {
        let v = crate::to_value(&R {
            a: 0.1,
            b: vec![1],
            c: None,
        })
        .expect("ser");
        assert_eq!(crate::json::to_string(&v), r#"{"A":0.1,"B":[1],"C":null}"#);
    }
}
