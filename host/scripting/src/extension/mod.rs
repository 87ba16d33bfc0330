//! Third-party extensions (docs/extensions.md): message domains served by
//! `domain-extension` components on the scripts' engine, cache, compile pool
//! and limits machinery.
//!
//! - [`ext_bindings`]: the world's `bindgen!` (shared interfaces reuse the
//!   scripts' host impls) and the `extension` interface.
//! - [`runtime`]: [`ExtensionHost`], instance pools, request serving,
//!   faults and restarts, caller-scoped authorisation, registration.
//! - [`domain`]: the `Extensions` messages and loading at start-up.

pub mod domain;
mod ext_bindings;
pub mod runtime;

pub use runtime::{Extension, ExtensionHost, ExtensionLimits};
