//! Blocking WASI waits (`wasi:io/poll.poll`, `pollable.block`: what a guest's
//! `sleep` becomes) bounded by the event's budget and the interrupt flag.
//!
//! The WASI implementation would block the runner thread for as long as the
//! guest asks, and a thread that sleeps uses no CPU, so a guest sleeping in a
//! loop held a runner for ever without ever reaching its CPU budget. These
//! definitions shadow the WASI ones in the linker: they wait in slices of at
//! most [`INTERRUPT_CHECK_TICKS`] epoch ticks, charge the time waited to the
//! event's budget (`meter.blocked`), and end the event with `timeout` when the
//! budget is gone or promptly when the host interrupts it.

use std::time::{Duration, Instant};

use wasmtime::component::{Linker, Resource};
use wasmtime::StoreContextMut;
use wasmtime_wasi::runtime::in_tokio;
use wasmtime_wasi_io::bindings::wasi::io::poll::{Host as _, HostPollable as _};
use wasmtime_wasi_io::poll::DynPollable;

use crate::instance::{budget_left, HostState};
use crate::limits::{EPOCH_TICK, INTERRUPT_CHECK_TICKS};
use crate::reactor::off_reactor;

/// The `wasi:io/poll` instance `wasmtime_wasi::p2::add_to_linker_sync` defines
/// (guests importing an older 0.2.x resolve to it by semver).
pub const POLL_INSTANCE: &str = "wasi:io/poll@0.2.12";

/// The longest single wait slice.
fn slice_limit() -> Duration {
    EPOCH_TICK * INTERRUPT_CHECK_TICKS as u32
}

/// Replace `poll` and `pollable.block` with budget-bounded versions. Needs
/// the linker to allow shadowing.
pub fn shadow_blocking_waits(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let mut poll = linker.instance(POLL_INSTANCE)?;
    poll.func_wrap("poll", |store: StoreContextMut<HostState>, (list,): (Vec<Resource<DynPollable>>,)| {
        let reps: Vec<u32> = list.iter().map(Resource::rep).collect();
        bounded(store, move |table, slice| {
            let pollables = reps.iter().map(|&rep| Resource::new_borrow(rep)).collect();
            off_reactor(|| in_tokio(async { tokio::time::timeout(slice, table.poll(pollables)).await })).ok()
        })
        .map(|ready| (ready,))
    })?;
    poll.func_wrap(
        "[method]pollable.block",
        |store: StoreContextMut<HostState>, (pollable,): (Resource<DynPollable>,)| {
            let rep = pollable.rep();
            bounded(store, move |table, slice| {
                off_reactor(|| in_tokio(async { tokio::time::timeout(slice, table.block(Resource::new_borrow(rep))).await })).ok()
            })
        },
    )?;
    Ok(())
}

/// Wait in slices until `wait_slice` reports readiness (`Some`), the budget
/// runs out (`timeout`) or the host interrupts the event.
fn bounded<R>(
    mut store: StoreContextMut<'_, HostState>,
    mut wait_slice: impl FnMut(&mut wasmtime::component::ResourceTable, Duration) -> Option<wasmtime::Result<R>>,
) -> wasmtime::Result<R> {
    loop {
        let left = budget_left(store.data())?;
        let slice = left.min(slice_limit());
        let started = Instant::now();
        let state = store.data_mut();
        let outcome = wait_slice(&mut state.table, slice);
        state.meter.blocked += started.elapsed();
        if let Some(result) = outcome {
            return result;
        }
    }
}
