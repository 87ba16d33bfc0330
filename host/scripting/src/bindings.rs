//! The one `bindgen!` of this crate: host traits and guest exports of the
//! `region-script` world. Every import is trappable so that a host call can stop
//! a runaway script (`host-call-limit`); the WIT `error` variant maps to
//! [`HostError`](crate::error::HostError), which is either returned to the
//! guest or turned into a trap in `types::Host::convert_error`.

wasmtime::component::bindgen!({
    world: "region-script",
    path: "../../wit",
    imports: { default: trappable },
    trappable_error_type: {
        "opensim:dispatcher/types.error" => crate::error::HostError,
    },
});
