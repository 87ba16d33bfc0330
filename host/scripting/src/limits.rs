//! Every limit of the scripting runtime, one named field each, unit in the name.
//! The first ten come from the `[Scripting]` configuration section (scripting
//! spec §5); the rest are host constants documented in docs/scripting.md.

/// Fuel given to an event when no fuel limit is set (wasmtime keeps fuel in an
/// i64; this is far beyond what 50 ms, or hours, of execution can burn).
pub const UNLIMITED_FUEL: u64 = 1 << 62;

/// Period of the engine's epoch ticker: the granularity of the CPU budget.
pub const EPOCH_TICK: std::time::Duration = std::time::Duration::from_millis(1);

/// Longest time between two looks at an event's interrupt flag and budget, in
/// epoch ticks (and the longest slice of a blocking WASI wait): stop, remove,
/// reset and shutdown interrupt a running event within about this long.
pub const INTERRUPT_CHECK_TICKS: u64 = 5;

/// The limits a host applies to every script.
#[derive(Clone, Debug, PartialEq)]
pub struct ScriptingLimits {
    pub max_scripts_per_region: usize,
    pub max_component_bytes: usize,
    /// All memories and tables of one instance together.
    pub memory_limit_bytes: usize,
    /// Wasm execution per event (wall time in wasm, host calls excluded),
    /// enforced with an epoch deadline: `timeout`.
    pub event_cpu_budget_ms: u64,
    pub max_wasm_stack_bytes: usize,
    pub event_queue_length: usize,
    pub min_timer_interval_ms: u32,
    pub host_calls_per_second: u32,
    pub storage_quota_bytes: usize,
    pub max_restarts: u32,
    /// Functions a component may define or lift/lower, counted over every
    /// nested core module and component before anything is compiled: the
    /// compiler's time and memory grow with it (`MaxComponentFunctions`).
    pub max_component_functions: usize,
    /// Largest body of one core function (`MaxFunctionBodyBytes`): one huge
    /// function is as costly to compile as many small ones.
    pub max_function_body_bytes: usize,
    /// Compiles that run at once, on the compile pool's threads, off the
    /// request path (`MaxConcurrentCompiles`).
    pub max_concurrent_compiles: usize,
    /// Uploads that may wait for a compile thread; one more is refused with
    /// a Failure (`CompileQueueLength`).
    pub compile_queue_length: usize,
    /// Storage writes (set and delete) one script may make per second
    /// (`StorageWritesPerSecond`); beyond, `rate-limited`. Each write is a
    /// committed transaction, so this bounds a script's disk I/O (and
    /// its time is charged to the event's budget).
    pub storage_writes_per_second: u32,
    /// Fuel (about one unit per wasm operator) one event may burn before it is
    /// stopped with `out-of-fuel`; 0 = no fuel limit, fuel is only counted
    /// (`FuelConsumed`). A deterministic bound for operators who want one on
    /// top of the time budget.
    pub event_fuel_limit: u64,
    /// Rejected host calls (over the rate) tolerated within one event before the
    /// script is stopped with `host-call-limit`: a script that ignores
    /// `rate-limited` and keeps calling would otherwise hold a runner for ever.
    pub max_rejected_calls_per_event: u32,
    /// Chat lines per second per script (a stricter rate than host calls: each
    /// line fans out to every listener).
    pub chat_lines_per_second: u32,
    /// Channels one script may listen to (`too-large` beyond).
    pub max_listen_channels: usize,
    /// Lines kept in each script's log ring buffer.
    pub log_ring_lines: usize,
    /// Longer log lines are cut (bytes, at a character boundary).
    pub max_log_line_bytes: usize,
    /// Largest request `messages.send` accepts, and largest reply returned.
    pub max_message_bytes: usize,
    /// Largest storage key.
    pub max_storage_key_bytes: usize,
    /// First restart delay after a fault; doubled per further restart.
    pub restart_backoff_base_ms: u64,
    /// Events one runner handles for a script before it moves to the next script.
    pub events_per_turn: usize,
    /// Runner threads shared by all scripts.
    pub runner_threads: usize,
    /// Component instances the pooling allocator reserves room for.
    pub pool_instances: u32,
    /// Events a script may cause per second in other scripts or itself:
    /// messages to objects, touches, chat lines (each sent request counts
    /// once, whatever it fans out to). Over it the call is `rate-limited`, so
    /// two scripts messaging each other slow to this rate and then stop with
    /// `host-call-limit` if they ignore the refusals.
    pub caused_events_per_second: u32,
    /// Asset reads and writes per second per script (`assets.*`, and the
    /// asset requests through `messages.send`): each may copy megabytes.
    pub asset_calls_per_second: u32,
}

impl Default for ScriptingLimits {
    fn default() -> Self {
        ScriptingLimits {
            max_scripts_per_region: 10_000,
            // Every template's component fits (componentize-py's is 18.4 MB);
            // docs/limits.md has the measured sizes.
            max_component_bytes: 24 * 1024 * 1024,
            memory_limit_bytes: 16 * 1024 * 1024,
            event_cpu_budget_ms: 50,
            max_wasm_stack_bytes: 512 * 1024,
            event_queue_length: 64,
            min_timer_interval_ms: 100,
            host_calls_per_second: 10_000,
            storage_quota_bytes: 1024 * 1024,
            max_restarts: 3,
            max_component_functions: 20_000,
            max_function_body_bytes: 1024 * 1024,
            max_concurrent_compiles: 1,
            compile_queue_length: 4,
            storage_writes_per_second: 100,
            event_fuel_limit: 0,
            max_rejected_calls_per_event: 1_000,
            chat_lines_per_second: 100,
            max_listen_channels: 64,
            log_ring_lines: 512,
            max_log_line_bytes: 1024,
            max_message_bytes: 1024 * 1024,
            max_storage_key_bytes: 256,
            restart_backoff_base_ms: 100,
            events_per_turn: 8,
            runner_threads: 2,
            pool_instances: 2_000,
            caused_events_per_second: 20,
            asset_calls_per_second: 20,
        }
    }
}

impl ScriptingLimits {
    /// Fuel granted for one event: the limit, or (no limit) more than any
    /// event can burn within its time budget.
    pub fn event_fuel(&self) -> u64 {
        if self.event_fuel_limit == 0 {
            UNLIMITED_FUEL
        } else {
            self.event_fuel_limit
        }
    }
}
