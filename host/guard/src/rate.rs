//! A token bucket: `rate` tokens per second, at most `burst` saved up.

use std::time::Instant;

#[derive(Clone, Debug)]
pub struct TokenBucket {
    rate_per_s: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate_per_s: f64, burst: f64) -> Self {
        TokenBucket {
            rate_per_s,
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate_per_s).min(self.burst);
        self.last = now;
    }

    /// Take `n` tokens if they are all there; otherwise take none.
    pub fn try_take(&mut self, n: f64, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= n {
            self.tokens -= n;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn refills_at_its_rate_up_to_the_burst() {
        let t0 = Instant::now();
        let mut b = TokenBucket {
            rate_per_s: 10.0,
            burst: 5.0,
            tokens: 5.0,
            last: t0,
        };
        for _ in 0..5 {
            assert!(b.try_take(1.0, t0));
        }
        assert!(!b.try_take(1.0, t0));
        assert!(b.try_take(1.0, t0 + Duration::from_millis(100)));
        assert!(!b.try_take(1.0, t0 + Duration::from_millis(100)));
        // Never more than the burst, however long the pause.
        assert!(!b.try_take(6.0, t0 + Duration::from_secs(100)));
        assert!(b.try_take(5.0, t0 + Duration::from_secs(100)));
    }
}
