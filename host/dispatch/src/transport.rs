//! Where a request came from, and the bindings the transports advertise.

/// Where a request came from. UDP and script requests differ from HTTP in the
/// ways the spec lists: no path domain, forced asynchronous processing for UDP,
/// and no reply for UDP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    /// HTTP POST; `path_domain` is the default `_Domain` taken from the URL.
    Http { path_domain: String },
    /// One UDP datagram: always asynchronous, never answered.
    Udp,
    /// A call from a WebAssembly script running in the host.
    Script,
}

/// The advertised bindings, known once the listeners are bound.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bindings {
    /// `host:udpport`
    pub asynchronous: String,
    /// `http://host:port/Dispatcher/`
    pub synchronous: String,
}
