//! The database: the embedded SQLite (WAL mode, bundled library; the default)
//! or PostgreSQL (grid mode, [`Store::open_postgres`]), one interface for both.
//!
//! Owns the schema and its migrations and every durable write. A write returns
//! only after its transaction has committed, so anything acknowledged to a
//! caller survives a crash. Several processes may open the same data directory
//! (the `dispatcher user ...` commands next to a running `serve`): SQLite's
//! locking serialises them and a busy timeout absorbs short waits.
//!
//! Each operation has its SQLite form in its module (`objects.rs`, …) and its
//! PostgreSQL form in `pg/` under the same module name; the public method
//! picks by backend. In grid mode the PostgreSQL writes of a region's state are
//! fenced by the region's lease epoch (`pg/fence.rs`).

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
mod pg;
mod region_state;
mod regions;
mod scripts;
mod space;
mod timing;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rusqlite::Connection;
use uuid::Uuid;

pub use accounts::{Account, NewAccount};
pub use archive::ArchiveImport;
pub use dynamics::{DynamicsWriter, DEFAULT_DYNAMICS_FLUSH_INTERVAL};
pub use error::StoreError;
pub use extensions::ExtensionRow;
pub use objects::encode_scene_object;
pub use pg::{FenceListener, PgOptions};
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

/// A handle on the database. With SQLite, cheap operations take the
/// connection's lock for their duration; with PostgreSQL each takes a pooled
/// connection.
pub struct Store {
    backend: Backend,
    path: PathBuf,
    /// The commit latency histogram (`/metrics`).
    timing: CommitTiming,
}

enum Backend {
    Sqlite(Mutex<Connection>),
    Postgres(pg::Postgres),
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
            backend: Backend::Sqlite(Mutex::new(conn)),
            path,
            timing: CommitTiming::default(),
        })
    }

    /// Connect to PostgreSQL at `url` (`postgresql://user:password@host:port/db`)
    /// and create or migrate the schema. Fails within `options.connect_timeout`
    /// when the server cannot be reached.
    pub fn open_postgres(url: &str, options: &PgOptions) -> Result<Store, StoreError> {
        let pg = pg::Postgres::connect(url, options)?;
        Ok(Store {
            backend: Backend::Postgres(pg),
            path: PathBuf::new(),
            timing: CommitTiming::default(),
        })
    }

    /// The SQLite database file (empty for PostgreSQL).
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// Grid mode: this host's name in `grid_leases`. From now on every
    /// PostgreSQL write of a region's state commits only while this host holds
    /// the region at the epoch given to [`Store::hold_region`].
    pub fn set_grid_host(&self, host: Option<String>) {
        if let Some(pg) = self.pg() {
            pg.fences.set_host(host);
        }
    }

    /// Grid mode: `listener` is told the region of every write the fence
    /// refuses (the host then drops that region at once).
    pub fn on_fenced(&self, listener: Option<FenceListener>) {
        if let Some(pg) = self.pg() {
            pg.fences.set_listener(listener);
        }
    }

    /// Grid mode: this host now holds `region_id` at lease `epoch`.
    pub fn hold_region(&self, region_id: Uuid, epoch: i64) {
        if let Some(pg) = self.pg() {
            pg.fences.hold(region_id, epoch);
        }
    }

    /// Grid mode: this host no longer holds `region_id`; its writes are refused.
    pub fn release_region(&self, region_id: Uuid) {
        if let Some(pg) = self.pg() {
            pg.fences.release(region_id);
        }
    }

    pub(crate) fn pg(&self) -> Option<&pg::Postgres> {
        match &self.backend {
            Backend::Postgres(pg) => Some(pg),
            Backend::Sqlite(_) => None,
        }
    }

    /// Run `f` with the SQLite connection (for benches and crates that keep
    /// their SQL next to their model). Not available on PostgreSQL.
    pub fn with_conn<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        match &self.backend {
            Backend::Sqlite(conn) => timed(&self.timing, &mut conn.lock(), f),
            Backend::Postgres(_) => Err(StoreError::Invalid("this operation is not available on PostgreSQL".into())),
        }
    }

    /// Time of each committing store call (`/metrics`), on either backend
    /// (PostgreSQL: `Postgres::write`, the call's whole round trip).
    pub fn commit_timing(&self) -> &CommitTiming {
        match &self.backend {
            Backend::Postgres(pg) => &pg.timing,
            Backend::Sqlite(_) => &self.timing,
        }
    }

    pub(crate) fn sqlite(&self) -> Option<&Mutex<Connection>> {
        match &self.backend {
            Backend::Sqlite(conn) => Some(conn),
            Backend::Postgres(_) => None,
        }
    }
}

/// Store tests run against both backends: SQLite in a temporary directory and
/// PostgreSQL in a fresh database on the test process's shared server
/// (dispatcher-pgtest).
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// A store of each kind; the temporary directory lives as long as the store.
    pub(crate) fn stores() -> Vec<(&'static str, Store, Option<tempfile::TempDir>)> {
        let dir = tempfile::tempdir().expect("tmp");
        let sqlite = Store::open(dir.path()).expect("open sqlite");
        vec![("sqlite", sqlite, Some(dir)), ("postgres", postgres(), None)]
    }

    pub(crate) fn postgres() -> Store {
        let server = dispatcher_pgtest::PgServer::shared().expect("PostgreSQL for tests");
        let url = server.fresh_database().expect("database");
        Store::open_postgres(&url, &PgOptions::default()).expect("open postgres")
    }

    /// A PostgreSQL store of grid host `a`, holding the lease of its region
    /// `R` at epoch 1 (the grid's lease table made by hand).
    pub(crate) fn postgres_holding_region() -> (Store, Uuid) {
        let store = postgres();
        let region = store
            .create_region(&NewRegion {
                name: "R".into(),
                owner: Uuid::from_u128(1),
                ..Default::default()
            })
            .expect("region");
        objects::tests::pg_execute(
            &store,
            &format!(
                "CREATE TABLE IF NOT EXISTS grid_leases (region_id TEXT PRIMARY KEY, host TEXT NOT NULL, epoch BIGINT NOT NULL, expires TIMESTAMPTZ NOT NULL);
                 INSERT INTO grid_leases VALUES ('{}', 'a', 1, now() + interval '1 hour')",
                region.id
            ),
        );
        store.set_grid_host(Some("a".into()));
        store.hold_region(region.id, 1);
        (store, region.id)
    }

    /// Host `b` takes `region`'s lease over (epoch 2).
    pub(crate) fn take_over(store: &Store, region: Uuid) {
        objects::tests::pg_execute(store, &format!("UPDATE grid_leases SET host = 'b', epoch = 2 WHERE region_id = '{region}'"));
    }
}
