//! The named fault reasons of the status record: why a script was stopped.

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
