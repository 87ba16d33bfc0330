//! Decode errors and the serde error used while binding values to types.

use std::fmt;

/// Why a request body could not be turned into a request.
///
/// The `Display` text of each variant is the exact `_Message` the protocol replies with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// Empty body, JSON `null` or an empty BSON stream (spec: "Failed to deserialize request").
    #[error("Failed to deserialize request")]
    Empty,
    /// Anything else the decoder refused: syntax, nesting, types.
    #[error("Fatal error; {0}")]
    Fatal(String),
}

/// Error raised while binding a [`crate::Value`] to a typed message.
#[derive(Debug, Clone, PartialEq)]
pub struct DeError(pub String);

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DeError {}

impl serde::de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError(msg.to_string())
    }
}

impl serde::ser::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError(msg.to_string())
    }
}
