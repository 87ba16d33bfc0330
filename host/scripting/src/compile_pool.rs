//! The compile pool: uploads compile here, off the request path.
//!
//! A fixed number of threads (`MaxConcurrentCompiles`), at a lower CPU
//! priority than request handling, take compile jobs from a bounded queue
//! (`CompileQueueLength`); a job that finds the queue full is refused at once.
//! The caller waits for its own result; when it waits on a worker thread of
//! the multi-threaded tokio runtime (an HTTP request), the wait is announced
//! to tokio (`block_in_place`), which moves that worker's other requests to
//! another thread, so a long compile never holds other requests back.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::ScriptingError;

/// Nice value of compile threads: request handling and script runners win
/// the CPU when both want it.
const COMPILE_NICE: i32 = 10;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Why a compile did not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompilePoolError {
    #[error("the compile queue is full ({waiting} uploads waiting, CompileQueueLength {limit}); retry later")]
    QueueFull { waiting: usize, limit: usize },
    #[error("the host is shutting down; the component was not compiled")]
    ShuttingDown,
    #[error("the compiler failed on this component")]
    Crashed,
}

pub struct CompilePool {
    sender: Mutex<Option<SyncSender<Job>>>,
    /// Jobs queued and not yet started.
    waiting: Arc<AtomicUsize>,
    /// Jobs running now.
    running: Arc<AtomicUsize>,
    queue_length: usize,
}

impl CompilePool {
    pub fn new(threads: usize, queue_length: usize) -> Result<CompilePool, ScriptingError> {
        let queue_length = queue_length.max(1);
        let (sender, receiver) = sync_channel::<Job>(queue_length);
        let receiver = Arc::new(Mutex::new(receiver));
        let waiting = Arc::new(AtomicUsize::new(0));
        let running = Arc::new(AtomicUsize::new(0));
        for n in 0..threads.max(1) {
            let (receiver, waiting, running) = (receiver.clone(), waiting.clone(), running.clone());
            std::thread::Builder::new()
                .name(format!("script-compile-{n}"))
                .spawn(move || worker(&receiver, &waiting, &running))
                .map_err(|e| ScriptingError::Engine(format!("cannot start a compile thread: {e}")))?;
        }
        Ok(CompilePool {
            sender: Mutex::new(Some(sender)),
            waiting,
            running,
            queue_length,
        })
    }

    /// Run `f` on a compile thread and wait for its result; refused at once
    /// when the queue is full.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, CompilePoolError> {
        let (tx, rx) = sync_channel::<T>(1);
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        {
            let sender = self.sender.lock();
            let sender = sender.as_ref().ok_or(CompilePoolError::ShuttingDown)?;
            self.waiting.fetch_add(1, Ordering::AcqRel);
            match sender.try_send(job) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    let waiting = self.waiting.fetch_sub(1, Ordering::AcqRel) - 1;
                    return Err(CompilePoolError::QueueFull {
                        waiting,
                        limit: self.queue_length,
                    });
                }
                Err(TrySendError::Disconnected(_)) => {
                    self.waiting.fetch_sub(1, Ordering::AcqRel);
                    return Err(CompilePoolError::ShuttingDown);
                }
            }
        }
        wait(&rx).ok_or(CompilePoolError::Crashed)
    }

    /// Compiles waiting and running (for statistics and tests).
    pub fn load(&self) -> (usize, usize) {
        (self.waiting.load(Ordering::Acquire), self.running.load(Ordering::Acquire))
    }

    /// Refuse new jobs; threads finish the queued ones and exit.
    pub fn close(&self) {
        self.sender.lock().take();
    }
}

fn worker(receiver: &Mutex<Receiver<Job>>, waiting: &AtomicUsize, running: &AtomicUsize) {
    lower_priority();
    loop {
        let job = {
            let receiver = receiver.lock();
            match receiver.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        waiting.fetch_sub(1, Ordering::AcqRel);
        running.fetch_add(1, Ordering::AcqRel);
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
            tracing::error!("a compile job panicked; the upload is refused");
        }
        running.fetch_sub(1, Ordering::AcqRel);
        return_free_memory();
    }
}

/// Wait for a result without holding a tokio worker: inside the
/// multi-threaded runtime the worker hands its other tasks on first.
fn wait<T>(rx: &Receiver<T>) -> Option<T> {
    crate::reactor::off_reactor(|| rx.recv().ok())
}

/// The compiler's working memory (hundreds of MB for a large component) is
/// freed when a compile ends; hand the freed heap back to the system so it
/// does not stay in the process's resident size.
#[allow(unsafe_code, reason = "malloc_trim is only reachable through libc")]
pub(crate) fn return_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap memory; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Lower this thread's CPU priority (Linux: nice applies per thread).
#[allow(unsafe_code, reason = "setpriority is only reachable through libc")]
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority on the calling thread (who = 0) with a valid nice
    // value; it only changes this thread's scheduling priority.
    unsafe {
        if libc::setpriority(libc::PRIO_PROCESS, 0, COMPILE_NICE) != 0 {
            tracing::debug!("cannot lower the compile thread's priority");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_full_queue_refuses_at_once_and_results_come_back() {
        let pool = Arc::new(CompilePool::new(1, 1).expect("pool"));
        let (release_tx, release_rx) = sync_channel::<()>(0);
        let release_rx = Arc::new(Mutex::new(release_rx));
        // One job holds the thread, one waits in the queue.
        let mut handles = Vec::new();
        for _ in 0..2 {
            let (pool, release_rx) = (pool.clone(), release_rx.clone());
            handles.push(std::thread::spawn(move || {
                pool.run(move || {
                    let _ = release_rx.lock().recv();
                    7
                })
            }));
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(pool.load(), (1, 1));
        let refused = pool.run(|| 1).expect_err("queue full");
        assert_eq!(refused, CompilePoolError::QueueFull { waiting: 1, limit: 1 });
        assert!(refused.to_string().contains("CompileQueueLength"));
        for _ in 0..2 {
            release_tx.send(()).expect("release");
        }
        for h in handles {
            assert_eq!(h.join().expect("join"), Ok(7));
        }
        pool.close();
        assert_eq!(pool.run(|| 1), Err(CompilePoolError::ShuttingDown));
    }
}
