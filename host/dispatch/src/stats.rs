//! Request statistics: per type for the `dispatcher stats` console command,
//! and per domain, type, transport and result with a latency histogram per
//! domain for the host's `/metrics` (read at scrape time: one record per
//! request, kept here only).
//!
//! Cardinality is bounded by construction: the type and domain recorded are
//! those of a registered handler (a name a caller made up is recorded as
//! [`UNKNOWN`]), transports and results are closed sets.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use parking_lot::Mutex;

use crate::fasthash::FastBuild;
// Names are kept once per registered type or domain (a closed set: the
// callers pass only registered names or [`UNKNOWN`]), so that the tables
// hold `&'static str` keys.
use crate::registry::intern;
use crate::transport::Transport;

/// The label of a type or domain no handler is registered for.
pub const UNKNOWN: &str = "unknown";

/// Upper bounds (seconds) of the request latency histogram's buckets; a last
/// bucket (`+Inf`) holds the rest.
pub const LATENCY_BUCKETS: [f64; 12] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5];

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TypeStats {
    pub count: u64,
    pub total: Duration,
}

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    Success,
    Failure,
    /// Queued for the asynchronous pool (its handler's result is recorded
    /// again, as success or failure, when it has run).
    Async,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Async => "async",
        }
    }
}

/// One series of `dispatcher_requests_total`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestKey {
    pub domain: &'static str,
    pub type_name: &'static str,
    pub transport: &'static str,
    pub outcome: Outcome,
}

/// A latency histogram: per-bucket counts (not cumulative), the last one
/// beyond [`LATENCY_BUCKETS`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram {
    pub buckets: [u64; LATENCY_BUCKETS.len() + 1],
    pub count: u64,
    pub sum_seconds: f64,
}

impl Histogram {
    pub fn observe(&mut self, seconds: f64) {
        let i = LATENCY_BUCKETS.iter().position(|b| seconds <= *b).unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[i] += 1;
        self.count += 1;
        self.sum_seconds += seconds;
    }
}

/// The transports' labels, in the order of a series' counts.
const TRANSPORTS: [&str; 3] = ["http", "udp", "script"];
/// The outcomes' order in a series' counts.
const OUTCOMES: [Outcome; 3] = [Outcome::Success, Outcome::Failure, Outcome::Async];

fn transport_index(transport: &Transport) -> usize {
    match transport {
        Transport::Http { .. } => 0,
        Transport::Udp => 1,
        Transport::Script => 2,
    }
}

fn outcome_index(outcome: Outcome) -> usize {
    match outcome {
        Outcome::Success => 0,
        Outcome::Failure => 1,
        Outcome::Async => 2,
    }
}

/// Everything recorded for one domain and type: the request counts by
/// transport and outcome, the console figures, and where the domain's
/// latency histogram is.
struct Series {
    domain: &'static str,
    counts: [[u64; OUTCOMES.len()]; TRANSPORTS.len()],
    console: TypeStats,
    latency: usize,
}

/// The tables behind one lock. A record is one lookup by type name (the
/// registry's own names, a fast hash) and a short scan of the domains that
/// type was recorded under (one, or two with [`UNKNOWN`]); the histogram is
/// reached by index.
#[derive(Default)]
struct Tables {
    series: HashMap<&'static str, Vec<Series>, FastBuild>,
    latency: Vec<(&'static str, Histogram)>,
}

impl Tables {
    fn series(&mut self, domain: &str, type_name: &str) -> &mut Series {
        let key = match self.series.get_key_value(type_name) {
            Some((key, _)) => *key,
            None => intern(type_name),
        };
        let latency = &mut self.latency;
        let list = self.series.entry(key).or_default();
        let at = match list.iter().position(|s| s.domain == domain) {
            Some(at) => at,
            None => {
                let domain = intern(domain);
                let index = match latency.iter().position(|(d, _)| *d == domain) {
                    Some(i) => i,
                    None => {
                        latency.push((domain, Histogram::default()));
                        latency.len() - 1
                    }
                };
                list.push(Series {
                    domain,
                    counts: Default::default(),
                    console: TypeStats::default(),
                    latency: index,
                });
                list.len() - 1
            }
        };
        &mut list[at]
    }
}

#[derive(Default)]
pub struct Stats {
    tables: Mutex<Tables>,
}

impl Stats {
    /// Record one request for the metrics and, with `console`, for the
    /// console statistics (which count only requests that ran their handler
    /// after admission, pre-authentication messages excepted). `domain` and
    /// `type_name` must be a registered handler's (or [`UNKNOWN`]); the
    /// callers guarantee it.
    pub fn record_request(&self, domain: &str, type_name: &str, transport: &Transport, outcome: Outcome, elapsed: Duration, console: bool) {
        let mut t = self.tables.lock();
        let series = t.series(domain, type_name);
        series.counts[transport_index(transport)][outcome_index(outcome)] += 1;
        if console {
            series.console.count += 1;
            series.console.total += elapsed;
        }
        let latency = series.latency;
        if outcome != Outcome::Async {
            t.latency[latency].1.observe(elapsed.as_secs_f64());
        }
    }

    /// Clear the console statistics (the metrics keep counting).
    pub fn reset(&self) {
        let mut t = self.tables.lock();
        for list in t.series.values_mut() {
            for s in list {
                s.console = TypeStats::default();
            }
        }
    }

    /// The console statistics by short class name, sorted.
    pub fn snapshot(&self) -> Vec<(String, TypeStats)> {
        let t = self.tables.lock();
        let mut by_type: BTreeMap<String, TypeStats> = BTreeMap::new();
        for (type_name, list) in &t.series {
            for s in list.iter().filter(|s| s.console.count > 0) {
                let short = type_name.rsplit('.').next().unwrap_or(type_name);
                let entry = by_type.entry(short.to_owned()).or_default();
                entry.count += s.console.count;
                entry.total += s.console.total;
            }
        }
        by_type.into_iter().collect()
    }

    /// Every request series and its count, sorted.
    pub fn requests(&self) -> Vec<(RequestKey, u64)> {
        let t = self.tables.lock();
        let mut out = Vec::new();
        for (type_name, list) in &t.series {
            for s in list {
                for (ti, transport) in TRANSPORTS.iter().enumerate() {
                    for (oi, outcome) in OUTCOMES.iter().enumerate() {
                        let n = s.counts[ti][oi];
                        if n > 0 {
                            let key = RequestKey {
                                domain: s.domain,
                                type_name,
                                transport,
                                outcome: *outcome,
                            };
                            out.push((key, n));
                        }
                    }
                }
            }
        }
        out.sort();
        out
    }

    /// The latency histogram of each domain, sorted by domain.
    pub fn latency(&self) -> Vec<(&'static str, Histogram)> {
        let mut out: Vec<_> = self.tables.lock().latency.iter().filter(|(_, h)| h.count > 0).cloned().collect();
        out.sort_by(|a, b| a.0.cmp(b.0));
        out
    }

    /// The console report of dispatcher-core.md §11.
    pub fn report(&self, queue_depth: usize) -> String {
        let mut out = String::new();
        for (name, s) in self.snapshot() {
            let avg_ms = if s.count == 0 { 0.0 } else { s.total.as_secs_f64() * 1000.0 / s.count as f64 };
            let avg = format!("{avg_ms:.3}");
            let avg = avg.trim_end_matches('0').trim_end_matches('.');
            out.push_str(&format!("{name:>15}: {:>8} requests, avg resp {avg}\n", s.count));
        }
        out.push_str(&format!("Current async queue depth {queue_depth}\n"));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_series_and_the_histogram_by_domain() {
        let stats = Stats::default();
        let http = Transport::Http {
            path_domain: String::new(),
        };
        let ms = Duration::from_millis(1);
        stats.record_request("Dispatcher", "Dispatcher.Messages.InfoRequest", &http, Outcome::Success, ms, false);
        stats.record_request("Dispatcher", "Dispatcher.Messages.InfoRequest", &http, Outcome::Success, ms, false);
        stats.record_request("RemoteControl", "X", &Transport::Udp, Outcome::Async, ms, false);
        stats.record_request("RemoteControl", "X", &Transport::Udp, Outcome::Failure, Duration::from_secs(9), true);
        let requests = stats.requests();
        assert_eq!(requests.len(), 3, "{requests:?}");
        assert_eq!(requests[0].0.type_name, "Dispatcher.Messages.InfoRequest");
        assert_eq!(requests[0].1, 2);
        let latency = stats.latency();
        assert_eq!(latency.len(), 2);
        let (domain, h) = &latency[1];
        assert_eq!(*domain, "RemoteControl");
        // The queued record is not a latency; the 9 s run falls beyond the last bound.
        assert_eq!(h.count, 1);
        assert_eq!(h.buckets[LATENCY_BUCKETS.len()], 1);
        let (_, d) = &latency[0];
        assert_eq!(d.buckets[3], 2, "1 ms falls in the 1 ms bucket: {d:?}");
        // Only the console-recorded request reaches the console table.
        assert_eq!(stats.snapshot().len(), 1);
    }
}
