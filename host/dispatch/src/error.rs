//! How a request fails: the handler's error, its kind, and the failure both
//! entries return (the byte entry as a Failure reply, the typed entry as is).

use dispatcher_protocol::{DeError, Reply};

/// What kind of failure a request met. Set where the failure is raised;
/// nobody parses `_Message` text to find it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The request is malformed: members that do not bind, bad values.
    Invalid,
    /// What the request names does not exist (object, asset, user, script,
    /// endpoint, or a handler for the type in that scene).
    NotFound,
    /// The capability, the caller's role or the script's rights refuse it.
    NotPermitted,
    /// A cap or a rate: too many entries, too large, queue full.
    Limited,
    /// Any other expected failure, with the protocol's own text.
    Failed,
    /// An unexpected internal failure (store unavailable, handler panic).
    Internal,
}

/// A refused or failed request: `Display` is exactly the `_Message` text the
/// byte path sends.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
}

impl Failure {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
        }
    }

    /// The Failure reply the byte path sends.
    pub fn into_reply(self) -> Reply {
        Reply::failure(self.message)
    }
}

impl From<HandlerError> for Failure {
    fn from(e: HandlerError) -> Failure {
        Failure {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

/// A handler's failure. `Display` is the `_Message` text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HandlerError {
    /// The request did not bind to its type (wrong member types, bad values).
    #[error("Fatal error; {0}")]
    Bind(DeError),
    /// An expected failure with the protocol's own text.
    #[error("{0}")]
    Failure(String),
    /// An unexpected internal failure (store unavailable, invariant broken).
    #[error("Fatal error; {0}")]
    Internal(String),
    /// What the request names does not exist; the text is the whole message.
    #[error("{0}")]
    NotFound(String),
    /// The caller may not do this; the text is the whole message.
    #[error("{0}")]
    NotPermitted(String),
    /// A bad value in a request that did bind; the text is the whole message.
    #[error("{0}")]
    Invalid(String),
    /// Over a cap or a rate; the text is the whole message.
    #[error("{0}")]
    Limited(String),
}

impl From<DeError> for HandlerError {
    fn from(e: DeError) -> Self {
        HandlerError::Bind(e)
    }
}

impl HandlerError {
    pub fn failure(message: impl Into<String>) -> Self {
        HandlerError::Failure(message.into())
    }

    /// The kind this error was raised with.
    pub fn kind(&self) -> FailureKind {
        match self {
            HandlerError::Bind(_) | HandlerError::Invalid(_) => FailureKind::Invalid,
            HandlerError::Failure(_) => FailureKind::Failed,
            HandlerError::Internal(_) => FailureKind::Internal,
            HandlerError::NotFound(_) => FailureKind::NotFound,
            HandlerError::NotPermitted(_) => FailureKind::NotPermitted,
            HandlerError::Limited(_) => FailureKind::Limited,
        }
    }

    pub fn into_reply(self) -> Reply {
        Reply::failure(self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_stay_and_kinds_follow_the_variant() {
        let cases = [
            (HandlerError::Bind(DeError("bad".into())), "Fatal error; bad", FailureKind::Invalid),
            (HandlerError::failure("unknown type"), "unknown type", FailureKind::Failed),
            (HandlerError::Internal("disk".into()), "Fatal error; disk", FailureKind::Internal),
            (HandlerError::NotFound("no such object".into()), "no such object", FailureKind::NotFound),
            (HandlerError::NotPermitted("not permitted".into()), "not permitted", FailureKind::NotPermitted),
            (HandlerError::Invalid("Fatal error; x".into()), "Fatal error; x", FailureKind::Invalid),
            (HandlerError::Limited("too many".into()), "too many", FailureKind::Limited),
        ];
        for (e, text, kind) in cases {
            assert_eq!(e.kind(), kind, "{e:?}");
            let failure = Failure::from(e.clone());
            assert_eq!((failure.to_string().as_str(), failure.kind), (text, kind));
            assert_eq!(e.into_reply().message, text);
        }
    }
}
