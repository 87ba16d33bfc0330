//! The Dispatcher wire protocol: everything between bytes and typed messages.
//!
//! This crate owns the message envelope, the JSON and BSON codecs, the lenient
//! member matching of the original protocol (member names without regard to case,
//! `$type` anywhere, numeric strings) and the reply format. Every wire quirk is
//! handled here, once, so that handlers only ever see typed values.
//!
//! Invariant: this crate does no I/O, spawns nothing and never panics on input;
//! any byte string decodes to a value or to a [`DecodeError`].

pub mod bson;
pub mod de;
pub mod envelope;
pub mod error;
pub mod json;
pub mod json_scan;
pub mod limits;
pub mod messages;
pub mod reply;
pub mod request;
pub mod ser;
pub mod typename;
pub mod value;
pub mod wire_uuid;

pub use envelope::{decode_request, DecodedRequest, Encoding, Envelope};
pub use error::{DeError, DecodeError};
pub use limits::DecodeLimits;
pub use reply::{Reply, ResponseCode};
pub use request::{Done, ReplyBody, Request, Warned};
pub use typename::{split_type_name, MessageType};
pub use value::Value;
pub use wire_uuid::WireUuid;

/// Decode a typed value from a decoded request tree, with the protocol's leniency.
pub fn from_value<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, DeError> {
    T::deserialize(de::ValueDeserializer::new(value))
}

/// Encode a typed value into a value tree (replies, callbacks, samples).
pub fn to_value<T: serde::Serialize + ?Sized>(value: &T) -> Result<Value, DeError> {
    value.serialize(ser::ValueSerializer)
}
