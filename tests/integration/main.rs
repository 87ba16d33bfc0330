//! Integration tests: the real `dispatcher` binary, real sockets.
//!
//! One module per area; tests are named after the spec checklist row they pin
//! (`core_07_...` for dispatcher-core.md §15).

mod support;
mod webdriver;

mod authoring;
mod cli;
mod core;
mod dashboard;
mod extensions;
mod extensions_clients;
mod grid;
mod grid_forward;
mod hardening_decode;
mod live;
mod net;
mod oar;
mod rc_assets;
mod rc_objects;
mod reactor;
mod rest;
mod sandbox_compile;
mod sandbox_rights;
mod sandbox_runtime;
mod scripting;
mod scripting_grants;
