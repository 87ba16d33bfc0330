//! Errors: the library boundary ([`ScriptingError`]), what a host call ends in
//! ([`HostError`]: an error value for the guest, or a fault that stops it), and
//! the named fault reasons of the status record.

use crate::bindings::opensim::dispatcher::types::Error as GuestError;

/// Why a script was stopped. `as_str` is the `FaultReason` text of the spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    #[error("out-of-fuel")]
    OutOfFuel,
    #[error("timeout")]
    Timeout,
    #[error("out-of-memory")]
    OutOfMemory,
    #[error("stack-overflow")]
    StackOverflow,
    #[error("trap")]
    Trap,
    #[error("host-call-limit")]
    HostCallLimit,
    #[error("event-queue-overflow")]
    EventQueueOverflow,
}

impl Fault {
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::OutOfFuel => "out-of-fuel",
            Fault::Timeout => "timeout",
            Fault::OutOfMemory => "out-of-memory",
            Fault::StackOverflow => "stack-overflow",
            Fault::Trap => "trap",
            Fault::HostCallLimit => "host-call-limit",
            Fault::EventQueueOverflow => "event-queue-overflow",
        }
    }

    pub fn parse(text: &str) -> Option<Fault> {
        [
            Fault::OutOfFuel,
            Fault::Timeout,
            Fault::OutOfMemory,
            Fault::StackOverflow,
            Fault::Trap,
            Fault::HostCallLimit,
            Fault::EventQueueOverflow,
        ]
        .into_iter()
        .find(|f| f.as_str() == text)
    }
}

/// The outcome of a failed host call: bindgen's trappable error type for the
/// WIT `error` variant. `Guest` is returned to the script; `Fault` traps it.
#[derive(Debug)]
pub enum HostError {
    Guest(GuestError),
    Fault(Fault),
}

impl From<GuestError> for HostError {
    fn from(e: GuestError) -> Self {
        HostError::Guest(e)
    }
}

impl HostError {
    pub fn not_permitted(text: impl Into<String>) -> Self {
        HostError::Guest(GuestError::NotPermitted(text.into()))
    }

    pub fn invalid(text: impl Into<String>) -> Self {
        HostError::Guest(GuestError::InvalidArgument(text.into()))
    }

    pub fn failed(text: impl Into<String>) -> Self {
        HostError::Guest(GuestError::Failed(text.into()))
    }
}

/// Errors at the library boundary (host start, persistence).
#[derive(Debug, thiserror::Error)]
pub enum ScriptingError {
    #[error("wasm engine: {0}")]
    Engine(String),
    #[error("store: {0}")]
    Store(#[from] dispatcher_store::StoreError),
    #[error("compiled-code cache {path}: {source}")]
    Cache {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}
