//! The embedded database (SQLite in WAL mode, bundled library).
//!
//! Owns the schema and its migrations and every durable write. A write returns
//! only after its transaction has committed, so anything acknowledged to a
//! caller survives a crash. Several processes may open the same data directory
//! (the `dispatcher user ...` commands next to a running `serve`): SQLite's
//! locking serialises them and a busy timeout absorbs short waits.

mod accounts;
mod appearance;
mod archive;
mod assets;
mod dynamics;
mod error;
mod extensions;
mod inventory;
mod migrations;
mod objects;
mod region_state;
mod regions;
mod scripts;
mod space;
mod timing;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rusqlite::Connection;

pub use accounts::{Account, NewAccount};
pub use archive::ArchiveImport;
pub use dynamics::{DynamicsWriter, DEFAULT_DYNAMICS_FLUSH_INTERVAL};
pub use error::StoreError;
pub use extensions::ExtensionRow;
pub use regions::{NewRegion, Region};
pub use scripts::{ScriptRow, STORAGE_ENTRY_OVERHEAD_BYTES};
pub use space::DiskUsage;
pub use timing::{CommitHistogram, CommitTiming, COMMIT_BUCKETS};

/// Run `f` on the connection and, when it succeeded having changed rows (so
/// committed a write), observe its time in the commit latency histogram.
pub(crate) fn timed<T, E>(timing: &CommitTiming, conn: &mut Connection, f: impl FnOnce(&mut Connection) -> Result<T, E>) -> Result<T, E> {
    let before = conn.total_changes();
    let started = Instant::now();
    let result = f(conn);
    if result.is_ok() && conn.total_changes() != before {
        timing.observe(started.elapsed());
    }
    result
}

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "dispatcher.db";

/// How long a write waits for another process's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A handle on the database. Cheap operations take the connection's lock for
/// their duration; long scans should not be added here without a reader pool.
pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
    /// The commit latency histogram (`/metrics`).
    timing: CommitTiming,
}

impl Store {
    /// Open (creating if needed) the database in `data_dir` and migrate it.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| StoreError::Io(data_dir.to_path_buf(), e))?;
        let path = data_dir.join(DB_FILE);
        let mut conn = Connection::open(&path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        space::enable_incremental_vacuum(&conn)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // After a checkpoint the write-ahead log is cut back to this size
        // instead of keeping its largest size on disk.
        conn.pragma_update(None, "journal_size_limit", space::WAL_SIZE_LIMIT_BYTES)?;
        // FULL: a commit is on disk before the call returns, even across power loss.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrations::migrate(&mut conn)?;
        Ok(Store {
            conn: Mutex::new(conn),
            path,
            timing: CommitTiming::default(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `f` with the connection (for crates that add their own tables through
    /// [`migrations`] and keep their SQL next to their model).
    pub fn with_conn<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut conn = self.conn.lock();
        timed(&self.timing, &mut conn, f)
    }

    /// Time of each committing store call (`/metrics`).
    pub fn commit_timing(&self) -> &CommitTiming {
        &self.timing
    }
}
