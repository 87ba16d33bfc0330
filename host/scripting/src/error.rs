//! Errors: the library boundary ([`ScriptingError`]), what a host call ends in
//! ([`HostError`]: an error value for the guest, or a fault that stops it), and
//! the named fault reasons of the status record ([`Fault`]).
//!
//! `HostError` is declared beside the `bindgen!` that names it (it wraps the
//! generated guest error) and `Fault` in its own module, so the bindings and
//! this module do not import each other.

pub use crate::bindings::HostError;
pub use crate::fault::Fault;

/// Errors at the library boundary (host start, persistence).
#[derive(Debug, thiserror::Error)]
pub enum ScriptingError {
    #[error("wasm engine: {0}")]
    Engine(String),
    #[error("store: {0}")]
    Store(#[from] dispatcher_store::StoreError),
    #[error("compiled-code cache {path}: {source}")]
    Cache { path: std::path::PathBuf, source: std::io::Error },
}
