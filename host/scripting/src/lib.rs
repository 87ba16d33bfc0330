//! WebAssembly scripts in regions (scripting spec): the wasmtime engine and its
//! compiled-code cache, the one `bindgen!` ([`bindings`]), one module per WIT
//! interface ([`host`]), grants, limits, the runner pool, fault classification,
//! and the `Scripting` message domain.
//!
//! Invariants: every import that acts on the region is a protocol request
//! through `Dispatcher::handle` with `Transport::Script` and the script's own
//! internal capability, so a script can do nothing a client with the same
//! rights could not; a call outside the grants returns `not-permitted`, never a
//! trap; a misbehaving script is stopped with a named fault and never stalls
//! other scripts or the host. This crate opens no sockets and no files except
//! its compiled-code cache.

mod bindings;
mod call;
mod compile_pool;
mod cpu_clock;
pub mod domain;
mod engine;
pub mod error;
pub mod extension;
mod fault;
pub mod grants;
mod host;
mod instance;
mod lifecycle;
pub mod limits;
/// The `Scripting` domain messages (they live in `dispatcher-messages`).
pub use dispatcher_messages::scripting as messages;
mod reactor;
mod router;
mod run_queue;
mod runner;
pub mod runtime;
pub mod scene;
mod scheduler;
pub mod scope;
pub mod script;
mod stdio;
mod stop;
pub mod storage_cache;
mod table;
mod wait;
mod wasi_offload;

pub use engine::{check_component, sha256_hex, ALLOWED_IMPORT_PREFIXES, HANDLERS_EXPORT};
pub use error::{Fault, ScriptingError};
pub use extension::{ExtensionHost, ExtensionLimits};
pub use limits::ScriptingLimits;
pub use runtime::{ScriptHost, ScriptRegions};
pub use scene::{MessagePathScene, ObjectFacts, SceneHooks, ScriptItem};
