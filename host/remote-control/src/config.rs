//! The domain's configuration (`[RemoteControl]`) and limits.

/// The domain name requests carry in `_Domain` unless configured otherwise.
pub const DEFAULT_DOMAIN: &str = "RemoteControl";

/// `[RemoteControl]` section of the host configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteControlConfig {
    /// Whether the domain's handlers are registered at all.
    pub enabled: bool,
    /// `_Domain` of every RemoteControl request (§2.2).
    pub domain: String,
    /// Dynamics tick rate, per second. 0 disables the tick.
    pub tick_rate_hz: f64,
}

impl Default for RemoteControlConfig {
    fn default() -> Self {
        RemoteControlConfig {
            enabled: true,
            domain: DEFAULT_DOMAIN.to_string(),
            tick_rate_hz: 20.0,
        }
    }
}

/// Caps of the domain's own requests (scene caps are in `SceneLimits`).
/// Defaults are documented in docs/limits.md.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteControlLimits {
    /// Entries of one `BulkDynamics` request. Default 10 000: a full region's
    /// worth of moving objects per frame, still a bounded amount of work per lock.
    pub max_bulk_dynamics_entries: usize,
    /// Entries of one `CreateBulkObjects` request. Default 1 000: every entry
    /// parses an asset, so the batch must stay small enough to hold the lock briefly.
    pub max_bulk_create_entries: usize,
    /// Ids of one `DeleteBulkObjects` request. Default 15 000 (a full region).
    pub max_bulk_delete_entries: usize,
    /// Ids of one `RegisterUpdatedCallback` / `UnregisterUpdatedCallback`. Default 15 000.
    pub max_updated_ids_per_request: usize,
    /// Touch plus updated registrations held by one region. Default 100 000, so
    /// a client cannot grow the callback tables without bound.
    pub max_registrations_per_region: usize,
    /// Bytes of a `FindObjects` pattern. Default 1 024; the compiled regex is
    /// additionally capped by `max_pattern_compiled_bytes`.
    pub max_pattern_bytes: usize,
    /// Compiled size of a `FindObjects` regex, in bytes. Default 1 MiB.
    pub max_pattern_compiled_bytes: usize,
    /// Bytes of a `MessageObject` message. Default 64 KiB.
    pub max_message_bytes: usize,
    /// Region archives (`ImportOarRequest`), from `[OAR]`.
    pub oar: dispatcher_oar::OarLimits,
}

impl Default for RemoteControlLimits {
    fn default() -> Self {
        RemoteControlLimits {
            max_bulk_dynamics_entries: 10_000,
            max_bulk_create_entries: 1_000,
            max_bulk_delete_entries: 15_000,
            max_updated_ids_per_request: 15_000,
            max_registrations_per_region: 100_000,
            max_pattern_bytes: 1_024,
            max_pattern_compiled_bytes: 1024 * 1024,
            max_message_bytes: 64 * 1024,
            oar: dispatcher_oar::OarLimits::default(),
        }
    }
}
