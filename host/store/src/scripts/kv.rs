//! Scripts' and extensions' key-value storage on PostgreSQL (see
//! `Store::kv_set` in `scripts.rs` for the SQLite form). Usage is charged as
//! there: key and value bytes plus [`STORAGE_ENTRY_OVERHEAD_BYTES`] per entry.
//!
//! A write first locks its owner's row (`FOR NO KEY UPDATE`), so two writers
//! of one owner run one after the other and cannot both squeeze under the
//! quota. A script's storage is its region's state: its writes are fenced
//! through the script's region (`check_named`). So is a region extension's
//! (its scope names the region; it runs only on the lease's holder); a
//! host-wide extension (empty scope) runs on every host and is not fenced.

use deadpool_postgres::Transaction;
use uuid::Uuid;

use crate::pg::Postgres;
use crate::scripts::KvTable;
use crate::{StoreError, STORAGE_ENTRY_OVERHEAD_BYTES};

/// The query that locks a storage table's owner row and reads the region
/// whose lease fences its writes (empty: none).
fn owner_query(t: KvTable) -> &'static str {
    if t.table == KvTable::SCRIPTS.table {
        "SELECT region FROM scripts WHERE id = $1 FOR NO KEY UPDATE"
    } else {
        "SELECT scope FROM extensions WHERE id = $1 FOR NO KEY UPDATE"
    }
}

/// Locks the owner row and checks the fence; `false` when there is no owner.
async fn lock_owner(pg: &Postgres, tx: &Transaction<'_>, t: KvTable, id: Uuid) -> Result<bool, StoreError> {
    let Some(row) = tx.query_opt(&tx.prepare_cached(owner_query(t)).await?, &[&id]).await? else {
        return Ok(false);
    };
    let region: String = row.try_get(0)?;
    if !region.is_empty() {
        pg.fences.check_named(&**tx, &region).await?;
    }
    Ok(true)
}

pub(crate) fn get(pg: &Postgres, t: KvTable, id: Uuid, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
    pg.block(async {
        let client = pg.client().await?;
        let row = client
            .query_opt(
                &client
                    .prepare_cached(&format!("SELECT value FROM {} WHERE {} = $1 AND key = $2", t.table, t.owner))
                    .await?,
                &[&id, &key],
            )
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    })
}

pub(crate) fn usage(pg: &Postgres, t: KvTable, id: Uuid) -> Result<u64, StoreError> {
    pg.block(async {
        let client = pg.client().await?;
        let used: i64 = client
            .query_one(
                &client
                    .prepare_cached(&format!(
                        "SELECT COALESCE(SUM(octet_length(key) + octet_length(value) + $2::int8), 0)::int8 FROM {} WHERE {} = $1",
                        t.table, t.owner
                    ))
                    .await?,
                &[&id, &(STORAGE_ENTRY_OVERHEAD_BYTES as i64)],
            )
            .await?
            .try_get(0)?;
        Ok(used.max(0) as u64)
    })
}

pub(crate) fn set(pg: &Postgres, t: KvTable, id: Uuid, key: &str, value: &[u8], quota_bytes: u64) -> Result<bool, StoreError> {
    pg.write(async {
        let mut client = pg.client().await?;
        let tx = client.transaction().await?;
        if !lock_owner(pg, &tx, t, id).await? {
            return Err(StoreError::NotFound(format!("no owner {id} of {} entries", t.table)));
        }
        let overhead = STORAGE_ENTRY_OVERHEAD_BYTES as i64;
        let row = tx
            .query_one(
                &tx.prepare_cached(&format!(
                    "SELECT COALESCE(SUM(octet_length(key) + octet_length(value) + $3::int8), 0)::int8,
                        COALESCE(SUM(CASE WHEN key = $2 THEN octet_length(key) + octet_length(value) + $3::int8 ELSE 0 END), 0)::int8
                     FROM {} WHERE {} = $1",
                    t.table, t.owner
                ))
                .await?,
                &[&id, &key, &overhead],
            )
            .await?;
        let (used, old): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
        let after = (used - old).max(0) as u64 + key.len() as u64 + value.len() as u64 + STORAGE_ENTRY_OVERHEAD_BYTES;
        if after > quota_bytes {
            return Ok(false);
        }
        tx.execute(
            &tx.prepare_cached(&format!(
                "INSERT INTO {0} ({1}, key, value) VALUES ($1, $2, $3)
                 ON CONFLICT ({1}, key) DO UPDATE SET value = excluded.value",
                t.table, t.owner
            ))
            .await?,
            &[&id, &key, &value],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    })
}

pub(crate) fn delete(pg: &Postgres, t: KvTable, id: Uuid, key: &str) -> Result<(), StoreError> {
    pg.write(async {
        let mut client = pg.client().await?;
        let tx = client.transaction().await?;
        if !lock_owner(pg, &tx, t, id).await? {
            return Ok(());
        }
        tx.execute(
            &tx.prepare_cached(&format!("DELETE FROM {} WHERE {} = $1 AND key = $2", t.table, t.owner))
                .await?,
            &[&id, &key],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    })
}

/// Every key of an owner in ascending byte order (`COLLATE "C"` compares
/// UTF-8 text bytewise, as SQLite's `CAST(key AS BLOB)`).
pub(crate) fn keys(pg: &Postgres, t: KvTable, id: Uuid) -> Result<Vec<String>, StoreError> {
    pg.block(async {
        let client = pg.client().await?;
        let rows = client
            .query(
                &client
                    .prepare_cached(&format!("SELECT key FROM {} WHERE {} = $1 ORDER BY key COLLATE \"C\"", t.table, t.owner))
                    .await?,
                &[&id],
            )
            .await?;
        Ok(rows.iter().map(|r| r.try_get(0)).collect::<Result<Vec<String>, _>>()?)
    })
}
