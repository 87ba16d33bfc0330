//! The host's configuration: INI file, then command-line flags on top.
//!
//! Every known key is listed once in [`apply`] with its parser; an unknown key
//! is a warning naming file, section and key; a bad value is an error naming the
//! same, and the host does not start.

use std::path::{Path, PathBuf};

use dispatcher_dispatch::config::normalise_http_path;
use dispatcher_dispatch::DispatcherConfig;

use crate::ini::{self, Entry, IniError};

/// `[RestPlugins]` and `[RestHandler]` (rest-inventory.md §2): owned by the REST crate.
pub use dispatcher_rest::RestConfig;

/// `[Grid]`: standalone or grid mode (docs/grid.md); owned by the grid crate.
pub use dispatcher_grid::GridConfig;

/// `[RemoteControl]`: owned by the RemoteControl crate.
pub use dispatcher_remote_control::RemoteControlConfig;

/// Transport limits of the HTTP listener.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpLimits {
    /// Connections served at once; further ones wait in the kernel's backlog.
    pub max_connections: usize,
    /// Time allowed to receive a request's headers.
    pub header_timeout_ms: u64,
    /// Time allowed to receive a request's body.
    pub body_timeout_ms: u64,
    /// Connections one source address may hold open at once; more are closed
    /// at once (IPv6 counted by /64).
    pub max_connections_per_address: usize,
    /// Once this share of `max_connections` is in use, the listener is under
    /// pressure: each new connection closes the oldest connection that has not
    /// delivered its first request's headers within `pressure_header_timeout_ms`.
    pub pressure_percent: u8,
    /// First-request header time under pressure.
    pub pressure_header_timeout_ms: u64,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_connections: 1024,
            header_timeout_ms: 10_000,
            body_timeout_ms: 30_000,
            max_connections_per_address: 256,
            pressure_percent: 90,
            pressure_header_timeout_ms: 200,
        }
    }
}

/// Everything the host reads from configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct HostConfig {
    pub http_port: u16,
    /// Address the listeners bind to (and advertise).
    pub listen_host: String,
    pub data_dir: PathBuf,
    pub dispatcher: DispatcherConfig,
    pub http: HttpLimits,
    pub max_body_bytes: usize,
    pub rest: RestConfig,
    /// `[Scripting]` limits (scripting.md §5); defaults live with the runtime.
    pub scripting: dispatcher_scripting::ScriptingLimits,
    /// `[Extensions]` limits (docs/extensions.md); defaults live with the runtime.
    pub extensions: dispatcher_scripting::ExtensionLimits,
    pub remote_control: RemoteControlConfig,
    /// `[Dispatcher] ShutdownTimeoutMs`: the longest a SIGTERM/SIGINT shutdown
    /// waits for listeners and script threads before the write-behind flush
    /// and exit, whatever the guests are doing.
    pub shutdown_timeout_ms: u64,
    /// `[OAR]` limits on region archives (docs/oar.md, docs/limits.md).
    pub oar: dispatcher_oar::OarLimits,
    /// `[Metrics]`: the Prometheus exposition (docs/live.md).
    pub metrics: MetricsConfig,
    /// `[Events]`: the WebSocket event stream (docs/live.md).
    pub events: crate::event_stream::EventsConfig,
    /// `[Grid]`: standalone (default) or grid mode (docs/grid.md).
    pub grid: GridConfig,
}

/// `[Metrics]`: where `/metrics` is served and who may read it.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsConfig {
    pub enabled: bool,
    /// `Path`: the HTTP path of the exposition.
    pub path: String,
    /// `BearerToken`: when set, a scrape must send `Authorization: Bearer <token>`.
    pub bearer_token: Option<String>,
    /// `PerScript`: script figures per script instead of per region.
    pub per_script: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            path: "/metrics".into(),
            bearer_token: None,
            per_script: false,
        }
    }
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            http_port: 9000,
            listen_host: "127.0.0.1".into(),
            data_dir: PathBuf::from("data"),
            dispatcher: DispatcherConfig::default(),
            http: HttpLimits::default(),
            max_body_bytes: dispatcher_protocol::DecodeLimits::default().max_body_bytes,
            rest: RestConfig::default(),
            scripting: dispatcher_scripting::ScriptingLimits::default(),
            extensions: dispatcher_scripting::ExtensionLimits::default(),
            remote_control: RemoteControlConfig::default(),
            shutdown_timeout_ms: 10_000,
            oar: dispatcher_oar::OarLimits::default(),
            metrics: MetricsConfig::default(),
            events: crate::event_stream::EventsConfig::default(),
            grid: GridConfig::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Ini(#[from] IniError),
    #[error("{file}: [{section}] {key} = {value:?}: {reason}")]
    BadValue {
        file: PathBuf,
        section: String,
        key: String,
        value: String,
        reason: String,
    },
    /// The `[Grid]` section is incomplete or inconsistent as a whole (the error names the key).
    #[error("{file}: {source}")]
    Grid {
        file: PathBuf,
        source: dispatcher_grid::GridConfigError,
    },
}

/// A configuration load: the values and the warnings to log.
#[derive(Debug)]
pub struct Loaded {
    pub config: HostConfig,
    pub warnings: Vec<String>,
}

fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

fn parse_num<T: std::str::FromStr>(v: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    v.parse::<T>().map_err(|e| format!("expected a number: {e}"))
}

fn positive<T: std::str::FromStr + PartialOrd + Default>(v: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    let n: T = parse_num(v)?;
    if n <= T::default() {
        return Err("must be greater than 0".into());
    }
    Ok(n)
}

/// Apply one entry; `Ok(false)` when the key is unknown.
fn apply(c: &mut HostConfig, section: &str, key: &str, v: &str) -> Result<bool, String> {
    let d = &mut c.dispatcher;
    let r = &mut c.rest;
    let s = &mut c.scripting;
    match (section.to_ascii_lowercase().as_str(), key.to_ascii_lowercase().as_str()) {
        ("network", "http_listener_port") => c.http_port = parse_num(v)?,
        ("network", "max_connections") => c.http.max_connections = positive(v)?,
        ("network", "header_timeout_ms") => c.http.header_timeout_ms = positive(v)?,
        ("network", "body_timeout_ms") => c.http.body_timeout_ms = positive(v)?,
        ("network", "max_body_bytes") => c.max_body_bytes = positive(v)?,
        ("storage", "datadir") => c.data_dir = PathBuf::from(v),
        ("dispatcher", "enabled") => d.enabled = parse_bool(v)?,
        ("dispatcher", "hostaddress") => {
            if v.is_empty() {
                return Err("must not be empty".into());
            }
            d.host_address = v.to_owned();
            c.listen_host = v.to_owned();
        }
        ("dispatcher", "udpport") => d.udp_port = parse_num(v)?,
        ("dispatcher", "httppath") => d.http_path = normalise_http_path(v),
        ("dispatcher", "maxasyncthreads") => d.max_async_threads = positive(v)?,
        ("dispatcher", "maxasyncqueue") => d.max_async_queue = positive(v)?,
        ("dispatcher", "maxinterpingtime") => d.max_inter_ping_time_ms = positive(v)?,
        ("dispatcher", "useipaddressfiltering") => d.use_ip_address_filtering = parse_bool(v)?,
        ("dispatcher", "acceptableipaddresspattern") => d.acceptable_ip_address_pattern = v.to_owned(),
        ("dispatcher", "useauthentication") => d.use_authentication = parse_bool(v)?,
        ("dispatcher", "grantestatemanagersaccess") => d.grant_estate_managers_access = parse_bool(v)?,
        ("dispatcher", "grantgridmanagersaccess") => d.grant_grid_managers_access = parse_bool(v)?,
        ("dispatcher", "gridmanageraccesslevel") => d.grid_manager_access_level = parse_num(v)?,
        ("dispatcher", "shutdowntimeoutms") => c.shutdown_timeout_ms = positive(v)?,
        ("dispatcher", "maxlifespan") => d.max_life_span_s = positive(v)?,
        ("dispatcher", "maxendpointlifespan") => d.max_end_point_life_span_ms = positive(v)?,
        ("dispatcher", "callbackdatagramspersecond") => d.callback_datagrams_per_second = positive(v)?,
        ("dispatcher", "callbackbytespersecond") => d.callback_bytes_per_second = positive(v)?,
        ("dispatcher", "callbackbytesperrequestbyte") => d.callback_bytes_per_request_byte = positive(v)?,
        ("network", "login_free_failures") => d.login.free_failures_per_account_address = parse_num(v)?,
        ("network", "login_free_failures_per_address") => d.login.free_failures_per_address = parse_num(v)?,
        ("network", "login_backoff_base_ms") => d.login.backoff_base_ms = positive(v)?,
        ("network", "login_backoff_max_ms") => d.login.backoff_max_ms = positive(v)?,
        ("network", "login_forget_after_s") => d.login.forget_after_s = positive(v)?,
        ("network", "login_attack_failures_per_minute") => d.login.attack_failures_per_minute = positive(v)?,
        ("network", "max_connections_per_address") => c.http.max_connections_per_address = positive(v)?,
        ("network", "pressure_header_timeout_ms") => c.http.pressure_header_timeout_ms = positive(v)?,
        ("network", "pressure_percent") => {
            let p: u8 = positive(v)?;
            if p > 100 {
                return Err("must be between 1 and 100".into());
            }
            c.http.pressure_percent = p;
        }
        ("restplugins", "enabled") => r.plugins_enabled = parse_bool(v)?,
        ("restplugins", "god_key") => r.god_key = v.to_owned(),
        ("restplugins", "prefix") => r.prefix = v.to_owned(),
        ("resthandler", "enabled") => r.handler_enabled = parse_bool(v)?,
        ("resthandler", "authenticate") => r.authenticate = parse_bool(v)?,
        ("resthandler", "auth-scheme") => {
            r.auth_scheme = match v.to_ascii_lowercase().as_str() {
                "basic" => "Basic".into(),
                "digest" => "Digest".into(),
                "any" => "Any".into(),
                _ => return Err("expected Basic, Digest or Any".into()),
            }
        }
        ("resthandler", "secured") => r.secured = parse_bool(v)?,
        ("resthandler", "extended-escape") => r.extended_escape = parse_bool(v)?,
        ("resthandler", "realm") => r.realm = v.to_owned(),
        ("resthandler", "dump-asset") => r.dump_asset = parse_bool(v)?,
        ("resthandler", "dump-line-size") => r.dump_line_size = positive(v)?,
        ("resthandler", "path-fill") => r.path_fill = parse_bool(v)?,
        ("resthandler", "flush-on-error") => r.flush_on_error = parse_bool(v)?,
        ("resthandler", "files-root") => r.files_root = (!v.is_empty()).then(|| PathBuf::from(v)),
        ("scripting", "maxscriptsperregion") => s.max_scripts_per_region = positive(v)?,
        ("scripting", "maxcomponentbytes") => s.max_component_bytes = positive(v)?,
        ("scripting", "memorylimitbytes") => s.memory_limit_bytes = positive(v)?,
        ("scripting", "eventcpubudgetms") => s.event_cpu_budget_ms = positive(v)?,
        ("scripting", "maxwasmstackbytes") => s.max_wasm_stack_bytes = positive(v)?,
        ("scripting", "eventqueuelength") => s.event_queue_length = positive(v)?,
        ("scripting", "mintimerintervalms") => s.min_timer_interval_ms = positive(v)?,
        ("scripting", "hostcallspersecond") => s.host_calls_per_second = positive(v)?,
        ("scripting", "storagequotabytes") => s.storage_quota_bytes = positive(v)?,
        ("scripting", "maxrestarts") => s.max_restarts = parse_num(v)?,
        ("scripting", "eventfuellimit") => s.event_fuel_limit = parse_num(v)?,
        ("scripting", "causedeventspersecond") => s.caused_events_per_second = positive(v)?,
        ("scripting", "assetcallspersecond") => s.asset_calls_per_second = positive(v)?,
        ("scripting", "maxcomponentfunctions") => s.max_component_functions = positive(v)?,
        ("scripting", "maxfunctionbodybytes") => s.max_function_body_bytes = positive(v)?,
        ("scripting", "maxconcurrentcompiles") => s.max_concurrent_compiles = positive(v)?,
        ("scripting", "compilequeuelength") => s.compile_queue_length = positive(v)?,
        ("scripting", "storagewritespersecond") => s.storage_writes_per_second = positive(v)?,
        ("extensions", "maxcomponentbytes") => c.extensions.max_component_bytes = positive(v)?,
        ("extensions", "memorylimitbytes") => c.extensions.memory_limit_bytes = positive(v)?,
        ("extensions", "requestcpubudgetms") => c.extensions.request_cpu_budget_ms = positive(v)?,
        ("extensions", "maxinstances") => c.extensions.max_instances = positive(v)?,
        ("extensions", "queuelength") => c.extensions.queue_length = parse_num(v)?,
        ("extensions", "storagequotabytes") => c.extensions.storage_quota_bytes = positive(v)?,
        ("extensions", "hostcallspersecond") => c.extensions.host_calls_per_second = positive(v)?,
        ("extensions", "maxrestarts") => c.extensions.max_restarts = parse_num(v)?,
        ("extensions", "maxextensionsperregion") => c.extensions.max_extensions_per_region = positive(v)?,
        ("extensions", "maxreplybytes") => c.extensions.max_reply_bytes = positive(v)?,
        ("oar", "maxarchivebytes") => c.oar.max_archive_bytes = positive(v)?,
        ("oar", "maxmembers") => c.oar.max_members = positive(v)?,
        ("oar", "maxmemberbytes") => c.oar.max_member_bytes = positive(v)?,
        ("metrics", "enabled") => c.metrics.enabled = parse_bool(v)?,
        ("metrics", "path") => {
            if !v.starts_with('/') || v.len() < 2 {
                return Err("must be an absolute path other than /".into());
            }
            c.metrics.path = v.to_owned();
        }
        ("metrics", "bearertoken") => c.metrics.bearer_token = (!v.is_empty()).then(|| v.to_owned()),
        ("metrics", "perscript") => c.metrics.per_script = parse_bool(v)?,
        ("events", "enabled") => c.events.enabled = parse_bool(v)?,
        ("events", "maxconnections") => c.events.max_connections = positive(v)?,
        ("events", "bufferevents") => c.events.buffer_events = positive(v)?,
        ("events", "pingintervalms") => c.events.ping_interval_ms = positive(v)?,
        ("events", "maxframebytes") => c.events.max_frame_bytes = positive(v)?,
        ("events", "subscribetimeoutms") => c.events.subscribe_timeout_ms = positive(v)?,
        ("events", "writetimeoutms") => c.events.write_timeout_ms = positive(v)?,
        ("remotecontrol", "enabled") => c.remote_control.enabled = parse_bool(v)?,
        ("remotecontrol", "domain") => {
            if v.is_empty() {
                return Err("must not be empty".into());
            }
            c.remote_control.domain = v.to_owned();
        }
        ("remotecontrol", "tickratehz") => {
            let hz: f64 = parse_num(v)?;
            if !hz.is_finite() || hz < 0.0 {
                return Err("must be 0 (no tick) or a positive rate".into());
            }
            c.remote_control.tick_rate_hz = hz;
        }
        ("grid", _) => return c.grid.set(key, v),
        _ => return Ok(false),
    }
    Ok(true)
}

/// Build the configuration from defaults and an optional file.
pub fn load(file: Option<&Path>) -> Result<Loaded, ConfigError> {
    let mut config = HostConfig::default();
    let mut warnings = Vec::new();
    if let Some(path) = file {
        let entries: Vec<Entry> = ini::read(path)?;
        for e in entries {
            match apply(&mut config, &e.section, &e.key, &e.value) {
                Ok(true) => {}
                Ok(false) => warnings.push(format!("{}:{}: unknown key [{}] {} ignored", path.display(), e.line, e.section, e.key)),
                Err(reason) => {
                    return Err(ConfigError::BadValue {
                        file: path.to_path_buf(),
                        section: e.section,
                        key: e.key,
                        value: e.value,
                        reason,
                    })
                }
            }
        }
        config.grid.validate().map_err(|source| ConfigError::Grid {
            file: path.to_path_buf(),
            source,
        })?;
    }
    Ok(Loaded { config, warnings })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Loaded, ConfigError> {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("d.ini");
        std::fs::write(&path, text).expect("write");
        load(Some(&path))
    }

    #[test]
    fn core_89_defaults_with_empty_section() {
        let loaded = load_text("[Dispatcher]\nEnabled = true\n").expect("load");
        let d = &loaded.config.dispatcher;
        assert_eq!(d.udp_port, 45325);
        assert_eq!(d.http_path, "/Dispatcher/");
        assert_eq!(d.max_life_span_s, 300);
        assert_eq!(d.max_inter_ping_time_ms, 3000);
        assert_eq!(d.max_async_threads, 2);
        assert!(d.use_authentication);
        assert!(d.grant_estate_managers_access);
        assert!(!d.grant_grid_managers_access);
        assert_eq!(loaded.config.http_port, 9000);
    }

    #[test]
    fn unknown_keys_warn_and_bad_values_fail_by_name() {
        let loaded = load_text("[dispatcher]\nmaxlifespan = 60\nBogus = 1\n").expect("load");
        assert_eq!(loaded.config.dispatcher.max_life_span_s, 60);
        assert_eq!(loaded.warnings.len(), 1);
        assert!(loaded.warnings[0].contains("[dispatcher] Bogus"), "{:?}", loaded.warnings);
        let err = load_text("[Dispatcher]\nUDPPort = many\n").expect_err("bad");
        let text = err.to_string();
        assert!(text.contains("[Dispatcher] UDPPort"), "{text}");
        assert!(load_text("[Dispatcher]\nUseAuthentication = yes\n").is_err());
        assert!(load_text("[Dispatcher]\nMaxLifeSpan = 0\n").is_err());
    }

    #[test]
    fn network_hardening_keys() {
        let loaded = load_text(
            "[Network]\nmax_connections_per_address = 8\npressure_percent = 75\npressure_header_timeout_ms = 150\n\
             login_free_failures = 2\nlogin_free_failures_per_address = 9\nlogin_backoff_base_ms = 10\n\
             login_backoff_max_ms = 100\nlogin_forget_after_s = 30\nlogin_attack_failures_per_minute = 50\n\
             [Dispatcher]\nMaxEndPointLifeSpan = 20000\nCallbackDatagramsPerSecond = 7\n\
             CallbackBytesPerSecond = 7000\nCallbackBytesPerRequestByte = 3\n",
        )
        .expect("load");
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let (h, d) = (&loaded.config.http, &loaded.config.dispatcher);
        assert_eq!((h.max_connections_per_address, h.pressure_percent, h.pressure_header_timeout_ms), (8, 75, 150));
        assert_eq!((d.login.free_failures_per_account_address, d.login.free_failures_per_address), (2, 9));
        assert_eq!((d.login.backoff_base_ms, d.login.backoff_max_ms, d.login.forget_after_s), (10, 100, 30));
        assert_eq!(d.login.attack_failures_per_minute, 50);
        assert_eq!(d.max_end_point_life_span_ms, 20_000);
        assert_eq!(
            (d.callback_datagrams_per_second, d.callback_bytes_per_second, d.callback_bytes_per_request_byte),
            (7, 7000, 3)
        );
        assert!(load_text("[Network]\npressure_percent = 101\n").is_err());
        assert!(load_text("[Dispatcher]\nCallbackBytesPerRequestByte = 0\n").is_err());
    }

    #[test]
    fn oar_limits_are_read_and_checked() {
        let loaded = load_text("[OAR]\nMaxArchiveBytes = 1000\nMaxMembers = 7\nMaxMemberBytes = 500\n").expect("load");
        assert_eq!(loaded.config.oar.max_archive_bytes, 1000);
        assert_eq!(loaded.config.oar.max_members, 7);
        assert_eq!(loaded.config.oar.max_member_bytes, 500);
        assert!(load_text("[OAR]\nMaxMembers = 0\n").is_err());
    }

    #[test]
    fn core_07_path_is_normalised() {
        let loaded = load_text("[Dispatcher]\nHTTPPath = Dispatcher\n").expect("load");
        assert_eq!(loaded.config.dispatcher.http_path, "/Dispatcher/");
    }

    #[test]
    fn scripting_keys_reach_the_runtime_limits() {
        let loaded =
            load_text("[Scripting]\nEventCpuBudgetMs = 20\neventfuellimit = 5000000\nMaxComponentBytes = 33554432\n").expect("load");
        let s = &loaded.config.scripting;
        assert_eq!((s.event_cpu_budget_ms, s.event_fuel_limit, s.max_component_bytes), (20, 5_000_000, 32 << 20));
        let loaded = load_text("[Scripting]\nMaxComponentFunctions = 5000\nmaxfunctionbodybytes = 4096\nMaxConcurrentCompiles = 2\nCompileQueueLength = 8\nStorageWritesPerSecond = 20\n").expect("load");
        let s = &loaded.config.scripting;
        assert_eq!(
            (
                s.max_component_functions,
                s.max_function_body_bytes,
                s.max_concurrent_compiles,
                s.compile_queue_length,
                s.storage_writes_per_second
            ),
            (5000, 4096, 2, 8, 20)
        );
        assert!(load_text("[Scripting]\nCompileQueueLength = 0\n").is_err());
        let Err(e) = load_text("[Scripting]\nEventFuelLimit = lots\n") else {
            panic!("accepted a bad value")
        };
        assert!(e.to_string().contains("EventFuelLimit"), "{e}");
    }

    #[test]
    fn sandbox_keys_reach_the_host_and_runtime() {
        let text = "[Dispatcher]\nshutdowntimeoutms = 2500\n[Scripting]\nCausedEventsPerSecond = 7\nAssetCallsPerSecond = 8\nStorageWritesPerSecond = 9\n";
        let loaded = load_text(text).expect("load");
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let c = &loaded.config;
        let s = &c.scripting;
        assert_eq!(c.shutdown_timeout_ms, 2500);
        assert_eq!((s.caused_events_per_second, s.asset_calls_per_second, s.storage_writes_per_second), (7, 8, 9));
        assert_eq!(HostConfig::default().shutdown_timeout_ms, 10_000);
        let Err(e) = load_text("[Dispatcher]\nShutdownTimeoutMs = 0\n") else { panic!("accepted zero") };
        assert!(e.to_string().contains("ShutdownTimeoutMs"), "{e}");
    }

    #[test]
    fn grid_section_is_read_and_checked_by_key() {
        let loaded = load_text("[Grid]\nMode = standalone\nLeaseSeconds = 4\n").expect("load");
        assert!(!loaded.config.grid.is_grid());
        assert_eq!(loaded.config.grid.lease_seconds, 4);
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        assert_eq!(HostConfig::default().grid.lease_seconds, 10);
        let full = "[Grid]\nMode = grid\nDatabaseUrl = postgresql://d:pw@db:5432/d\nHostName = sim-a\n\
                    AdvertiseUrl = http://10.0.0.5:9000\nSecret = 0123456789abcdef\nMaxRegions = 3\n\
                    PreferredRegions = Harbor Island, Test Region\n";
        let g = load_text(full).expect("grid").config.grid;
        assert!(g.is_grid());
        assert_eq!((g.max_regions, g.preferred_regions.len()), (3, 2));
        for (bad, key) in [
            ("LeaseSeconds = 1", "LeaseSeconds"),
            ("Mode = cluster", "Mode"),
            ("DatabaseUrl = mysql://x", "DatabaseUrl"),
        ] {
            let Err(e) = load_text(&format!("[Grid]\n{bad}\n")) else { panic!("accepted {bad}") };
            let text = e.to_string();
            assert!(text.contains("d.ini") && text.contains(&format!("[Grid] {key}")), "{text}");
        }
        for key in ["DatabaseUrl", "HostName", "AdvertiseUrl", "Secret"] {
            let text: String = full.lines().filter(|l| !l.starts_with(key)).map(|l| format!("{l}\n")).collect();
            let Err(e) = load_text(&text) else { panic!("grid mode without {key} accepted") };
            assert!(e.to_string().contains(&format!("[Grid] {key} must be set")), "{e}");
        }
    }
}
