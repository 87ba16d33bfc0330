//! Per-type request statistics for the `dispatcher stats` console command.

use std::collections::BTreeMap;
use std::time::Duration;

use parking_lot::Mutex;

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TypeStats {
    pub count: u64,
    pub total: Duration,
}

#[derive(Default)]
pub struct Stats {
    by_type: Mutex<BTreeMap<String, TypeStats>>,
}

impl Stats {
    /// Record one completed request under its short class name.
    pub fn record(&self, type_name: &str, elapsed: Duration) {
        let short = type_name.rsplit('.').next().unwrap_or(type_name);
        let mut map = self.by_type.lock();
        // The name is copied once, on the type's first request.
        let entry = match map.get_mut(short) {
            Some(entry) => entry,
            None => map.entry(short.to_owned()).or_default(),
        };
        entry.count += 1;
        entry.total += elapsed;
    }

    pub fn reset(&self) {
        self.by_type.lock().clear();
    }

    pub fn snapshot(&self) -> Vec<(String, TypeStats)> {
        self.by_type.lock().iter().map(|(k, v)| (k.clone(), *v)).collect()
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
