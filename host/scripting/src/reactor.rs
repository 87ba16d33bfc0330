//! Blocking work reached from a reactor thread.
//!
//! An HTTP request runs on a worker of the host's multi-threaded tokio
//! runtime (the reactor). Work that may block for long there (a compile, an
//! extension's storage write, a WASI call of an extension that may block,
//! `wasi_offload.rs`) goes through
//! [`off_reactor`]: tokio's `block_in_place` hands the worker's other tasks
//! to another thread first, so the reactor keeps serving, and the work still
//! runs on the calling thread, with no hop to wait for. Anywhere else (a
//! blocking or script thread, another runtime) the work simply runs.

/// Run `f` on this thread; on a worker of a multi-threaded tokio runtime,
/// announced to tokio as blocking first.
pub(crate) fn off_reactor<T>(f: impl FnOnce() -> T) -> T {
    let on_multi_thread =
        tokio::runtime::Handle::try_current().is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if on_multi_thread {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}
