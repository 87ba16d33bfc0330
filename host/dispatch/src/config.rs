//! The `[Dispatcher]` directives (dispatcher-core.md §10.1) with their defaults.

/// Settings of the message path. Parsing from the INI file is the server's job.
#[derive(Clone, Debug, PartialEq)]
pub struct DispatcherConfig {
    pub enabled: bool,
    /// Advertised host part of both bindings.
    pub host_address: String,
    pub udp_port: u16,
    /// Normalised to start and end with `/`.
    pub http_path: String,
    /// Workers that drain the asynchronous queue.
    pub max_async_threads: usize,
    /// Requests waiting in the asynchronous queue before new ones are refused.
    pub max_async_queue: usize,
    /// Milliseconds; the minimum endpoint lifespan, and ×¼ the sweep period.
    pub max_inter_ping_time_ms: u64,
    pub use_ip_address_filtering: bool,
    pub acceptable_ip_address_pattern: String,
    pub use_authentication: bool,
    pub grant_estate_managers_access: bool,
    pub grant_grid_managers_access: bool,
    pub grid_manager_access_level: i32,
    /// Seconds; upper clamp for capability lifespans requested over the wire.
    pub max_life_span_s: i32,
    /// Milliseconds; upper clamp for endpoint lifespans (ours; the original
    /// accepted any int32).
    pub max_end_point_life_span_ms: u64,
    /// Callback datagrams per second one endpoint may receive; more are dropped
    /// and counted.
    pub callback_datagrams_per_second: u32,
    /// Callback bytes per second one endpoint may receive.
    pub callback_bytes_per_second: u64,
    /// Callback bytes one request may cause, per byte of that request: no
    /// endpoint is verified (the original clients answer no handshake), so a
    /// request can never make the host send much more than it received.
    pub callback_bytes_per_request_byte: u32,
    /// Login throttling for CreateCapability (and, through the server, REST).
    pub login: dispatcher_guard::LoginThrottleConfig,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        DispatcherConfig {
            enabled: true,
            host_address: "127.0.0.1".into(),
            udp_port: 45325,
            http_path: "/Dispatcher/".into(),
            max_async_threads: 2,
            max_async_queue: 10_000,
            max_inter_ping_time_ms: 3000,
            use_ip_address_filtering: false,
            acceptable_ip_address_pattern: String::new(),
            use_authentication: true,
            grant_estate_managers_access: true,
            grant_grid_managers_access: false,
            grid_manager_access_level: 256,
            max_life_span_s: 300,
            max_end_point_life_span_ms: 300_000,
            callback_datagrams_per_second: 500,
            callback_bytes_per_second: 256 * 1024,
            callback_bytes_per_request_byte: 32,
            login: dispatcher_guard::LoginThrottleConfig::default(),
        }
    }
}

/// Add a leading and a trailing `/` if missing, as the original did at start-up.
pub fn normalise_http_path(path: &str) -> String {
    let mut p = path.trim().to_owned();
    if !p.starts_with('/') {
        p.insert(0, '/');
    }
    if !p.ends_with('/') {
        p.push('/');
    }
    p
}

impl DispatcherConfig {
    /// Endpoint sweep period: a quarter of MaxInterPingTime, at least 1 ms (quirk Q39).
    pub fn sweep_period_ms(&self) -> u64 {
        (self.max_inter_ping_time_ms / 4).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised() {
        assert_eq!(normalise_http_path("Dispatcher"), "/Dispatcher/");
        assert_eq!(normalise_http_path("/Dispatcher"), "/Dispatcher/");
        assert_eq!(normalise_http_path("/Dispatcher/"), "/Dispatcher/");
    }
}
