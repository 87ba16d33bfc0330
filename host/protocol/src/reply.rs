//! Replies and callbacks: `$type` first, the type's members, then `_Success` and
//! `_Message` (replies only). Generic replies are typed `ResponseBase` (quirk Q1, kept).

use std::borrow::Cow;

use serde::Serialize;

use crate::envelope::Encoding;
use crate::typename::MessageType;
use crate::value::Value;
use crate::{bson, json};

/// The `_Success` member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseCode {
    Failure = 0,
    Success = 1,
    Queued = 2,
}

/// The type name of every generic success, failure and queued reply.
pub const RESPONSE_BASE: &str = "ResponseBase";

/// One reply, ready to encode.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub type_name: Cow<'static, str>,
    /// Type-specific members in order, without `$type`, `_Success`, `_Message`.
    pub fields: Vec<(String, Value)>,
    /// Type-specific members as checked JSON member text (`"A":1,"B":[2]`,
    /// from [`crate::json_scan::checked_members`]), passed through as is in
    /// JSON and read into a tree only for BSON and [`Reply::to_value`]; written
    /// after `fields` (empty when this is set). An extension's reply.
    pub raw_members: Option<String>,
    pub code: ResponseCode,
    pub message: String,
}

impl Reply {
    /// `{"$type":"ResponseBase","_Success":1,"_Message":""}`
    pub fn ok() -> Reply {
        Reply {
            type_name: Cow::Borrowed(RESPONSE_BASE),
            fields: Vec::new(),
            raw_members: None,
            code: ResponseCode::Success,
            message: String::new(),
        }
    }

    /// A Failure reply carrying `message` as `_Message`.
    pub fn failure(message: impl Into<String>) -> Reply {
        Reply {
            type_name: Cow::Borrowed(RESPONSE_BASE),
            fields: Vec::new(),
            raw_members: None,
            code: ResponseCode::Failure,
            message: message.into(),
        }
    }

    /// `{"$type":"ResponseBase","_Success":2,"_Message":""}` for queued requests.
    pub fn queued() -> Reply {
        Reply {
            code: ResponseCode::Queued,
            ..Reply::ok()
        }
    }

    /// A typed success reply. A response type that cannot be serialized is a
    /// programming error; it is reported as a Failure rather than a panic.
    pub fn typed<T: MessageType + Serialize>(response: &T) -> Reply {
        match crate::to_value(response) {
            Ok(Value::Object(fields)) => Reply {
                type_name: Cow::Borrowed(T::TYPE_NAME),
                fields,
                raw_members: None,
                code: ResponseCode::Success,
                message: String::new(),
            },
            Ok(other) => Reply::failure(format!("Fatal error; reply is not an object but {}", other.kind())),
            Err(e) => Reply::failure(format!("Fatal error; {e}")),
        }
    }

    pub fn is_success(&self) -> bool {
        self.code != ResponseCode::Failure
    }

    /// The whole reply as a value tree.
    pub fn to_value(&self) -> Value {
        let mut members = Vec::with_capacity(self.fields.len() + 3);
        members.push(("$type".to_owned(), Value::String(self.type_name.to_string())));
        members.extend(self.fields.iter().cloned());
        if let Some(raw) = &self.raw_members {
            members.extend(raw_tree(raw));
        }
        members.push(("_Success".to_owned(), Value::Int(self.code as i64)));
        members.push(("_Message".to_owned(), Value::String(self.message.clone())));
        Value::Object(members)
    }

    /// Encode the reply in the given encoding.
    pub fn encode(&self, encoding: Encoding) -> Vec<u8> {
        if let (Encoding::Json, Some(raw)) = (encoding, &self.raw_members) {
            return self.encode_raw_json(raw);
        }
        let value = self.to_value();
        match encoding {
            Encoding::Json => {
                let mut out = Vec::with_capacity(64);
                json::write_value(&mut out, &value);
                out
            }
            Encoding::Bson => bson::encode(&value),
        }
    }
}

impl Reply {
    /// JSON with the checked member text spliced in: the same members, in the
    /// same order, as [`Reply::to_value`] would write.
    fn encode_raw_json(&self, raw: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(raw.len() + self.type_name.len() + self.message.len() + 48);
        out.extend_from_slice(b"{\"$type\":");
        json::write_str(&mut out, &self.type_name);
        for (k, v) in &self.fields {
            out.push(b',');
            json::write_str(&mut out, k);
            out.push(b':');
            json::write_value(&mut out, v);
        }
        if !raw.is_empty() {
            out.push(b',');
            out.extend_from_slice(raw.as_bytes());
        }
        out.extend_from_slice(b",\"_Success\":");
        out.extend_from_slice((self.code as i64).to_string().as_bytes());
        out.extend_from_slice(b",\"_Message\":");
        json::write_str(&mut out, &self.message);
        out.push(b'}');
        out
    }
}

/// Checked member text as tree members (it was checked to read as an object,
/// so nothing is lost; anything else would read as no members).
fn raw_tree(raw: &str) -> Vec<(String, Value)> {
    let text = format!("{{{raw}}}");
    // The text was checked against the request limits; these only keep recursion finite.
    let limits = crate::DecodeLimits {
        max_body_bytes: usize::MAX,
        max_depth: 128,
        max_members_per_object: usize::MAX,
    };
    match json::decode(text.as_bytes(), &limits) {
        Ok(Some(Value::Object(members))) => members,
        _ => Vec::new(),
    }
}

/// A value serialized with its wire type name first: used for nested objects of
/// domain replies and for callbacks, which carry `$type` but no `_Success`.
#[derive(Clone, Debug)]
pub struct Typed<T>(pub T);

impl<T: MessageType + Serialize> Typed<T> {
    /// The value tree, `$type` first.
    pub fn to_value(&self) -> Result<Value, crate::DeError> {
        let mut members = vec![("$type".to_owned(), Value::String(T::TYPE_NAME.to_owned()))];
        match crate::to_value(&self.0)? {
            Value::Object(fields) => members.extend(fields),
            other => return Err(crate::DeError(format!("{} is not an object but {}", T::TYPE_NAME, other.kind()))),
        }
        Ok(Value::Object(members))
    }

    /// Compact JSON text, as callback datagrams carry it.
    pub fn to_json(&self) -> Result<Vec<u8>, crate::DeError> {
        let mut out = Vec::with_capacity(128);
        json::write_value(&mut out, &self.to_value()?);
        Ok(out)
    }
}

impl<T: MessageType + Serialize> Serialize for Typed<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value().map_err(serde::ser::Error::custom)?.serialize(serializer)
    }
}

/// Read back (clients, tests): the nested `$type` is ignored like any other
/// member the type does not name.
impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Typed<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Typed)
    }
}

impl<T: Default> Default for Typed<T> {
    fn default() -> Self {
        Typed(T::default())
    }
}

impl<T: PartialEq> PartialEq for Typed<T> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Int(i) => serializer.serialize_i64(*i),
            Value::Float(f) => serializer.serialize_f64(*f),
            Value::String(s) => serializer.serialize_str(s),
            Value::Binary(b) => serializer.serialize_bytes(b),
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Object(members) => {
                let mut map = serializer.serialize_map(Some(members.len()))?;
                for (k, v) in members {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_replies() {
        assert_eq!(
            String::from_utf8(Reply::queued().encode(Encoding::Json)).expect("utf8"),
            r#"{"$type":"ResponseBase","_Success":2,"_Message":""}"#
        );
        assert_eq!(
            String::from_utf8(Reply::failure("unknown type").encode(Encoding::Json)).expect("utf8"),
            r#"{"$type":"ResponseBase","_Success":0,"_Message":"unknown type"}"#
        );
    }

    /// A reply carrying checked member text encodes, in JSON and BSON, as the
    /// same reply built from the tree.
    #[test]
    fn raw_members_encode_as_the_tree() {
        let body = r#"{"Entries":[{"Name":"caf\u00e9","Score":12,"At":1.5}],"_Success":0,"Deep":{"a":[1,{"b":null}]},"N":-3}"#;
        let limits = crate::DecodeLimits::default();
        let keep = |k: &str| !(k.starts_with('_') || k.starts_with('$'));
        let raw = crate::json_scan::checked_members(body, &limits, keep).expect("checked");
        let Ok(Some(Value::Object(members))) = json::decode(body.as_bytes(), &limits) else {
            panic!("not an object");
        };
        let tree = Reply {
            type_name: "T.Messages.R".into(),
            fields: members.into_iter().filter(|(k, _)| keep(k)).collect(),
            ..Reply::ok()
        };
        let passed = Reply {
            type_name: "T.Messages.R".into(),
            raw_members: Some(raw),
            ..Reply::ok()
        };
        let read = |bytes: Vec<u8>| json::decode(&bytes, &limits).expect("json").expect("value");
        assert_eq!(read(passed.encode(Encoding::Json)), read(tree.encode(Encoding::Json)));
        assert_eq!(passed.encode(Encoding::Bson), tree.encode(Encoding::Bson));
        assert_eq!(passed.to_value(), tree.to_value());
        let text = String::from_utf8(passed.encode(Encoding::Json)).expect("utf8");
        assert!(
            text.starts_with(r#"{"$type":"T.Messages.R","Entries":"#) && text.ends_with(r#""N":-3,"_Success":1,"_Message":""}"#),
            "{text}"
        );
        // No members at all.
        let empty = Reply {
            raw_members: Some(String::new()),
            ..Reply::ok()
        };
        assert_eq!(empty.encode(Encoding::Json), Reply::ok().encode(Encoding::Json));
    }

    #[derive(Serialize)]
    struct Inner {
        #[serde(rename = "Name")]
        name: String,
    }
    impl MessageType for Inner {
        const TYPE_NAME: &'static str = "Test.Messages.Inner";
    }

    #[derive(Serialize)]
    struct Outer {
        #[serde(rename = "Child")]
        child: Typed<Inner>,
        #[serde(rename = "Children")]
        children: Vec<Typed<Inner>>,
        #[serde(rename = "Position")]
        position: [f32; 3],
        #[serde(rename = "Missing")]
        missing: Option<Typed<Inner>>,
    }
    impl MessageType for Outer {
        const TYPE_NAME: &'static str = "Test.Messages.OuterResponse";
    }

    fn outer() -> Outer {
        let inner = |n: &str| Typed(Inner { name: n.into() });
        Outer {
            child: inner("a"),
            children: vec![inner("b"), inner("c")],
            position: [128.0, 130.5, 25.0],
            missing: None,
        }
    }

    // dispatcher-core.md CORE-97 (and §3.7): every nested object carries its own
    // `$type` first; arrays are plain, without type information or wrappers.
    #[test]
    fn core_97_nested_objects_carry_type_arrays_do_not() {
        let json = String::from_utf8(Reply::typed(&outer()).encode(Encoding::Json)).expect("utf8");
        assert_eq!(
            json,
            concat!(
                r#"{"$type":"Test.Messages.OuterResponse","#,
                r#""Child":{"$type":"Test.Messages.Inner","Name":"a"},"#,
                r#""Children":[{"$type":"Test.Messages.Inner","Name":"b"},{"$type":"Test.Messages.Inner","Name":"c"}],"#,
                r#""Position":[128.0,130.5,25.0],"Missing":null,"_Success":1,"_Message":""}"#
            )
        );
        // A callback is the same object without the reply members.
        let callback = String::from_utf8(Typed(outer()).to_json().expect("json")).expect("utf8");
        assert!(callback.starts_with(r#"{"$type":"Test.Messages.OuterResponse","Child":{"$type":"#), "{callback}");
        assert!(!callback.contains("_Success") && !callback.contains("_Message"), "{callback}");
        // BSON: nested documents keep `$type` first, arrays are 0x04 documents.
        let doc = ::bson::Document::from_reader(&mut Reply::typed(&outer()).encode(Encoding::Bson).as_slice()).expect("bson");
        let child = doc.get_document("Child").expect("Child document");
        assert_eq!(child.keys().next().map(String::as_str), Some("$type"));
        let children = doc.get_array("Children").expect("Children array");
        assert_eq!(children.len(), 2);
        assert_eq!(doc.get_array("Position").expect("Position").len(), 3);
        assert_eq!(doc.get_i32("_Success").expect("int32"), 1);
    }
}
