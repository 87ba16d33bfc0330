//! Giving disk space back. Deleted rows leave free pages inside the database
//! file; with `auto_vacuum = INCREMENTAL` they can be cut off the end of the
//! file (`PRAGMA incremental_vacuum`), and a `TRUNCATE` checkpoint empties the
//! write-ahead log. Deletes of large rows (script components, a script's
//! storage) call [`Store::reclaim`] so the file shrinks when they are gone.

pub(crate) mod pg;

use rusqlite::Connection;

use crate::{Store, StoreError};

/// The write-ahead log is cut back to this size after a checkpoint.
pub const WAL_SIZE_LIMIT_BYTES: i64 = 1024 * 1024;

/// `PRAGMA auto_vacuum` value of INCREMENTAL.
const AUTO_VACUUM_INCREMENTAL: i64 = 2;

/// Pages of the database file and of its free list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskUsage {
    pub page_size: u64,
    pub pages: u64,
    pub free_pages: u64,
}

impl DiskUsage {
    /// Bytes in pages that hold data.
    pub fn used_bytes(&self) -> u64 {
        (self.pages - self.free_pages.min(self.pages)) * self.page_size
    }
}

/// Make sure free pages can be given back. A new database gets the setting
/// before its first table; an existing one without it is converted once by a
/// full `VACUUM` (a rewrite of the file; skipped with a warning when another
/// process holds the database, and tried again at the next open).
pub(crate) fn enable_incremental_vacuum(conn: &Connection) -> Result<(), StoreError> {
    let mode: i64 = conn.pragma_query_value(None, "auto_vacuum", |r| r.get(0))?;
    if mode == AUTO_VACUUM_INCREMENTAL {
        return Ok(());
    }
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    let tables: i64 = conn.query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get(0))?;
    if tables > 0 {
        if let Err(e) = conn.execute_batch("VACUUM") {
            tracing::warn!(error = %e, "cannot convert the database to incremental vacuum now; free pages stay in the file");
        }
    }
    Ok(())
}

/// Cut free pages off the database file and empty the write-ahead log.
pub(crate) fn reclaim(conn: &Connection) -> Result<u64, StoreError> {
    let free: i64 = conn.pragma_query_value(None, "freelist_count", |r| r.get(0))?;
    if free == 0 {
        return Ok(0);
    }
    {
        // One step frees one page: run the statement to its end.
        let mut stmt = conn.prepare("PRAGMA incremental_vacuum")?;
        let mut rows = stmt.query([])?;
        while rows.next()?.is_some() {}
    }
    let mut stmt = conn.prepare("PRAGMA wal_checkpoint(TRUNCATE)")?;
    let mut rows = stmt.query([])?;
    while rows.next()?.is_some() {}
    Ok(free.max(0) as u64)
}

impl Store {
    /// Give the free pages of the database back to the file system; returns
    /// how many pages were free.
    pub fn reclaim(&self) -> Result<u64, StoreError> {
        if let Some(pg) = self.pg() {
            return pg::reclaim(pg);
        }
        self.with_conn(|conn| reclaim(conn))
    }

    /// Pages in use and free.
    pub fn disk_usage(&self) -> Result<DiskUsage, StoreError> {
        if let Some(pg) = self.pg() {
            return pg::disk_usage(pg);
        }
        self.with_conn(|conn| {
            let q = |name: &str| -> Result<u64, StoreError> {
                let v: i64 = conn.pragma_query_value(None, name, |r| r.get(0))?;
                Ok(v.max(0) as u64)
            };
            Ok(DiskUsage {
                page_size: q("page_size")?,
                pages: q("page_count")?,
                free_pages: q("freelist_count")?,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dispatcher_scene::{Asset, AssetType};
    use uuid::Uuid;

    fn file_bytes(store: &Store) -> u64 {
        let db = std::fs::metadata(store.path()).map(|m| m.len()).unwrap_or(0);
        let wal = std::fs::metadata(store.path().with_extension("db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
        db + wal
    }

    #[test]
    fn deleted_space_goes_back_to_the_file_system() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path()).expect("open");
        let start = file_bytes(&store);
        let asset = Asset::from_type(Uuid::from_u128(1), AssetType::Texture, vec![7; 4_000_000]);
        store.put_asset(&asset).expect("put");
        store.with_conn(|c| Ok(c.execute("DELETE FROM assets", [])?)).expect("delete");
        assert!(store.disk_usage().expect("usage").free_pages > 900);
        assert!(store.reclaim().expect("reclaim") > 900);
        assert_eq!(store.disk_usage().expect("usage").free_pages, 0);
        let end = file_bytes(&store);
        assert!(end < start + 256 * 1024, "{start} -> {end} bytes");
    }

    #[test]
    fn an_existing_database_is_converted_once() {
        let dir = tempfile::tempdir().expect("tmp");
        {
            let conn = Connection::open(dir.path().join(crate::DB_FILE)).expect("open");
            conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE old (x);")
                .expect("old db");
        }
        let store = Store::open(dir.path()).expect("open");
        let mode: i64 = store
            .with_conn(|c| Ok(c.pragma_query_value(None, "auto_vacuum", |r| r.get(0))?))
            .expect("mode");
        assert_eq!(mode, AUTO_VACUUM_INCREMENTAL);
    }

    #[test]
    fn postgres_reports_the_database_size_and_vacuum_gives_space_back() {
        let store = crate::testing::postgres();
        let pg = store.pg().expect("pg");
        let sql = |q: &str| {
            pg.block(async {
                pg.client().await?.batch_execute(q).await?;
                Ok::<_, StoreError>(())
            })
            .expect("sql")
        };
        let start = store.disk_usage().expect("usage");
        assert_eq!(start.page_size, 8192);
        assert_eq!(start.free_pages, 0);
        // 4 MB of incompressible data (md5 hex of a series, decoded) in one asset.
        sql("INSERT INTO assets SELECT gen_random_uuid(), 0, 'n', 'd', NULL, '', true, false,
                 decode(string_agg(md5(i::text), ''), 'hex') FROM generate_series(1, 250000) AS i");
        let full = store.disk_usage().expect("usage");
        assert!(full.used_bytes() > start.used_bytes() + 3_000_000, "{start:?} -> {full:?}");
        sql("DELETE FROM assets");
        let freed = store.reclaim().expect("reclaim");
        let end = store.disk_usage().expect("usage");
        assert!(freed > 300, "{freed} pages given back: {full:?} -> {end:?}");
        assert!(end.used_bytes() < start.used_bytes() + 512 * 1024, "{start:?} -> {end:?}");
    }
}
