//! The chat message (§4.5).

use dispatcher_protocol::Done;
use dispatcher_scene::Vector3;
use serde::{Deserialize, Serialize};

use super::wire::{vec3_or, WireVec3};
use crate::rc_type_name;

/// Where a message is "said" when the request does not say.
pub const DEFAULT_CHAT_POSITION: Vector3 = Vector3::new(128.0, 128.0, 20.0);
/// The text of a request without `Message`.
pub const DEFAULT_CHAT_TEXT: &str = "Hello";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChatRequest {
    #[serde(rename = "Message")]
    pub message: String,
    /// `null` keeps the default (§2.3); read through [`ChatRequest::position`].
    #[serde(rename = "Position")]
    pub position: Option<WireVec3>,
    #[serde(rename = "Channel")]
    pub channel: i32,
}
rc_type_name!(ChatRequest, "RemoteControl.Messages.ChatRequest");

impl Default for ChatRequest {
    fn default() -> Self {
        ChatRequest {
            message: DEFAULT_CHAT_TEXT.to_owned(),
            position: Some(WireVec3(DEFAULT_CHAT_POSITION)),
            channel: 0,
        }
    }
}

impl ChatRequest {
    pub fn position(&self) -> Vector3 {
        vec3_or(self.position, DEFAULT_CHAT_POSITION)
    }
}

requests! {
    ChatRequest => Done, "chat";
}

#[cfg(test)]
mod tests {
    use super::*;
    use dispatcher_protocol::{json, DecodeLimits};

    fn bind(text: &str) -> Result<ChatRequest, dispatcher_protocol::DeError> {
        let value = json::decode(text.as_bytes(), &DecodeLimits::default())
            .expect("json")
            .expect("value");
        dispatcher_protocol::from_value(&value)
    }

    #[test]
    fn rc_56_defaults_and_null_position() {
        let r = bind("{}").expect("bind");
        assert_eq!((r.message.as_str(), r.channel, r.position()), ("Hello", 0, DEFAULT_CHAT_POSITION));
        assert_eq!(bind(r#"{"Position":null}"#).expect("bind").position(), DEFAULT_CHAT_POSITION);
        let r = bind(r#"{"message":"hi","position":["1","2","3","4"],"channel":"5"}"#).expect("bind");
        assert_eq!((r.message.as_str(), r.channel, r.position()), ("hi", 5, Vector3::new(1.0, 2.0, 3.0)));
    }

    #[test]
    fn rc_56_bad_position_or_fractional_channel_fails() {
        assert!(bind(r#"{"Position":[1,2]}"#).is_err());
        assert!(bind(r#"{"Position":5}"#).is_err());
        assert!(bind(r#"{"Channel":0.5}"#).is_err());
    }
}
