//! `log`: lines into the script's ring buffer; never fails for the guest.

use crate::bindings::opensim::dispatcher::log::{Host, Level};
use crate::error::HostError;
use crate::instance::HostState;
use crate::script::level_name;

impl Host for HostState {
    fn log(&mut self, level: Level, text: String) -> wasmtime::Result<()> {
        match self.admit() {
            Ok(()) => {
                let limits = &self.shared.limits;
                self.script
                    .push_log(level_name(level), &text, limits.log_ring_lines, limits.max_log_line_bytes);
                Ok(())
            }
            Err(HostError::Fault(f)) => Err(wasmtime::Error::new(f)),
            // Over the rate: the line is dropped and counted, the guest goes on.
            Err(HostError::Guest(_)) => {
                self.script.log.lock().dropped += 1;
                Ok(())
            }
        }
    }
}
