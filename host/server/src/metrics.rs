//! `GET /metrics`: the Prometheus text exposition (docs/live.md), encoded by
//! `prometheus-client` from one collector that reads the host's own counters
//! at scrape time (request statistics, callback counters, script counters,
//! region scenes, `/proc/self`), so the request path counts nothing twice.
//!
//! Label cardinality is bounded: message types and domains are registered
//! handlers' (anything else is `unknown`), transports and results are closed
//! sets, regions are the host's, scripts appear as labels only with
//! `[Metrics] PerScript = true`.

use std::collections::BTreeMap;
use std::fmt::Error as FmtError;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use dispatcher_dispatch::stats::LATENCY_BUCKETS;
use dispatcher_dispatch::Dispatcher;
use dispatcher_store::COMMIT_BUCKETS;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

/// What the collector reads.
pub struct MetricsSource {
    pub dispatcher: Dispatcher,
    pub remote_control: Option<Arc<dispatcher_remote_control::RemoteControl>>,
    pub scripts: Arc<dispatcher_scripting::ScriptHost>,
    /// The database file (its `-wal` beside it is counted too).
    pub database: PathBuf,
    /// The store: its commit latency histogram.
    pub store: Arc<dispatcher_store::Store>,
    pub started: Instant,
    pub per_script: bool,
    /// The event streams' counters.
    pub streams: Arc<crate::event_stream::StreamCounters>,
    /// The HTTP listener's connection counters.
    pub connections: Arc<ConnectionCounters>,
}

impl std::fmt::Debug for MetricsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsSource")
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

/// What the listener counts of its connections (docs/live.md).
#[derive(Debug, Default)]
pub struct ConnectionCounters {
    /// Connections being served (an upgraded event stream is counted by the
    /// stream, not here, once its HTTP exchange is over).
    pub open: AtomicU64,
    /// Connections given a slot.
    pub accepted: AtomicU64,
    /// Connections refused over the per-address cap.
    pub refused: AtomicU64,
    /// Connections closed without their first request's headers: past the
    /// header deadline, or evicted under pressure.
    pub header_timeouts: AtomicU64,
    /// Connections that ended in an error other than the header deadline:
    /// the client left mid-request (an upgrade dropped mid-handshake) or
    /// sent what HTTP cannot read.
    pub broken: AtomicU64,
}

/// The exposition: a registry holding the one collector.
pub struct Metrics {
    registry: Registry,
}

impl Metrics {
    pub fn new(source: MetricsSource) -> Self {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(source));
        Metrics { registry }
    }

    /// The whole exposition in the text format (OpenMetrics-compatible,
    /// ending with `# EOF`).
    pub fn scrape(&self) -> Result<String, FmtError> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// Encode one metric without labels.
fn single(encoder: &mut DescriptorEncoder, name: &str, help: &str, metric: impl EncodeMetric) -> Result<(), FmtError> {
    let kind = metric.metric_type();
    metric.encode(encoder.encode_descriptor(name, help, None, kind)?)
}

/// Encode one metric family: `(labels, value)` rows.
fn family<L: prometheus_client::encoding::EncodeLabelSet, M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    rows: impl IntoIterator<Item = (L, M)>,
) -> Result<(), FmtError> {
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, value) in rows {
        value.encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

fn counter(v: u64) -> ConstCounter<u64> {
    ConstCounter::new(v)
}

fn gauge(v: f64) -> ConstGauge<f64> {
    ConstGauge::new(v)
}

fn gauge_i(v: usize) -> ConstGauge<i64> {
    ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX))
}

/// Script figures summed per region (or per script).
#[derive(Default)]
struct ScriptSums {
    events_handled: u64,
    events_dropped: u64,
    cpu_micros: u64,
    memory_bytes: u64,
    denied_calls: u64,
    rate_limited_calls: u64,
}

impl Collector for MetricsSource {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), FmtError> {
        self.encode_requests(&mut e)?;
        self.encode_dispatch(&mut e)?;
        self.encode_regions(&mut e)?;
        self.encode_scripts(&mut e)?;
        self.encode_streams(&mut e)?;
        self.encode_store_and_process(&mut e)
    }
}

impl MetricsSource {
    fn encode_requests(&self, e: &mut DescriptorEncoder) -> Result<(), FmtError> {
        let stats = &self.dispatcher.services().stats;
        let rows = stats.requests().into_iter().map(|(k, n)| {
            let labels = [
                ("domain", k.domain),
                ("type", k.type_name.rsplit('.').next().unwrap_or(k.type_name)),
                ("transport", k.transport),
                ("result", k.outcome.as_str()),
            ];
            (labels, counter(n))
        });
        family(
            e,
            "dispatcher_requests",
            "Requests by domain, message type, transport and result (async: queued; its run is counted again as success or failure).",
            MetricType::Counter,
            rows,
        )?;
        let mut metric = e.encode_descriptor(
            "dispatcher_request_duration_seconds",
            "Request latency by domain, from arrival to reply (queued requests: to the end of their run).",
            None,
            MetricType::Histogram,
        )?;
        for (domain, h) in stats.latency() {
            let labels = [("domain", domain)];
            let mut buckets: Vec<(f64, u64)> = LATENCY_BUCKETS.iter().copied().zip(h.buckets.iter().copied()).collect();
            buckets.push((f64::INFINITY, h.buckets[LATENCY_BUCKETS.len()]));
            metric
                .encode_family(&labels)?
                .encode_histogram::<NoLabelSet>(h.sum_seconds, h.count, &buckets, None)?;
        }
        Ok(())
    }

    fn encode_dispatch(&self, e: &mut DescriptorEncoder) -> Result<(), FmtError> {
        let s = self.dispatcher.services();
        single(e, "dispatcher_capabilities", "Capabilities live.", gauge_i(s.capabilities.len()))?;
        single(e, "dispatcher_endpoints", "Callback endpoints live.", gauge_i(s.endpoints.len()))?;
        single(e, "dispatcher_async_queue_depth", "Asynchronous requests waiting to run.", gauge_i(s.pool.depth()))?;
        let c = &s.endpoints.counters;
        single(
            e,
            "dispatcher_callbacks_sent",
            "Callback datagrams sent.",
            counter(c.sent_datagrams.load(Ordering::Relaxed)),
        )?;
        single(
            e,
            "dispatcher_callbacks_sent_bytes",
            "Callback bytes sent.",
            counter(c.sent_bytes.load(Ordering::Relaxed)),
        )?;
        family(
            e,
            "dispatcher_callbacks_dropped",
            "Callbacks dropped, by reason (endpoint rate, request byte budget).",
            MetricType::Counter,
            [
                ([("reason", "rate")], counter(c.dropped_rate.load(Ordering::Relaxed))),
                ([("reason", "request_budget")], counter(c.dropped_request_budget.load(Ordering::Relaxed))),
            ],
        )
    }

    fn encode_regions(&self, e: &mut DescriptorEncoder) -> Result<(), FmtError> {
        let Some(rc) = &self.remote_control else { return Ok(()) };
        let mut objects = Vec::new();
        let mut moving = Vec::new();
        let mut tick = Vec::new();
        for host in rc.regions() {
            let region = host.region.read();
            let name = host.name.clone();
            let moving_count = region
                .objects()
                .filter(|o| o.velocity() != dispatcher_scene::Vector3::ZERO || o.acceleration() != dispatcher_scene::Vector3::ZERO)
                .count();
            objects.push(([("region", name.clone())], gauge_i(region.object_count())));
            moving.push(([("region", name.clone())], gauge_i(moving_count)));
            let micros = host.last_tick_micros.load(Ordering::Relaxed);
            tick.push(([("region", name)], gauge(micros as f64 / 1e6)));
        }
        family(e, "dispatcher_region_objects", "Objects in the region.", MetricType::Gauge, objects)?;
        family(
            e,
            "dispatcher_region_moving_objects",
            "Objects with a velocity or acceleration.",
            MetricType::Gauge,
            moving,
        )?;
        family(
            e,
            "dispatcher_region_tick_seconds",
            "Duration of the region's last integration step.",
            MetricType::Gauge,
            tick,
        )
    }

    fn encode_scripts(&self, e: &mut DescriptorEncoder) -> Result<(), FmtError> {
        let scripts = self.scripts.shared.scripts();
        let mut by_state: BTreeMap<(String, &'static str), usize> = BTreeMap::new();
        let mut faults: BTreeMap<(String, &'static str), usize> = BTreeMap::new();
        // Keyed by region, or by (region, script) with PerScript.
        let mut sums: BTreeMap<(String, String), ScriptSums> = BTreeMap::new();
        for script in &scripts {
            let region = script.info().region.clone();
            {
                let control = script.control.lock();
                if control.removed {
                    continue;
                }
                *by_state.entry((region.clone(), control.state.as_str())).or_default() += 1;
                if let Some(fault) = control.fault {
                    *faults.entry((region.clone(), fault.as_str())).or_default() += 1;
                }
            }
            let key = if self.per_script { (region, script.info().id.to_string()) } else { (region, String::new()) };
            let s = sums.entry(key).or_default();
            let c = &script.counters;
            s.events_handled += c.events_handled.load(Ordering::Relaxed);
            s.events_dropped += c.events_dropped.load(Ordering::Relaxed);
            s.cpu_micros += c.cpu_micros.load(Ordering::Relaxed);
            s.memory_bytes += c.memory_bytes.load(Ordering::Relaxed);
            s.denied_calls += c.denied_calls.load(Ordering::Relaxed);
            s.rate_limited_calls += c.rate_limited_calls.load(Ordering::Relaxed);
        }
        family(
            e,
            "dispatcher_scripts",
            "Scripts by region and state.",
            MetricType::Gauge,
            by_state
                .into_iter()
                .map(|((r, s), n)| ([("region", r), ("state", s.to_owned())], gauge_i(n))),
        )?;
        family(
            e,
            "dispatcher_scripts_faulted",
            "Scripts stopped by a fault, by region and fault reason.",
            MetricType::Gauge,
            faults
                .into_iter()
                .map(|((r, f), n)| ([("region", r), ("reason", f.to_owned())], gauge_i(n))),
        )?;
        let labels = |(region, script): &(String, String)| {
            let mut l = vec![("region", region.clone())];
            if !script.is_empty() {
                l.push(("script", script.clone()));
            }
            l
        };
        type Pick = fn(&ScriptSums) -> u64;
        let counters: [(&str, &str, Pick); 5] = [
            ("dispatcher_script_events_handled", "Script events handled.", |s| s.events_handled),
            ("dispatcher_script_events_dropped", "Script events dropped for a full queue.", |s| s.events_dropped),
            ("dispatcher_script_host_calls_denied", "Script host calls refused by grants or scope.", |s| {
                s.denied_calls
            }),
            ("dispatcher_script_host_calls_rate_limited", "Script host calls refused by a rate.", |s| {
                s.rate_limited_calls
            }),
            (
                "dispatcher_script_cpu_microseconds",
                "Script CPU time (guest code and charged waits), in microseconds.",
                |s| s.cpu_micros,
            ),
        ];
        for (name, help, pick) in counters {
            family(e, name, help, MetricType::Counter, sums.iter().map(|(k, s)| (labels(k), counter(pick(s)))))?;
        }
        family(
            e,
            "dispatcher_script_memory_bytes",
            "Linear memory of live script instances.",
            MetricType::Gauge,
            sums.iter().map(|(k, s)| (labels(k), gauge(s.memory_bytes as f64))),
        )
    }

    fn encode_streams(&self, e: &mut DescriptorEncoder) -> Result<(), FmtError> {
        let h = &self.connections;
        single(
            e,
            "dispatcher_http_connections",
            "HTTP connections being served (an upgraded event stream counts as a stream instead).",
            gauge(h.open.load(Ordering::Relaxed) as f64),
        )?;
        single(
            e,
            "dispatcher_http_connections_accepted",
            "HTTP connections given a slot.",
            counter(h.accepted.load(Ordering::Relaxed)),
        )?;
        single(
            e,
            "dispatcher_http_connections_refused",
            "HTTP connections refused over the per-address cap.",
            counter(h.refused.load(Ordering::Relaxed)),
        )?;
        single(
            e,
            "dispatcher_http_connections_header_timeouts",
            "HTTP connections closed without their first request's headers (deadline, or evicted under pressure).",
            counter(h.header_timeouts.load(Ordering::Relaxed)),
        )?;
        single(
            e,
            "dispatcher_http_connections_broken",
            "HTTP connections ended in an error: the client left mid-request (or mid-handshake) or sent what HTTP cannot read.",
            counter(h.broken.load(Ordering::Relaxed)),
        )?;
        let c = &self.streams;
        let open = c.open.load(Ordering::Relaxed) as usize;
        single(e, "dispatcher_event_streams", "Event-stream connections open (or being refused).", gauge_i(open))?;
        single(
            e,
            "dispatcher_event_streams_opened",
            "Event-stream connections accepted.",
            counter(c.opened.load(Ordering::Relaxed)),
        )?;
        single(
            e,
            "dispatcher_event_stream_frames_sent",
            "Event-stream frames sent.",
            counter(c.frames_sent.load(Ordering::Relaxed)),
        )?;
        single(
            e,
            "dispatcher_event_stream_events_dropped",
            "Events dropped for slow event-stream readers (each reported in a frame's Dropped).",
            counter(c.dropped.load(Ordering::Relaxed)),
        )?;
        single(
            e,
            "dispatcher_event_stream_positions_coalesced",
            "Position updates replaced by a later one before a slow reader took them.",
            counter(c.coalesced.load(Ordering::Relaxed)),
        )?;
        family(
            e,
            "dispatcher_event_stream_closed",
            "Event streams refused or ended, by reason (peer_gone: the client closed or went away).",
            MetricType::Counter,
            c.closed().into_iter().map(|(reason, n)| ([("reason", reason)], counter(n))),
        )
    }

    fn encode_store_and_process(&self, e: &mut DescriptorEncoder) -> Result<(), FmtError> {
        let mut size = 0u64;
        for suffix in ["", "-wal"] {
            let mut path = self.database.clone().into_os_string();
            path.push(suffix);
            size += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        }
        single(e, "dispatcher_database_size_bytes", "Database file and its write-ahead log.", gauge(size as f64))?;
        let h = self.store.commit_timing().histogram();
        // Per-bucket counts: the encoder makes them cumulative.
        let buckets: Vec<(f64, u64)> = COMMIT_BUCKETS
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(h.buckets.iter().copied())
            .collect();
        let mut metric = e.encode_descriptor(
            "dispatcher_store_commit_duration_seconds",
            "Time of each committing write transaction on the database, from taking the connection to the commit.",
            None,
            MetricType::Histogram,
        )?;
        metric.encode_histogram::<NoLabelSet>(h.sum_seconds, h.count, &buckets, None)?;
        if let Some(rc) = &self.remote_control {
            let (lag, pending) = rc.write_behind();
            single(
                e,
                "dispatcher_store_write_behind_lag_seconds",
                "Age of the oldest motion change not yet committed by the write-behind (0: all written).",
                gauge(lag.as_secs_f64()),
            )?;
            single(
                e,
                "dispatcher_store_write_behind_pending_objects",
                "Objects whose motion waits for the write-behind.",
                gauge_i(pending),
            )?;
        }
        let process = crate::process::read();
        single(e, "dispatcher_process_resident_memory_bytes", "Resident set size.", gauge(process.rss_bytes as f64))?;
        single(
            e,
            "dispatcher_process_cpu_seconds",
            "User and system CPU time.",
            ConstCounter::new(process.cpu_seconds),
        )?;
        single(e, "dispatcher_process_open_fds", "Open file descriptors.", gauge_i(process.open_fds))?;
        single(
            e,
            "dispatcher_uptime_seconds",
            "Seconds since the host started.",
            gauge(self.started.elapsed().as_secs_f64()),
        )
    }
}
