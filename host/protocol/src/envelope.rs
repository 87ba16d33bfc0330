//! The request envelope and the first decoding step: bytes → (type name,
//! envelope, value tree). Binding the body to a typed request happens later, in
//! the handler that owns the type, through [`crate::from_value`].

use serde::Deserialize;

use crate::de::ValueDeserializer;
use crate::error::DecodeError;
use crate::limits::DecodeLimits;
use crate::typename::split_type_name;
use crate::value::Value;
use crate::wire_uuid::WireUuid;
use crate::{bson, json};

/// The two encodings of the protocol. A reply always uses the request's encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Json,
    Bson,
}

impl Encoding {
    /// The reply Content-Type for this encoding.
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Json => "application/json",
            Encoding::Bson => "application/bson",
        }
    }

    /// Map a request Content-Type to an encoding. Accepts the original's exact
    /// values (`application/json`, `test/json`, `application/bson`) and, as the
    /// spec's fix Q2 recommends, `text/json`, any letter case and parameters.
    pub fn from_content_type(header: &str) -> Option<Encoding> {
        let media = header.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match media.as_str() {
            "application/json" | "test/json" | "text/json" => Some(Encoding::Json),
            "application/bson" => Some(Encoding::Bson),
            _ => None,
        }
    }
}

/// Members every request carries (dispatcher-core.md §3.3).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct Envelope {
    #[serde(rename = "_Scene")]
    pub scene: String,
    #[serde(rename = "_Domain")]
    pub domain: String,
    #[serde(rename = "_Capability")]
    pub capability: WireUuid,
    #[serde(rename = "_AsyncRequest")]
    pub async_request: bool,
}

/// A request after the envelope step.
#[derive(Clone, Debug)]
pub struct DecodedRequest {
    /// The `$type` name without any assembly qualifier.
    pub type_name: String,
    pub envelope: Envelope,
    /// The whole request object, for binding to the typed request.
    pub root: Value,
    pub encoding: Encoding,
}

impl DecodedRequest {
    /// Bind the request to its typed form with this encoding's coercion rules.
    pub fn bind<T: serde::de::DeserializeOwned>(&self) -> Result<T, crate::DeError> {
        T::deserialize(ValueDeserializer::new(&self.root).rounding_fractions(self.encoding == Encoding::Bson))
    }
}

/// Decode a request body: parse, find `$type` (at any position — quirk Q7 fixed),
/// and bind the envelope.
pub fn decode_request(bytes: &[u8], encoding: Encoding, limits: &DecodeLimits) -> Result<DecodedRequest, DecodeError> {
    if bytes.len() > limits.max_body_bytes {
        return Err(DecodeError::Fatal(format!(
            "request of {} bytes exceeds the limit of {} bytes",
            bytes.len(),
            limits.max_body_bytes
        )));
    }
    let root = match encoding {
        Encoding::Json => json::decode(bytes, limits)?,
        Encoding::Bson => bson::decode(bytes, limits)?,
    }
    .ok_or(DecodeError::Empty)?;
    let Value::Object(members) = &root else {
        return Err(DecodeError::Fatal(format!("a request must be an object, found {}", root.kind())));
    };
    let type_value = members
        .iter()
        .find(|(k, _)| k == "$type")
        .map(|(_, v)| v)
        .ok_or_else(|| DecodeError::Fatal("the request has no \"$type\" member".into()))?;
    let type_name = match type_value {
        Value::String(s) => split_type_name(s).to_owned(),
        Value::Null => return Err(DecodeError::Fatal("\"$type\" is null".into())),
        other => return Err(DecodeError::Fatal(format!("\"$type\" must be a string, found {}", other.kind()))),
    };
    let envelope = Envelope::deserialize(ValueDeserializer::new(&root).rounding_fractions(encoding == Encoding::Bson))
        .map_err(|e| DecodeError::Fatal(e.0))?;
    Ok(DecodedRequest {
        type_name,
        envelope,
        root,
        encoding,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(text: &str) -> Result<DecodedRequest, DecodeError> {
        decode_request(text.as_bytes(), Encoding::Json, &DecodeLimits::default())
    }

    #[test]
    fn envelope_in_any_case_and_type_anywhere() {
        let d = decode(
            r#"{"_scene":"R","_domain":"D","$type":"A.B, Asm","_asyncrequest":1,"_capability":"{3f2c9a61-0b7e-4d52-9c1a-5e8d7f604b21}"}"#,
        )
        .expect("decodes");
        assert_eq!(d.type_name, "A.B");
        assert_eq!(d.envelope.scene, "R");
        assert_eq!(d.envelope.domain, "D");
        assert!(d.envelope.async_request);
        assert_eq!(d.envelope.capability.to_string(), "3f2c9a61-0b7e-4d52-9c1a-5e8d7f604b21");
    }

    #[test]
    fn failures() {
        assert_eq!(decode("").err(), Some(DecodeError::Empty));
        assert_eq!(decode("null").err(), Some(DecodeError::Empty));
        assert!(matches!(decode("[1]"), Err(DecodeError::Fatal(_))));
        assert!(matches!(decode(r#"{"$Type":"A"}"#), Err(DecodeError::Fatal(_))));
        assert!(matches!(decode(r#"{"$type":null}"#), Err(DecodeError::Fatal(_))));
        assert!(matches!(decode(r#"{"$type":"A","_asyncrequest":"maybe"}"#), Err(DecodeError::Fatal(_))));
    }

    /// The issue's request: an InfoRequest with 100,000 extra members "k0":0 …,
    /// as JSON and as BSON. Binding the envelope was quadratic in the member
    /// count (26 s of CPU in a release build); now it is linear.
    fn many_members(n: usize) -> Value {
        let mut members = vec![("$type".to_string(), Value::from("Dispatcher.Messages.InfoRequest"))];
        members.extend((0..n).map(|i| (format!("k{i}"), Value::Int(0))));
        members.push(("_domain".into(), "Dispatcher".into()));
        members.push(("_Domain".into(), "Last".into()));
        Value::Object(members)
    }

    #[test]
    fn hundred_thousand_members_decode_and_bind() {
        let v = many_members(100_000);
        let limits = DecodeLimits::default();
        for (bytes, encoding) in [(json::to_string(&v).into_bytes(), Encoding::Json), (bson::encode(&v), Encoding::Bson)] {
            let d = decode_request(&bytes, encoding, &limits).expect("decodes");
            assert_eq!(d.type_name, "Dispatcher.Messages.InfoRequest");
            assert_eq!(d.envelope.domain, "Last", "{encoding:?}");
            assert_eq!(d.root.as_object().map(<[_]>::len), Some(100_003));
        }
    }

    #[test]
    fn members_over_the_cap_are_refused() {
        let limits = DecodeLimits::default();
        let v = many_members(limits.max_members_per_object);
        for (bytes, encoding) in [(json::to_string(&v).into_bytes(), Encoding::Json), (bson::encode(&v), Encoding::Bson)] {
            match decode_request(&bytes, encoding, &limits) {
                Err(DecodeError::Fatal(m)) => {
                    assert!(m.contains("more than 131072 members (limit max_members_per_object)"), "{encoding:?}: {m}")
                }
                other => panic!("{encoding:?}: expected a refusal, got {:?}", other.map(|d| d.type_name)),
            }
        }
        // Arrays are not objects: a long one is fine in either encoding.
        let arr = Value::Object(vec![
            ("$type".into(), "X".into()),
            ("l".into(), Value::Array(vec![Value::Int(1); limits.max_members_per_object + 10])),
        ]);
        assert!(decode_request(&bson::encode(&arr), Encoding::Bson, &limits).is_ok());
        assert!(decode_request(json::to_string(&arr).as_bytes(), Encoding::Json, &limits).is_ok());
    }

    #[test]
    fn content_types() {
        assert_eq!(Encoding::from_content_type("application/json"), Some(Encoding::Json));
        assert_eq!(Encoding::from_content_type("test/json"), Some(Encoding::Json));
        assert_eq!(Encoding::from_content_type("Text/JSON; charset=utf-8"), Some(Encoding::Json));
        assert_eq!(Encoding::from_content_type("application/bson"), Some(Encoding::Bson));
        assert_eq!(Encoding::from_content_type("text/plain"), None);
        assert_eq!(Encoding::from_content_type(""), None);
    }
}
