//! The one message path that HTTP, UDP and scripts share.
//!
//! [`Dispatcher::handle`] takes a request body from any transport and runs the
//! pipeline of dispatcher-core.md §4: decode, pre-authentication messages,
//! authorisation against a capability, handler lookup in the [`Registry`], then
//! either the asynchronous [`pool`] or the handler itself. The `Dispatcher` domain
//! (info, capabilities, endpoints) is registered here; other domains register
//! their handlers through the same [`Registry`].
//!
//! Invariants: this crate does no network or file I/O (callbacks leave through a
//! [`CallbackSink`] the server provides; accounts and regions come through a
//! [`Directory`]); a handler's failure or panic becomes a Failure reply and never
//! takes down the pipeline or a worker.

pub mod auth;
pub mod capabilities;
pub mod config;
pub mod context;
pub mod datagram;
pub mod directory;
pub mod domain;
pub mod endpoints;
pub mod events;
pub mod ipfilter;
pub mod pipeline;
pub mod pool;
pub mod registry;
pub mod stats;

pub use capabilities::{Capability, CapabilityStore};
pub use config::DispatcherConfig;
pub use context::{AuthUser, HandlerError, RequestContext, Services};
pub use directory::{Account, Directory, DirectoryError, SceneInfo};
pub use endpoints::{CallbackSink, EndpointRegistry};
pub use events::{EventBus, SceneEvent, Subscription};
/// The one helper for input in log lines (re-exported for the domain crates).
pub use dispatcher_guard::escape;
pub use pipeline::{Bindings, Dispatcher, Transport};
pub use registry::Registry;

/// The domain of the core's own messages; fixed, not configurable.
pub const DISPATCHER_DOMAIN: &str = "Dispatcher";
/// The capability domain that grants every domain.
pub const MASTER_DOMAIN: &str = "MASTER";
