//! Third-party extensions (docs/extensions.md): message domains served by
//! `domain-extension` components on the scripts' engine, cache, compile pool
//! and limits machinery.
//!
//! - [`ext_bindings`]: the world's `bindgen!` (shared interfaces reuse the
//!   scripts' host impls) and the `extension` interface.
//! - [`runtime`]: [`ExtensionHost`], instance pools, request serving,
//!   faults and restarts, caller-scoped authorisation, registration.
//! - [`domain`]: the `Extensions` messages and loading at start-up.
//! - [`placement`]: which extensions run on this host (grid mode: a
//!   region's with its lease, host-wide timers on one host).

pub mod domain;
mod ext_bindings;
pub mod placement;
pub mod runtime;

pub use placement::{Announcer, Placement};
pub use runtime::{Extension, ExtensionHost, ExtensionLimits};
