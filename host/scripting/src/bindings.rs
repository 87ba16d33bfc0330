//! The one `bindgen!` of this crate: host traits and guest exports of the
//! `region-script` world. Every import is trappable so that a host call can stop
//! a runaway script (`host-call-limit`); the WIT `error` variant maps to
//! [`HostError`], declared here because it wraps the generated guest error;
//! it is either returned to the guest or turned into a trap in
//! `types::Host::convert_error`.

wasmtime::component::bindgen!({
    world: "region-script",
    path: "../../wit",
    imports: { default: trappable },
    trappable_error_type: {
        "opensim:dispatcher/types.error" => crate::bindings::HostError,
    },
});

use crate::fault::Fault;
use opensim::dispatcher::types::Error as GuestError;

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
