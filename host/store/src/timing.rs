//! How long committing write transactions take (the `/metrics` commit
//! latency histogram, docs/live.md): a store call that succeeded and changed
//! rows committed a write; its time on the connection (from taking it to the
//! end of the call, the commit's sync included) is observed. Reads are not
//! counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the histogram's buckets, in seconds (the last bucket,
/// beyond these, is +Inf).
pub const COMMIT_BUCKETS: [f64; 12] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5];

/// The histogram of committing calls.
#[derive(Debug, Default)]
pub struct CommitTiming {
    buckets: [AtomicU64; COMMIT_BUCKETS.len() + 1],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

/// A copy of the histogram.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CommitHistogram {
    /// Per bucket of [`COMMIT_BUCKETS`] (not cumulative), then the overflow.
    pub buckets: Vec<u64>,
    pub count: u64,
    pub sum_seconds: f64,
}

impl CommitTiming {
    pub(crate) fn observe(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        let i = COMMIT_BUCKETS.iter().position(|b| seconds <= *b).unwrap_or(COMMIT_BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_nanos
            .fetch_add(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub fn histogram(&self) -> CommitHistogram {
        CommitHistogram {
            buckets: self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect(),
            count: self.count.load(Ordering::Relaxed),
            sum_seconds: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_fall_in_their_buckets() {
        let t = CommitTiming::default();
        t.observe(Duration::from_micros(80));
        t.observe(Duration::from_millis(1));
        t.observe(Duration::from_secs(3));
        let h = t.histogram();
        assert_eq!(h.count, 3);
        assert_eq!(h.buckets[0], 1);
        assert_eq!(h.buckets[3], 1, "1 ms is in the 1 ms bucket");
        assert_eq!(h.buckets[COMMIT_BUCKETS.len()], 1);
        assert!((h.sum_seconds - 3.00108).abs() < 1e-9, "{}", h.sum_seconds);
    }
}
