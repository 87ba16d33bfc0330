//! The region dynamics tick: integrates velocity and acceleration into
//! position (`Region::integrate`), fans the moves out like any other change
//! (Updated events, UpdatedCallbacks) and hands dirty objects to the
//! write-behind.
//!
//! One std thread for every region: the work per tick is a scan of the moving
//! objects, far below a core even for full regions, and a thread keeps the
//! tick independent of the async runtime's load.

use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::callbacks::fan_out;
use crate::RemoteControl;

/// Largest step integrated at once, in seconds: after a stall (debugger,
/// suspended VM) objects should not jump by the whole missed time.
pub const MAX_STEP_S: f32 = 0.25;
/// How often dirty objects go to the write-behind when there is no tick.
pub const HANDOFF_PERIOD: Duration = Duration::from_millis(250);
/// Highest accepted tick rate, per second; higher configured rates are clamped.
pub const MAX_TICK_RATE_HZ: f64 = 1000.0;

struct Stop {
    flag: Mutex<bool>,
    wake: Condvar,
}

/// A running tick; [`TickHandle::stop`] (or dropping it) ends it.
pub struct TickHandle {
    stop: Arc<Stop>,
    thread: Option<JoinHandle<()>>,
}

impl TickHandle {
    /// Stop the thread and wait for it; the last dirty objects are handed off.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        *self.stop.flag.lock() = true;
        self.stop.wake.notify_all();
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("the region tick thread panicked");
            }
        }
    }
}

impl Drop for TickHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Start the tick at `rate_hz` (0, negative or not finite = no integration;
/// dirty objects are still handed to the write-behind every [`HANDOFF_PERIOD`]).
pub fn start_tick(rc: &Arc<RemoteControl>, rate_hz: f64) -> TickHandle {
    let integrate = rate_hz.is_finite() && rate_hz > 0.0;
    let period = match integrate {
        true => Duration::from_secs_f64(1.0 / rate_hz.min(MAX_TICK_RATE_HZ)),
        false => HANDOFF_PERIOD,
    };
    let stop = Arc::new(Stop {
        flag: Mutex::new(false),
        wake: Condvar::new(),
    });
    let weak = Arc::downgrade(rc);
    let thread_stop = stop.clone();
    let thread = std::thread::Builder::new()
        .name("region-tick".into())
        .spawn(move || run(weak, thread_stop, period, integrate));
    let thread = match thread {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::error!(error = %e, "cannot start the region tick");
            None
        }
    };
    TickHandle { stop, thread }
}

fn run(rc: Weak<RemoteControl>, stop: Arc<Stop>, period: Duration, integrate: bool) {
    let mut last = Instant::now();
    let mut last_handoff = Instant::now();
    loop {
        {
            let mut stopped = stop.flag.lock();
            if !*stopped {
                stop.wake.wait_for(&mut stopped, period);
            }
            if *stopped {
                break;
            }
        }
        let Some(rc) = rc.upgrade() else { break };
        let now = Instant::now();
        if integrate {
            step(&rc, now.duration_since(last).as_secs_f32().min(MAX_STEP_S));
        }
        last = now;
        if now.duration_since(last_handoff) >= HANDOFF_PERIOD {
            rc.handoff_dirty();
            last_handoff = now;
        }
    }
    if let Some(rc) = rc.upgrade() {
        rc.handoff_dirty();
    }
}

/// One integration step of every region.
pub fn step(rc: &RemoteControl, dt_s: f32) {
    for host in rc.regions() {
        let started = Instant::now();
        let mut region = host.region.write();
        let changes = region.integrate(dt_s);
        fan_out(rc, &host, &region, &changes);
        drop(region);
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        host.last_tick_micros.store(micros, std::sync::atomic::Ordering::Relaxed);
    }
}
