//! `timers`: one repeating timer per script, raised to the host's minimum.

use crate::bindings::opensim::dispatcher::timers::Host;
use crate::error::HostError;
use crate::instance::HostState;

impl Host for HostState {
    fn set_timer(&mut self, interval_ms: u32) -> Result<u32, HostError> {
        self.admit()?;
        let granted = if interval_ms == 0 { 0 } else { interval_ms.max(self.shared.limits.min_timer_interval_ms) };
        let generation = {
            let mut timer = self.script.timer.lock();
            timer.interval_ms = granted;
            timer.generation += 1;
            timer.generation
        };
        if granted > 0 {
            match &self.ext {
                // One timer per extension, shared by its instances.
                Some(ext) => self.shared.scheduler.extension_timer(ext.id, granted, generation),
                None => self.shared.schedule_timer(&self.script, granted, generation),
            }
        }
        Ok(granted)
    }

    /// Millisecond wall clock, as of the last epoch tick (at most 1 ms old
    /// while guests run; refreshed when an event begins).
    fn now_ms(&mut self) -> wasmtime::Result<u64> {
        Ok(self.shared.clock.now_ms())
    }
}
