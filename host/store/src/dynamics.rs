//! Deferred, coalesced writes of moving objects.
//!
//! Motion (`BulkDynamics`, integrated velocity) changes objects many times a
//! second; committing each change with `synchronous=FULL` would cost one disk
//! sync per change. Callers instead [`queue`](DynamicsWriter::queue) the new
//! state: the latest state of each object wins, and a background thread writes
//! everything pending in one transaction at least once per flush interval. What
//! is queued but not yet written can be lost by a crash, which is acceptable for
//! motion only; creates and deletes go through the synchronous `Store` calls.
//!
//! Writes are serialised by one lock taken *before* the pending set is taken,
//! so batches commit in the order they were taken and an older state can never
//! overwrite a newer one.

use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dispatcher_scene::SceneObject;
use parking_lot::{Condvar, Mutex};
use uuid::Uuid;

use crate::objects::encode_objects;
use crate::{Store, StoreError};

/// How often pending dynamics are written when the host configures nothing.
pub const DEFAULT_DYNAMICS_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Pending object states by (region id, object id).
type Pending = HashMap<(Uuid, Uuid), SceneObject>;

struct State {
    pending: Pending,
    stopping: bool,
    /// When the oldest change in `pending` was queued.
    oldest: Option<Instant>,
    /// When the oldest change of the batch being written was queued.
    writing: Option<Instant>,
}

impl State {
    /// The older of two optional instants.
    fn min(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

struct Shared {
    store: Arc<Store>,
    state: Mutex<State>,
    /// Wakes the background thread early (only to stop it).
    wake: Condvar,
    /// Held while a batch is taken and written: batches commit in take order.
    write_lock: Mutex<()>,
}

/// The background writer of object dynamics. Dropping it writes what is pending.
pub struct DynamicsWriter {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Shared {
    /// Writes everything pending in one transaction. On failure the batch is put
    /// back (where no newer state arrived meanwhile) for the next attempt.
    fn write_pending(&self) -> Result<usize, StoreError> {
        let _order = self.write_lock.lock();
        let (batch, oldest) = {
            let mut state = self.state.lock();
            let oldest = state.oldest.take();
            state.writing = oldest;
            (std::mem::take(&mut state.pending), oldest)
        };
        if batch.is_empty() {
            self.state.lock().writing = None;
            return Ok(0);
        }
        let objects: Vec<(Uuid, &SceneObject)> = batch.iter().map(|((region, _), obj)| (*region, obj)).collect();
        let result = encode_objects(&objects).and_then(|rows| self.store.write_encoded_objects(&rows));
        let mut state = self.state.lock();
        state.writing = None;
        if let Err(e) = result {
            for (key, obj) in batch {
                state.pending.entry(key).or_insert(obj);
            }
            state.oldest = State::min(state.oldest, oldest);
            return Err(e);
        }
        Ok(batch.len())
    }

    fn run(&self, flush_interval: Duration) {
        loop {
            {
                let mut state = self.state.lock();
                if !state.stopping {
                    self.wake.wait_for(&mut state, flush_interval);
                }
                if state.stopping {
                    break;
                }
            }
            if let Err(e) = self.write_pending() {
                tracing::error!(error = %e, "writing object dynamics failed; will retry");
            }
        }
        if let Err(e) = self.write_pending() {
            tracing::error!(error = %e, "writing object dynamics at shutdown failed");
        }
    }
}

impl DynamicsWriter {
    /// Starts the background thread, writing at least every `flush_interval`.
    pub fn start(store: Arc<Store>, flush_interval: Duration) -> DynamicsWriter {
        let shared = Arc::new(Shared {
            store,
            state: Mutex::new(State {
                pending: HashMap::new(),
                stopping: false,
                oldest: None,
                writing: None,
            }),
            wake: Condvar::new(),
            write_lock: Mutex::new(()),
        });
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("dynamics-writer".into())
            .spawn(move || worker.run(flush_interval));
        let thread = match thread {
            Ok(t) => Some(t),
            Err(e) => {
                // Without the thread, flush() and Drop still write everything.
                tracing::error!(error = %e, "cannot start the dynamics writer thread");
                None
            }
        };
        DynamicsWriter { shared, thread }
    }

    /// Records the object's current state; a later `queue` of the same object
    /// replaces this one before it is written.
    pub fn queue(&self, region_id: Uuid, object: &SceneObject) {
        let mut state = self.shared.state.lock();
        state.pending.insert((region_id, object.id()), object.clone());
        state.oldest.get_or_insert_with(Instant::now);
    }

    /// The changes just queued were first made at `since` (the caller held
    /// them before queuing): the lag counts from then.
    pub fn changed_since(&self, since: Instant) {
        let mut state = self.shared.state.lock();
        if !state.pending.is_empty() {
            state.oldest = State::min(state.oldest, Some(since));
        }
    }

    /// The write-behind lag: how long the oldest change not yet committed
    /// has waited (zero when everything queued is written).
    pub fn lag(&self) -> Duration {
        let state = self.shared.state.lock();
        State::min(state.oldest, state.writing).map_or(Duration::ZERO, |t| t.elapsed())
    }

    /// Drops pending states of these objects, after waiting out a batch being
    /// written. Call it before `Store::delete_objects` for objects that may have
    /// been queued, so that a deleted object is never written back.
    pub fn forget(&self, region_id: Uuid, object_ids: &[Uuid]) {
        let _order = self.shared.write_lock.lock();
        let mut state = self.shared.state.lock();
        for id in object_ids {
            state.pending.remove(&(region_id, *id));
        }
        if state.pending.is_empty() {
            state.oldest = None;
        }
    }

    /// [`forget`](Self::forget) for every object of the region (before
    /// `Store::delete_all_objects`).
    pub fn forget_region(&self, region_id: Uuid) {
        let _order = self.shared.write_lock.lock();
        let mut state = self.shared.state.lock();
        state.pending.retain(|(region, _), _| *region != region_id);
        if state.pending.is_empty() {
            state.oldest = None;
        }
    }

    /// Objects queued and not yet taken for writing.
    pub fn pending_len(&self) -> usize {
        self.shared.state.lock().pending.len()
    }

    /// Writes everything queued so far and returns once it is committed
    /// (including a batch the background thread was writing at the time).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.shared.write_pending().map(|_| ())
    }
}

impl Drop for DynamicsWriter {
    fn drop(&mut self) {
        self.shared.state.lock().stopping = true;
        self.shared.wake.notify_all();
        match self.thread.take() {
            // The thread writes what is pending before it ends.
            Some(t) => {
                if t.join().is_err() {
                    tracing::error!("the dynamics writer thread panicked");
                }
            }
            None => {
                if let Err(e) = self.shared.write_pending() {
                    tracing::error!(error = %e, "writing object dynamics at shutdown failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::encode_object;
    use crate::objects::tests::{crash_asset, pg_execute, sample};
    use std::time::Instant;

    /// A store of each kind behind an `Arc`, with the SQLite directory.
    fn stores() -> Vec<(&'static str, Arc<Store>, Option<tempfile::TempDir>)> {
        crate::testing::stores()
            .into_iter()
            .map(|(kind, store, dir)| (kind, Arc::new(store), dir))
            .collect()
    }

    #[test]
    fn background_thread_writes_within_the_interval_and_latest_state_wins() {
        for (kind, store, _dir) in stores() {
            let interval = Duration::from_millis(200);
            let writer = DynamicsWriter::start(Arc::clone(&store), interval);
            let region = Uuid::from_u128(1);
            let queued_at = Instant::now();
            writer.queue(region, &sample(1, 1.0));
            writer.queue(region, &sample(2, 1.0));
            writer.queue(region, &sample(1, 77.0));
            assert_eq!(writer.pending_len(), 2, "the two states of object 1 coalesce");
            loop {
                let loaded = store.load_objects(region).expect("load");
                if loaded.len() == 2 {
                    let latest = loaded.iter().find(|o| o.id() == Uuid::from_u128(1)).expect("obj 1");
                    assert_eq!(latest.position.x, 77.0, "{kind}");
                    break;
                }
                // One interval plus generous slack for a busy 2-core machine.
                assert!(queued_at.elapsed() < interval + Duration::from_secs(2), "{kind}: not written in time");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    #[test]
    fn flush_commits_before_returning_and_drop_writes_the_rest() {
        for (kind, store, dir) in stores() {
            let hour = Duration::from_secs(3600);
            let writer = DynamicsWriter::start(Arc::clone(&store), hour);
            let region = Uuid::from_u128(1);
            writer.queue(region, &sample(1, 1.0));
            writer.flush().expect("flush");
            assert_eq!(writer.pending_len(), 0);
            assert_eq!(store.load_objects(region).expect("load"), vec![sample(1, 1.0)], "{kind}");
            writer.queue(region, &sample(1, 2.0));
            writer.queue(region, &sample(3, 2.0));
            drop(writer);
            assert_eq!(store.load_objects(region).expect("load"), vec![sample(1, 2.0), sample(3, 2.0)], "{kind}");
            if let Some(dir) = dir {
                drop(store);
                let reopened = Store::open(dir.path()).expect("reopen");
                assert_eq!(reopened.load_objects(region).expect("load").len(), 2);
            }
        }
    }

    #[test]
    fn forgotten_objects_are_not_written_back_after_delete() {
        for (kind, store, _dir) in stores() {
            let writer = DynamicsWriter::start(Arc::clone(&store), Duration::from_secs(3600));
            let (r1, r2) = (Uuid::from_u128(1), Uuid::from_u128(2));
            store.save_objects(r1, &[sample(1, 0.0), sample(2, 0.0)]).expect("save");
            writer.queue(r1, &sample(1, 5.0));
            writer.queue(r1, &sample(2, 5.0));
            writer.queue(r2, &sample(3, 5.0));
            writer.forget(r1, &[Uuid::from_u128(1)]);
            store.delete_objects(r1, &[Uuid::from_u128(1)]).expect("delete");
            writer.flush().expect("flush");
            let ids: Vec<Uuid> = store.load_objects(r1).expect("load").iter().map(|o| o.id()).collect();
            assert_eq!(ids, vec![Uuid::from_u128(2)], "{kind}");
            writer.queue(r2, &sample(4, 5.0));
            writer.forget_region(r2);
            drop(writer);
            assert_eq!(store.load_objects(r2).expect("load").len(), 1, "{kind}: only the flushed one");
        }
    }

    #[test]
    fn commits_are_timed_on_both_backends_and_reads_are_not() {
        for (kind, store, _dir) in crate::testing::stores() {
            let store = Arc::new(store);
            let region = Uuid::from_u128(7);
            let before = store.commit_timing().histogram();
            let writer = DynamicsWriter::start(Arc::clone(&store), Duration::from_secs(3600));
            writer.queue(region, &sample(1, 1.0));
            writer.flush().expect("flush");
            let after = store.commit_timing().histogram();
            assert_eq!(after.count, before.count + 1, "{kind}: the batch's commit is timed");
            assert!(after.sum_seconds > before.sum_seconds, "{kind}: its time is added");
            store.load_objects(region).expect("load");
            store.list_regions().expect("list");
            assert_eq!(store.commit_timing().histogram().count, after.count, "{kind}: reads are not timed");
            store.delete_objects(region, &[Uuid::from_u128(1)]).expect("delete");
            assert_eq!(store.commit_timing().histogram().count, after.count + 1, "{kind}: a delete is timed");
        }
    }

    #[test]
    fn the_lag_is_the_age_of_the_oldest_unwritten_change_and_commits_are_timed() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Arc::new(Store::open(dir.path()).expect("open"));
        // A long interval: only flush() writes.
        let writer = DynamicsWriter::start(Arc::clone(&store), Duration::from_secs(3600));
        assert_eq!(writer.lag(), Duration::ZERO);
        let region = Uuid::from_u128(1);
        let commits = store.commit_timing().histogram().count;
        writer.queue(region, &sample(1, 1.0));
        std::thread::sleep(Duration::from_millis(30));
        // A later change does not make the oldest younger.
        writer.queue(region, &sample(2, 1.0));
        assert!(writer.lag() >= Duration::from_millis(30), "{:?}", writer.lag());
        writer.flush().expect("flush");
        assert_eq!(writer.lag(), Duration::ZERO);
        assert_eq!(store.commit_timing().histogram().count, commits + 1, "the batch's commit is timed");
        // A read commits nothing.
        store.load_objects(region).expect("load");
        assert_eq!(store.commit_timing().histogram().count, commits + 1);
        writer.queue(region, &sample(3, 1.0));
        assert!(writer.lag() > Duration::ZERO);
        writer.forget(region, &[Uuid::from_u128(3)]);
        assert_eq!(writer.lag(), Duration::ZERO, "nothing left to write");
    }

    #[test]
    fn region_writes_are_fenced_by_the_lease_on_postgres() {
        use dispatcher_scene::{Sun, Terrain};
        use std::sync::Arc;
        let store = Arc::new(crate::testing::postgres());
        let (region, unheld) = (Uuid::from_u128(0xf1), Uuid::from_u128(0xf2));
        pg_execute(
            &store,
            &format!(
                "CREATE TABLE IF NOT EXISTS grid_leases (region_id TEXT PRIMARY KEY, host TEXT NOT NULL, epoch BIGINT NOT NULL, expires TIMESTAMPTZ NOT NULL);
                 INSERT INTO grid_leases VALUES ('{region}', 'a', 1, now() + interval '1 hour'), ('{unheld}', 'a', 1, now() + interval '1 hour')"
            ),
        );
        store.set_grid_host(Some("a".into()));
        store.hold_region(region, 1);
        let writer = DynamicsWriter::start(Arc::clone(&store), Duration::from_secs(3600));

        // Held: every write of the region commits.
        store
            .save_objects(region, &[sample(1, 0.0), sample(2, 0.0), sample(3, 0.0)])
            .expect("save");
        store.delete_objects(region, &[Uuid::from_u128(3)]).expect("delete");
        store.save_terrain(region, &Terrain::flat(4, 4, 1.0)).expect("terrain");
        store.save_sun(region, &Sun::default()).expect("sun");
        store.save_water_height(region, 20.0).expect("water");
        store
            .import_archive(region, |tx| tx.put_kept_member("settings/a.xml", b"a"))
            .expect("import");
        writer.queue(region, &sample(1, 5.0));
        writer.flush().expect("dynamics");
        let objects = store.load_objects(region).expect("load");
        assert_eq!(objects, vec![sample(1, 5.0), sample(2, 0.0)]);

        // A region this host never loaded is not written, nor a batch that includes it.
        let fenced = |r: Result<(), StoreError>, what: &str, id: Uuid| {
            assert!(matches!(r, Err(StoreError::Fenced(f)) if f == id), "{what}");
        };
        fenced(store.save_object(unheld, &sample(9, 0.0)), "unheld region", unheld);
        let batch = [
            encode_object(region, &sample(2, 7.0)).expect("encode"),
            encode_object(unheld, &sample(9, 0.0)).expect("encode"),
        ];
        fenced(store.write_encoded_objects(&batch), "mixed batch", unheld);
        assert_eq!(store.load_objects(region).expect("load"), objects, "all or nothing");
        assert!(store.load_objects(unheld).expect("load").is_empty());

        // Another host takes the region over at a higher epoch.
        pg_execute(&store, &format!("UPDATE grid_leases SET host = 'b', epoch = 2 WHERE region_id = '{region}'"));
        fenced(store.save_object(region, &sample(4, 0.0)), "save", region);
        fenced(store.save_objects(region, &[sample(1, 8.0)]), "save batch", region);
        fenced(store.delete_objects(region, &[Uuid::from_u128(1)]), "delete", region);
        fenced(store.delete_all_objects(region), "delete all", region);
        fenced(store.save_terrain(region, &Terrain::flat(8, 8, 9.0)), "terrain", region);
        fenced(
            store.save_sun(
                region,
                &Sun {
                    year_length_days: 2,
                    ..Sun::default()
                },
            ),
            "sun",
            region,
        );
        fenced(store.save_water_height(region, 1.0), "water", region);
        fenced(
            store.import_archive(region, |tx| {
                tx.clear_region()?;
                tx.put_kept_member("settings/b.xml", b"b")
            }),
            "import",
            region,
        );
        writer.queue(region, &sample(2, 6.0));
        fenced(writer.flush(), "dynamics", region);
        assert_eq!(writer.pending_len(), 1, "a refused batch stays queued");
        writer.forget_region(region);
        drop(writer);

        // Nothing changed.
        assert_eq!(store.load_objects(region).expect("load"), objects);
        assert_eq!(store.load_terrain(region).expect("terrain"), Some(Terrain::flat(4, 4, 1.0)));
        assert_eq!(store.load_sun(region).expect("sun"), Some(Sun::default()));
        assert_eq!(store.load_water_height(region).expect("water"), Some(20.0));
        assert_eq!(store.archive_members(region).expect("members"), vec![("settings/a.xml".to_string(), b"a".to_vec())]);
        // Assets and appearances belong to no region: not fenced.
        store.put_asset(&crash_asset(1)).expect("asset");
        store
            .save_appearance(Uuid::from_u128(5), &dispatcher_scene::Appearance::default())
            .expect("appearance");

        // Outside grid mode nothing is checked.
        store.set_grid_host(None);
        store.save_object(region, &sample(4, 0.0)).expect("not in grid mode");
    }
}
