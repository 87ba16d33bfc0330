//! The one message path that HTTP, UDP and scripts share.
//!
//! [`Dispatcher::handle`] takes a request body from any transport and runs the
//! pipeline of dispatcher-core.md §4: decode, pre-authentication messages,
//! authorisation against a capability, handler lookup in the [`Registry`], then
//! either the asynchronous [`pool`] or the handler itself.
//! [`Dispatcher::call`] is the typed entry for callers inside the host (script
//! imports): the same steps from admission on, with the request and its reply
//! in their Rust types. The `Dispatcher` domain (info, capabilities, endpoints)
//! is registered here; other domains register their handlers through the same
//! [`Registry`].
//!
//! Modules, each using only those listed before it: [`fasthash`], [`error`], [`transport`],
//! [`config`], [`directory`], [`capabilities`], [`endpoints`], [`events`],
//! [`ipfilter`], [`pool`], [`stats`], [`auth`], [`services`], [`context`],
//! [`remote`], [`registry`], [`domain`], [`pipeline`], [`call`], [`datagram`], [`route`].
//!
//! Invariants: this crate does no network or file I/O (callbacks leave through a
//! [`CallbackSink`] the server provides; accounts and regions come through a
//! [`Directory`]); a handler's failure or panic becomes a Failure reply (or a
//! [`Failure`] of the typed entry) and never takes down the pipeline or a worker.

pub mod auth;
pub mod call;
pub mod capabilities;
pub mod config;
pub mod context;
pub mod datagram;
pub mod directory;
pub mod domain;
pub mod endpoints;
pub mod error;
pub mod events;
pub mod fasthash;
pub mod ipfilter;
pub mod pipeline;
pub mod pool;
pub mod registry;
pub mod remote;
pub mod route;
pub mod services;
pub mod stats;
pub mod transport;

pub use call::Caller;
pub use capabilities::{BackingError, Capability, CapabilityBacking, CapabilityCache, CapabilityStore, DISPATCHER_DOMAIN, MASTER_DOMAIN};
pub use config::DispatcherConfig;
pub use context::{AuthUser, RequestContext};
pub use directory::{Account, Directory, DirectoryError, SceneInfo};
/// The one helper for input in log lines (re-exported for the domain crates).
pub use dispatcher_guard::escape;
pub use endpoints::{CallbackSink, EndpointBacking, EndpointBackingError, EndpointCache, EndpointError, EndpointRegistry};
pub use error::{Failure, FailureKind, HandlerError};
pub use events::{EventBus, EventSink, SceneEvent, ScriptEvent, ScriptEventKind, Subscription};
pub use pipeline::Dispatcher;
pub use registry::Registry;
pub use remote::{RemoteOwner, RemoteScenes, Route, SceneHome};
pub use services::Services;
pub use transport::{Bindings, Transport};
