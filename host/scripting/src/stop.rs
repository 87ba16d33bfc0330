//! The host's stop flag: set once by shutdown, read by every runtime thread
//! and by every running event's budget check (an interrupt).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Shared by the threads and instances of one host; clones see the same flag.
#[derive(Clone, Debug, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    /// The host is shutting down.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub fn set(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
