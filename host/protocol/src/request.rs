//! A request type with its reply and its grant, declared once beside the struct,
//! and the bodies a successful handler may return.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::reply::Reply;
use crate::typename::MessageType;

/// A request type with its reply and its grant, declared once beside the struct.
pub trait Request: MessageType + Serialize + DeserializeOwned + Default + Send + 'static {
    /// What a successful handler returns.
    type Reply: ReplyBody;
    /// The script grant that allows sending it (e.g. "objects:read"; "dispatcher" = never grantable).
    const GRANT: &'static str;
    /// True when the handler takes write locks and commits to the database
    /// (creates, deletes, asset writes...): transports run it off the reactor.
    const COMMITS: bool = false;
}

/// A successful reply body: a typed response, [`Done`] (generic `ResponseBase`
/// success with a `_Message` text, empty or a warning), [`Warned`] (a typed
/// response with a warning text), or (while migrating) a prebuilt [`Reply`].
pub trait ReplyBody: Send + 'static {
    /// The reply as the byte path encodes it.
    fn into_reply(self) -> Reply;
}

impl<T: MessageType + Serialize + Send + 'static> ReplyBody for T {
    fn into_reply(self) -> Reply {
        Reply::typed(&self)
    }
}

impl ReplyBody for Reply {
    fn into_reply(self) -> Reply {
        self
    }
}

/// The generic success reply (`ResponseBase`, `_Success` 1) of a request that
/// returns no data; `message` is its `_Message`: empty, or warnings about the
/// entries that were skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Done {
    pub message: String,
}

impl Done {
    /// Success without a message.
    pub fn ok() -> Done {
        Done::default()
    }

    /// Success carrying `message` (warnings) as `_Message`.
    pub fn with_message(message: impl Into<String>) -> Done {
        Done { message: message.into() }
    }
}

impl ReplyBody for Done {
    fn into_reply(self) -> Reply {
        let mut reply = Reply::ok();
        reply.message = self.message;
        reply
    }
}

/// A typed response that also carries a `_Message` text (warnings about the
/// entries that were skipped while the rest succeeded).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Warned<T> {
    pub body: T,
    pub message: String,
}

impl<T: MessageType + Serialize + Send + 'static> ReplyBody for Warned<T> {
    fn into_reply(self) -> Reply {
        let mut reply = Reply::typed(&self.body);
        if reply.is_success() {
            reply.message = self.message;
        }
        reply
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Encoding;

    #[derive(Serialize)]
    struct Thing {
        #[serde(rename = "N")]
        n: i32,
    }
    impl MessageType for Thing {
        const TYPE_NAME: &'static str = "Test.Messages.ThingResponse";
    }

    fn json(body: impl ReplyBody) -> String {
        String::from_utf8(body.into_reply().encode(Encoding::Json)).expect("utf8")
    }

    #[test]
    fn bodies_encode_as_the_byte_path_always_did() {
        assert_eq!(json(Done::ok()), json(Reply::ok()));
        assert_eq!(
            json(Done::with_message("no such object x; ")),
            r#"{"$type":"ResponseBase","_Success":1,"_Message":"no such object x; "}"#
        );
        assert_eq!(json(Thing { n: 3 }), r#"{"$type":"Test.Messages.ThingResponse","N":3,"_Success":1,"_Message":""}"#);
        assert_eq!(
            json(Warned {
                body: Thing { n: 4 },
                message: "w; ".into()
            }),
            r#"{"$type":"Test.Messages.ThingResponse","N":4,"_Success":1,"_Message":"w; "}"#
        );
    }
}
