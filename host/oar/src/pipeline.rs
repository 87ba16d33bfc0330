//! The import's stages, overlapped: a reader thread unpacks the archive
//! (gzip → tar, [`read_archive`]) and hands object members in batches to
//! parser threads on all cores, which parse them and encode them for the
//! store; the calling thread (the one holding the store transaction) applies
//! what arrives, in archive order.
//!
//! Memory is bounded: the queue to the calling thread holds at most
//! [`IN_FLIGHT`] entries (a batch of [`BATCH_OBJECTS`] objects or one other
//! member each), so the reader waits when the store or the parsers fall
//! behind. When the caller stops with an error the queue closes, the reader
//! stops at its next member, and every thread is joined before returning.

use std::io::Read;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Mutex;

use dispatcher_scene::{parse_object, SceneLimits, SceneObject};
use dispatcher_store::encode_scene_object;

use crate::control::Control;
use crate::limits::OarLimits;
use crate::paths::Kind;
use crate::read::{read_archive, Member};
use crate::OarError;

/// Object members parsed together (one queue entry).
pub const BATCH_OBJECTS: usize = 256;
/// Queue entries between the reader and the calling thread.
pub const IN_FLIGHT: usize = 8;
/// More parser threads than this gain nothing on the hosts we target.
const MAX_PARSE_THREADS: usize = 8;

/// An object member parsed, with its store encoding.
pub struct ParsedObject {
    pub object: SceneObject,
    pub encoded: Vec<u8>,
}

/// What the calling thread receives, in archive order (a batch of objects
/// takes the place of its first member; other members may arrive before the
/// rest of a batch's members, which changes only which of two broken
/// members an error names).
pub enum Arrival {
    Member(Member),
    /// Each object member's path with its object, or why it was refused.
    Objects(Vec<(String, Result<ParsedObject, OarError>)>),
}

type Parsed = Vec<(String, Result<ParsedObject, OarError>)>;

enum Queued {
    Member(Member),
    Objects(Receiver<Parsed>),
}

type Job = (Vec<Member>, SyncSender<Parsed>);

/// The reader stopped because the calling thread stopped (not reported: the
/// caller's own error is).
fn stopped() -> OarError {
    OarError::Region("the import stopped".into())
}

fn parser_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_PARSE_THREADS)
}

/// Reads `input`, calling `apply` for every member in archive order (object
/// members parsed in parallel and given as batches). Returns the control
/// file; the first error, from `apply` or from the archive, ends the run.
pub fn run<R: Read + Send>(
    input: R,
    limits: &OarLimits,
    scene_limits: &SceneLimits,
    mut apply: impl FnMut(Arrival) -> Result<(), OarError>,
) -> Result<Control, OarError> {
    let (queue_tx, queue_rx) = sync_channel::<Queued>(IN_FLIGHT);
    let (job_tx, job_rx) = sync_channel::<Job>(IN_FLIGHT);
    let job_rx = Mutex::new(job_rx);
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || read_stage(input, limits, &queue_tx, &job_tx));
        let parsers: Vec<_> = (0..parser_threads())
            .map(|_| scope.spawn(|| parse_stage(&job_rx, scene_limits)))
            .collect();
        let applied = apply_stage(queue_rx, &mut apply);
        // The queue is closed now: a reader still running stops, its job
        // sender goes, and the parsers finish what was queued and end.
        let read = reader
            .join()
            .unwrap_or_else(|_| Err(OarError::Region("the archive reader failed".into())));
        for parser in parsers {
            // A parser that panicked left its batch's reply unsent, which
            // `apply_stage` already reported.
            let _ = parser.join();
        }
        applied?;
        read
    })
}

fn apply_stage(queue: Receiver<Queued>, apply: &mut impl FnMut(Arrival) -> Result<(), OarError>) -> Result<(), OarError> {
    for queued in queue {
        match queued {
            Queued::Member(member) => apply(Arrival::Member(member))?,
            Queued::Objects(reply) => {
                let parsed = reply
                    .recv()
                    .map_err(|_| OarError::Region("an object parser thread failed".into()))?;
                apply(Arrival::Objects(parsed))?;
            }
        }
    }
    Ok(())
}

fn read_stage<R: Read>(input: R, limits: &OarLimits, queue: &SyncSender<Queued>, jobs: &SyncSender<Job>) -> Result<Control, OarError> {
    let mut batch = Vec::with_capacity(BATCH_OBJECTS);
    let control = read_archive(input, limits, |member| {
        if member.kind != Kind::Object {
            return queue.send(Queued::Member(member)).map_err(|_| stopped());
        }
        batch.push(member);
        if batch.len() >= BATCH_OBJECTS {
            dispatch(&mut batch, queue, jobs)?;
        }
        Ok(())
    })?;
    dispatch(&mut batch, queue, jobs)?;
    Ok(control)
}

fn dispatch(batch: &mut Vec<Member>, queue: &SyncSender<Queued>, jobs: &SyncSender<Job>) -> Result<(), OarError> {
    if batch.is_empty() {
        return Ok(());
    }
    let members = std::mem::replace(batch, Vec::with_capacity(BATCH_OBJECTS));
    let (reply_tx, reply_rx) = sync_channel(1);
    jobs.send((members, reply_tx)).map_err(|_| stopped())?;
    queue.send(Queued::Objects(reply_rx)).map_err(|_| stopped())
}

fn parse_stage(jobs: &Mutex<Receiver<Job>>, scene_limits: &SceneLimits) {
    loop {
        let job = match jobs.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return,
        };
        let Ok((members, reply)) = job else { return };
        let parsed = members
            .into_iter()
            .map(|m| {
                let result = parse_object(&m.data, scene_limits)
                    .map_err(|e| OarError::member(&m.path, e))
                    .and_then(|object| {
                        let encoded = encode_scene_object(&object)?;
                        Ok(ParsedObject { object, encoded })
                    });
                (m.path, result)
            })
            .collect();
        // The calling thread may have stopped already.
        let _ = reply.send(parsed);
    }
}
