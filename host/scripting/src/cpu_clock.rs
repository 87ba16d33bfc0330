//! The runner thread's CPU clock, so that time a runner spends preempted is
//! never charged to a script's CPU budget.
//!
//! Reading a thread's CPU clock is a system call (about 300 ns here), too dear
//! for every event, so a runner reads it once per turn ([`TurnClock`]); an
//! event's CPU baseline is then the turn's reading plus the wall time since
//! the turn began. That bound is never below the thread's real CPU clock, so
//! the CPU an event is charged is never more than it used.

use std::time::{Duration, Instant};

/// Wall clock and thread CPU clock read together at the start of a turn.
#[derive(Clone, Copy, Debug)]
pub struct TurnClock {
    wall: Instant,
    cpu: Duration,
}

impl TurnClock {
    pub fn now() -> TurnClock {
        TurnClock {
            wall: Instant::now(),
            cpu: thread_cpu_time(),
        }
    }

    /// The thread's CPU clock when the turn began.
    pub fn cpu(&self) -> Duration {
        self.cpu
    }

    /// An upper bound of the thread's CPU clock at `at` (as if it had run
    /// without a break since the turn began).
    pub fn cpu_bound_at(&self, at: Instant) -> Duration {
        self.cpu + at.saturating_duration_since(self.wall)
    }
}

/// CPU time consumed by the calling thread (zero if the clock is unavailable,
/// which makes every check fall back to wall time).
pub fn thread_cpu_time() -> Duration {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through the valid pointer we
    // pass and has no other effect.
    #[allow(unsafe_code, reason = "the thread CPU clock is only reachable through libc")]
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(t.tv_sec.max(0) as u64, t.tv_nsec.clamp(0, 999_999_999) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_clock_advances_with_work_and_the_bound_stays_above_it() {
        let turn = TurnClock::now();
        let give_up = Instant::now() + Duration::from_secs(10);
        let mut x = 0u64;
        while thread_cpu_time() < turn.cpu + Duration::from_millis(5) {
            assert!(Instant::now() < give_up, "the thread CPU clock does not advance");
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        let cpu = thread_cpu_time();
        assert!(turn.cpu_bound_at(Instant::now()) >= cpu);
    }
}
