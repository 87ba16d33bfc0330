//! `types`: only the error conversion lives here.

use crate::bindings::opensim::dispatcher::types::{Error, Host};
use crate::error::HostError;
use crate::instance::HostState;

impl Host for HostState {
    /// A guest error goes back to the script; a fault becomes a trap that
    /// `instance::classify` names.
    fn convert_error(&mut self, err: HostError) -> wasmtime::Result<Error> {
        match err {
            HostError::Guest(e) => Ok(e),
            HostError::Fault(f) => Err(wasmtime::Error::new(f)),
        }
    }
}
