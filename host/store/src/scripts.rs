//! Script records and their key-value storage (schema/scripts.sql).
//!
//! The runtime in `dispatcher-scripting` owns the rules (grants, quotas); this
//! module only stores what it is given, each write in one committed transaction.
//!
//! Components are reference counted by the script rows that name them: a new
//! script whose component (same hash) is already stored shares that asset, and
//! deleting the last script of an asset deletes the asset and gives the space
//! back. Storage use is charged as stored bytes: key, value and
//! [`STORAGE_ENTRY_OVERHEAD_BYTES`] per entry for the database's own record.

pub(crate) mod kv;
pub(crate) mod pg;

use dispatcher_scene::Asset;
use rusqlite::{params, OptionalExtension, Row};
use uuid::Uuid;

use crate::{Store, StoreError};

/// One persisted script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptRow {
    pub id: Uuid,
    pub region: String,
    pub object_id: Uuid,
    pub name: String,
    pub asset_id: Uuid,
    /// Hex SHA-256 of the component.
    pub hash: String,
    /// The account whose rights bound the script (its capability's user).
    pub uploader_id: Uuid,
    /// The owner of the script's object.
    pub owner_id: Uuid,
    /// Effective grants, space separated.
    pub grants: String,
    pub start_parameter: String,
    /// `running`, `stopped` or `faulted`.
    pub state: String,
    pub fault_reason: String,
}

fn uuid_col(row: &Row<'_>, i: usize) -> Result<Uuid, StoreError> {
    let bytes: Vec<u8> = row.get(i)?;
    Uuid::from_slice(&bytes).map_err(|_| StoreError::Corrupt(format!("script id column {i}: {} bytes", bytes.len())))
}

fn from_row(row: &Row<'_>) -> Result<ScriptRow, StoreError> {
    Ok(ScriptRow {
        id: uuid_col(row, 0)?,
        region: row.get(1)?,
        object_id: uuid_col(row, 2)?,
        name: row.get(3)?,
        asset_id: uuid_col(row, 4)?,
        hash: row.get(5)?,
        uploader_id: uuid_col(row, 6)?,
        owner_id: uuid_col(row, 7)?,
        grants: row.get(8)?,
        start_parameter: row.get(9)?,
        state: row.get(10)?,
        fault_reason: row.get(11)?,
    })
}

/// What one storage entry costs the database beyond its key and value: the
/// 16-byte script id repeated in every row, the record header and cell pointer,
/// and B-tree pages that are not full (measured: about 40 bytes per tiny entry
/// at ~70% page fill). Charged against the quota so that many tiny entries
/// cannot take many times the quota on disk. The same charge on PostgreSQL,
/// where a tiny entry takes about 130 bytes (heap tuple and primary-key index
/// entry): there entries at the quota take about twice the quota.
pub const STORAGE_ENTRY_OVERHEAD_BYTES: u64 = 64;

/// SQL for a script's charged storage bytes (?1 = script id).
const USAGE_SQL: &str = "SELECT COALESCE(SUM(LENGTH(CAST(key AS BLOB)) + LENGTH(value) + 64), 0) FROM script_storage WHERE script_id = ?1";

const COLUMNS: &str = "id, region, object_id, name, asset_id, hash, uploader_id, owner_id, grants, start_parameter, state, fault_reason";

impl Store {
    /// Stores a new script together with its component asset: both or
    /// neither. When a stored script already has a component with the same
    /// hash, the new script shares that asset and `component` is not written.
    /// Returns the asset id the script refers to (the row's `asset_id` is
    /// replaced by it).
    pub fn insert_script(&self, script: &ScriptRow, component: &Asset) -> Result<Uuid, StoreError> {
        if let Some(pg) = self.pg() {
            return pg::insert_script(pg, script, component);
        }
        self.with_conn(|conn| {
            let tx = conn.transaction()?;
            let shared: Option<Vec<u8>> = tx
                .prepare_cached("SELECT s.asset_id FROM scripts s JOIN assets a ON a.id = s.asset_id WHERE s.hash = ?1 LIMIT 1")?
                .query_row(params![script.hash], |r| r.get(0))
                .optional()?;
            let asset_id = match shared {
                Some(bytes) => {
                    Uuid::from_slice(&bytes).map_err(|_| StoreError::Corrupt(format!("script asset id: {} bytes", bytes.len())))?
                }
                None => {
                    crate::assets::put_asset_tx(&tx, component)?;
                    component.id
                }
            };
            tx.execute(
                &format!("INSERT INTO scripts ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"),
                params![
                    script.id.as_bytes(),
                    script.region,
                    script.object_id.as_bytes(),
                    script.name,
                    asset_id.as_bytes(),
                    script.hash,
                    script.uploader_id.as_bytes(),
                    script.owner_id.as_bytes(),
                    script.grants,
                    script.start_parameter,
                    script.state,
                    script.fault_reason,
                ],
            )?;
            tx.commit()?;
            Ok(asset_id)
        })
    }

    /// Points a script at a new component (a hot swap) with its new grants
    /// and start parameter, in one transaction: the component is shared with
    /// a stored script of the same hash or written; the previous asset is
    /// deleted when no script refers to it any more. Returns the asset id the
    /// script now refers to; `Ok(None)` when the script is not stored.
    pub fn replace_script_component(
        &self,
        id: Uuid,
        component: &Asset,
        hash: &str,
        grants: &str,
        start_parameter: &str,
    ) -> Result<Option<Uuid>, StoreError> {
        if let Some(pg) = self.pg() {
            return pg::replace_script_component(pg, id, component, hash, grants, start_parameter);
        }
        self.with_conn(|conn| {
            let tx = conn.transaction()?;
            let old: Option<Vec<u8>> = tx
                .prepare_cached("SELECT asset_id FROM scripts WHERE id = ?1")?
                .query_row(params![id.as_bytes()], |r| r.get(0))
                .optional()?;
            let Some(old) = old else {
                return Ok(None);
            };
            let shared: Option<Vec<u8>> = tx
                .prepare_cached("SELECT s.asset_id FROM scripts s JOIN assets a ON a.id = s.asset_id WHERE s.hash = ?1 LIMIT 1")?
                .query_row(params![hash], |r| r.get(0))
                .optional()?;
            let asset_id = match shared {
                Some(bytes) => {
                    Uuid::from_slice(&bytes).map_err(|_| StoreError::Corrupt(format!("script asset id: {} bytes", bytes.len())))?
                }
                None => {
                    crate::assets::put_asset_tx(&tx, component)?;
                    component.id
                }
            };
            tx.prepare_cached("UPDATE scripts SET asset_id = ?2, hash = ?3, grants = ?4, start_parameter = ?5 WHERE id = ?1")?
                .execute(params![id.as_bytes(), asset_id.as_bytes(), hash, grants, start_parameter])?;
            tx.prepare_cached("DELETE FROM assets WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM scripts WHERE asset_id = ?1)")?
                .execute(params![old])?;
            tx.commit()?;
            Ok(Some(asset_id))
        })
    }

    /// Every script, in upload order.
    pub fn list_scripts(&self) -> Result<Vec<ScriptRow>, StoreError> {
        if let Some(pg) = self.pg() {
            return pg::list_scripts(pg);
        }
        self.with_conn(|conn| {
            let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM scripts ORDER BY seq"))?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(from_row(row)?);
            }
            Ok(out)
        })
    }

    /// Records a state change (and the fault reason, empty unless faulted).
    pub fn set_script_state(&self, id: Uuid, state: &str, fault_reason: &str) -> Result<(), StoreError> {
        if let Some(pg) = self.pg() {
            return pg::set_script_state(pg, id, state, fault_reason);
        }
        self.with_conn(|conn| {
            conn.prepare_cached("UPDATE scripts SET state = ?2, fault_reason = ?3 WHERE id = ?1")?
                .execute(params![id.as_bytes(), state, fault_reason])?;
            Ok(())
        })
    }

    /// Removes a script and its storage, and its component asset when no
    /// other script refers to it; then gives the freed pages back to the file
    /// system. False when the script was not there.
    pub fn delete_script(&self, id: Uuid) -> Result<bool, StoreError> {
        if let Some(pg) = self.pg() {
            return pg::delete_script(pg, id);
        }
        self.with_conn(|conn| {
            let tx = conn.transaction()?;
            let asset: Option<Vec<u8>> = tx
                .prepare_cached("SELECT asset_id FROM scripts WHERE id = ?1")?
                .query_row(params![id.as_bytes()], |r| r.get(0))
                .optional()?;
            let Some(asset) = asset else {
                return Ok(false);
            };
            tx.prepare_cached("DELETE FROM scripts WHERE id = ?1")?
                .execute(params![id.as_bytes()])?;
            tx.prepare_cached("DELETE FROM assets WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM scripts WHERE asset_id = ?1)")?
                .execute(params![asset])?;
            tx.commit()?;
            if let Err(e) = crate::space::reclaim(conn) {
                tracing::warn!(error = %e, "cannot give freed database pages back");
            }
            Ok(true)
        })
    }

    /// Scripts that refer to a component asset.
    pub fn scripts_using_asset(&self, asset_id: Uuid) -> Result<u64, StoreError> {
        if let Some(pg) = self.pg() {
            return pg::scripts_using_asset(pg, asset_id);
        }
        self.with_conn(|conn| {
            let n: i64 = conn
                .prepare_cached("SELECT COUNT(*) FROM scripts WHERE asset_id = ?1")?
                .query_row(params![asset_id.as_bytes()], |r| r.get(0))?;
            Ok(n.max(0) as u64)
        })
    }

    pub fn script_storage_get(&self, id: Uuid, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.kv_get(KvTable::SCRIPTS, id, key)
    }

    /// Bytes charged for a script's storage: keys, values and
    /// [`STORAGE_ENTRY_OVERHEAD_BYTES`] per entry.
    pub fn script_storage_usage(&self, id: Uuid) -> Result<u64, StoreError> {
        if let Some(pg) = self.pg() {
            return kv::usage(pg, KvTable::SCRIPTS, id);
        }
        self.with_conn(|conn| {
            let used: i64 = conn.prepare_cached(USAGE_SQL)?.query_row(params![id.as_bytes()], |r| r.get(0))?;
            Ok(used.max(0) as u64)
        })
    }

    /// Sets `key` when the script's charged usage afterwards stays within
    /// `quota_bytes`; returns false (and changes nothing) otherwise. Check and
    /// write share one transaction so two writers cannot both squeeze under
    /// the quota.
    pub fn script_storage_set(&self, id: Uuid, key: &str, value: &[u8], quota_bytes: u64) -> Result<bool, StoreError> {
        self.kv_set(KvTable::SCRIPTS, id, key, value, quota_bytes)
    }

    pub fn script_storage_delete(&self, id: Uuid, key: &str) -> Result<(), StoreError> {
        self.kv_delete(KvTable::SCRIPTS, id, key)
    }

    /// Every key of a script, in ascending byte order.
    pub fn script_storage_keys(&self, id: Uuid) -> Result<Vec<String>, StoreError> {
        self.kv_keys(KvTable::SCRIPTS, id)
    }

    pub(crate) fn kv_get(&self, t: KvTable, id: Uuid, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(pg) = self.pg() {
            return kv::get(pg, t, id, key);
        }
        self.with_conn(|conn| {
            Ok(conn
                .prepare_cached(&format!("SELECT value FROM {} WHERE {} = ?1 AND key = ?2", t.table, t.owner))?
                .query_row(params![id.as_bytes(), key], |r| r.get(0))
                .optional()?)
        })
    }

    pub(crate) fn kv_set(&self, t: KvTable, id: Uuid, key: &str, value: &[u8], quota_bytes: u64) -> Result<bool, StoreError> {
        if let Some(pg) = self.pg() {
            return kv::set(pg, t, id, key, value, quota_bytes);
        }
        self.with_conn(|conn| {
            let tx = conn.transaction()?;
            let (used, old): (i64, i64) = tx.query_row(
                &format!(
                    "SELECT COALESCE(SUM(LENGTH(CAST(key AS BLOB)) + LENGTH(value) + ?3), 0),
                        COALESCE(SUM(CASE WHEN key = ?2 THEN LENGTH(CAST(key AS BLOB)) + LENGTH(value) + ?3 ELSE 0 END), 0)
                 FROM {} WHERE {} = ?1",
                    t.table, t.owner
                ),
                params![id.as_bytes(), key, STORAGE_ENTRY_OVERHEAD_BYTES as i64],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let after = (used - old).max(0) as u64 + key.len() as u64 + value.len() as u64 + STORAGE_ENTRY_OVERHEAD_BYTES;
            if after > quota_bytes {
                return Ok(false);
            }
            tx.execute(
                &format!(
                    "INSERT INTO {0} ({1}, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT ({1}, key) DO UPDATE SET value = excluded.value",
                    t.table, t.owner
                ),
                params![id.as_bytes(), key, value],
            )?;
            tx.commit()?;
            Ok(true)
        })
    }

    pub(crate) fn kv_delete(&self, t: KvTable, id: Uuid, key: &str) -> Result<(), StoreError> {
        if let Some(pg) = self.pg() {
            return kv::delete(pg, t, id, key);
        }
        self.with_conn(|conn| {
            conn.prepare_cached(&format!("DELETE FROM {} WHERE {} = ?1 AND key = ?2", t.table, t.owner))?
                .execute(params![id.as_bytes(), key])?;
            Ok(())
        })
    }

    pub(crate) fn kv_keys(&self, t: KvTable, id: Uuid) -> Result<Vec<String>, StoreError> {
        if let Some(pg) = self.pg() {
            return kv::keys(pg, t, id);
        }
        self.with_conn(|conn| {
            let mut stmt =
                conn.prepare_cached(&format!("SELECT key FROM {} WHERE {} = ?1 ORDER BY CAST(key AS BLOB)", t.table, t.owner))?;
            let keys = stmt
                .query_map(params![id.as_bytes()], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok(keys)
        })
    }
}

/// A key-value table: scripts' and extensions' storage share one shape.
#[derive(Clone, Copy)]
pub(crate) struct KvTable {
    pub table: &'static str,
    pub owner: &'static str,
}

impl KvTable {
    pub const SCRIPTS: KvTable = KvTable {
        table: "script_storage",
        owner: "script_id",
    };
    pub const EXTENSIONS: KvTable = KvTable {
        table: "extension_storage",
        owner: "extension_id",
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use dispatcher_scene::AssetType;

    fn row(id: u128) -> ScriptRow {
        ScriptRow {
            id: Uuid::from_u128(id),
            region: "R".into(),
            object_id: Uuid::from_u128(7),
            name: "s".into(),
            asset_id: Uuid::from_u128(id + 1000),
            hash: "ab".into(),
            uploader_id: Uuid::from_u128(1),
            owner_id: Uuid::from_u128(1),
            grants: "storage".into(),
            start_parameter: String::new(),
            state: "running".into(),
            fault_reason: String::new(),
        }
    }

    fn asset(id: Uuid) -> Asset {
        Asset {
            id,
            asset_type: AssetType::WasmComponent,
            name: "s".into(),
            description: String::new(),
            content_type: Some("application/wasm".into()),
            creator_id: String::new(),
            local: true,
            temporary: false,
            data: b"\0asm".to_vec(),
        }
    }

    /// Whether an asset row is there (read directly: the assets module has its
    /// own tests on both backends).
    fn has_asset(store: &Store, id: Uuid) -> bool {
        match store.pg() {
            Some(pg) => pg
                .block(async {
                    let client = pg.client().await?;
                    Ok::<_, StoreError>(client.query_opt("SELECT 1 FROM assets WHERE id = $1", &[&id]).await?.is_some())
                })
                .expect("asset query"),
            None => store.asset_exists(id).expect("exists"),
        }
    }

    #[test]
    fn a_replaced_component_keeps_storage_and_frees_the_old_asset() {
        for (_kind, store, _dir) in crate::testing::stores() {
            a_replaced_component_keeps_storage_and_frees_the_old_asset_on(&store);
        }
    }

    fn a_replaced_component_keeps_storage_and_frees_the_old_asset_on(store: &Store) {
        let r = row(1);
        store.insert_script(&r, &asset(r.asset_id)).expect("insert");
        assert!(store.script_storage_set(r.id, "count", b"3", 10_000).expect("set"));
        let new_asset = asset(Uuid::from_u128(99));
        let id = store
            .replace_script_component(r.id, &new_asset, "cd", "chat", "p")
            .expect("replace")
            .expect("stored");
        assert_eq!(id, new_asset.id);
        let rows = store.list_scripts().expect("list");
        assert_eq!((rows[0].asset_id, rows[0].hash.as_str(), rows[0].grants.as_str()), (id, "cd", "chat"));
        assert_eq!(rows[0].start_parameter, "p");
        assert!(!has_asset(store, r.asset_id), "old component freed");
        assert_eq!(store.script_storage_get(r.id, "count").expect("get"), Some(b"3".to_vec()));
        assert_eq!(
            store
                .replace_script_component(Uuid::from_u128(5), &new_asset, "cd", "", "")
                .expect("missing"),
            None
        );
    }

    #[test]
    fn scripts_and_storage_round_trip() {
        for (_kind, store, _dir) in crate::testing::stores() {
            scripts_and_storage_round_trip_on(&store);
        }
    }

    fn scripts_and_storage_round_trip_on(store: &Store) {
        let r = row(1);
        store.insert_script(&r, &asset(r.asset_id)).expect("insert");
        assert_eq!(store.list_scripts().expect("list"), vec![r.clone()]);
        assert!(has_asset(store, r.asset_id));
        store.set_script_state(r.id, "faulted", "trap").expect("state");
        assert_eq!(store.list_scripts().expect("list")[0].fault_reason, "trap");

        // Each entry is charged its key, its value and the per-entry overhead.
        assert!(store.script_storage_set(Uuid::from_u128(404), "b", b"22", 250).is_err(), "no such script");
        assert!(store.script_storage_set(r.id, "b", b"22", 250).expect("set"));
        assert!(store.script_storage_set(r.id, "a", b"1", 250).expect("set"));
        assert_eq!(store.script_storage_usage(r.id).expect("usage"), 5 + 2 * STORAGE_ENTRY_OVERHEAD_BYTES);
        assert!(!store.script_storage_set(r.id, "c", &[0; 96], 250).expect("over quota"));
        assert!(store.script_storage_set(r.id, "b", &[0; 115], 250).expect("replace within quota"));
        assert_eq!(store.script_storage_usage(r.id).expect("usage"), 250 - 4);
        assert_eq!(store.script_storage_keys(r.id).expect("keys"), vec!["a", "b"]);
        store.script_storage_delete(r.id, "a").expect("delete");
        assert_eq!(store.script_storage_get(r.id, "a").expect("get"), None);
        assert!(store.delete_script(r.id).expect("delete script"));
        assert_eq!(store.script_storage_keys(r.id).expect("keys"), Vec::<String>::new());
    }

    #[test]
    fn identical_components_share_one_asset_deleted_with_the_last_script() {
        for (_kind, store, _dir) in crate::testing::stores() {
            identical_components_share_one_asset_deleted_with_the_last_script_on(&store);
        }
    }

    fn identical_components_share_one_asset_deleted_with_the_last_script_on(store: &Store) {
        let (a, b) = (row(1), row(2));
        assert_eq!(store.insert_script(&a, &asset(a.asset_id)).expect("insert"), a.asset_id);
        // Same hash: b shares a's asset; its own asset is not written.
        assert_eq!(store.insert_script(&b, &asset(b.asset_id)).expect("insert"), a.asset_id);
        assert!(!has_asset(store, b.asset_id));
        assert_eq!(store.scripts_using_asset(a.asset_id).expect("count"), 2);
        assert!(store.delete_script(a.id).expect("delete"));
        assert!(has_asset(store, a.asset_id), "b still uses it");
        assert!(store.delete_script(b.id).expect("delete"));
        assert!(!has_asset(store, a.asset_id), "the last script took it along");
        assert!(!store.delete_script(b.id).expect("delete again"));
    }

    #[test]
    fn tiny_entries_at_quota_cost_about_the_quota_on_disk() {
        for (_kind, store, _dir) in crate::testing::stores() {
            tiny_entries_at_quota_cost_about_the_quota_on_disk_on(&store);
        }
    }

    fn tiny_entries_at_quota_cost_about_the_quota_on_disk_on(store: &Store) {
        let r = row(1);
        store.insert_script(&r, &asset(r.asset_id)).expect("insert");
        let before = store.disk_usage().expect("usage").used_bytes();
        let quota = 256 * 1024;
        let mut n = 0u32;
        // The cheapest entries a script can write: short keys, empty values.
        while store.script_storage_set(r.id, &format!("{n:x}"), b"", quota).expect("set") {
            n += 1;
        }
        let grown = store.disk_usage().expect("usage").used_bytes() - before;
        eprintln!("{n} entries at a quota of {quota} bytes took {grown} bytes of database");
        assert!(n > 1000, "{n} entries");
        // PostgreSQL stores a row less densely (24-byte tuple headers, a
        // separate primary-key index at ~70% fill after middle splits):
        // measured about 130 bytes per tiny entry (1.9 × the quota), plus
        // the free-space and visibility maps that autovacuum may add.
        let bound = if store.is_postgres() { 5 * quota / 2 } else { 2 * quota };
        assert!(grown <= bound, "{n} entries of {quota} bytes of quota took {grown} bytes");
        assert!(store.delete_script(r.id).expect("delete"));
        let after = store.disk_usage().expect("usage");
        // SQLite gives freed pages back at once; PostgreSQL leaves them to
        // (auto)vacuum and reports no free list.
        assert_eq!(after.free_pages, 0, "freed pages given back");
    }

    #[test]
    fn writes_of_a_script_are_fenced_by_its_regions_lease() {
        let (store, region) = crate::testing::postgres_holding_region();

        // Held: every write goes through.
        let r = row(1);
        store.insert_script(&r, &asset(r.asset_id)).expect("insert");
        assert!(store.script_storage_set(r.id, "k", b"v", 10_000).expect("set"));
        store.set_script_state(r.id, "stopped", "").expect("state");
        let scripts = store.list_scripts().expect("list");

        // Taken over by host b: every write is refused and nothing changes.
        crate::testing::take_over(&store, region);
        let fenced = |what: &str, r: Result<(), StoreError>| {
            assert!(matches!(r, Err(StoreError::Fenced(id)) if id == region), "{what}: {r:?}");
        };
        let other = row(2);
        fenced("insert", store.insert_script(&other, &asset(other.asset_id)).map(|_| ()));
        fenced("storage set", store.script_storage_set(r.id, "k", b"w", 10_000).map(|_| ()));
        fenced("storage delete", store.script_storage_delete(r.id, "k"));
        fenced("state", store.set_script_state(r.id, "running", ""));
        fenced(
            "swap",
            store
                .replace_script_component(r.id, &asset(Uuid::from_u128(99)), "cd", "", "")
                .map(|_| ()),
        );
        fenced("delete", store.delete_script(r.id).map(|_| ()));
        assert_eq!(store.list_scripts().expect("list"), scripts);
        assert_eq!(store.script_storage_get(r.id, "k").expect("get"), Some(b"v".to_vec()));
        assert!(has_asset(&store, r.asset_id));
        assert!(!has_asset(&store, Uuid::from_u128(99)));

        // A region this host no longer holds is fenced without asking the database.
        store.release_region(region);
        fenced("released", store.set_script_state(r.id, "running", ""));
    }

    #[test]
    fn concurrent_writers_cannot_both_squeeze_under_the_quota() {
        for (_kind, store, _dir) in crate::testing::stores() {
            concurrent_writers_cannot_both_squeeze_under_the_quota_on(&store);
        }
    }

    fn concurrent_writers_cannot_both_squeeze_under_the_quota_on(store: &Store) {
        let r = row(1);
        store.insert_script(&r, &asset(r.asset_id)).expect("insert");
        // Each entry costs 2 + 100 + 64 = 166 bytes: five fit under 900.
        let quota = 900;
        let accepted: usize = std::thread::scope(|s| {
            let writers: Vec<_> = (0..12)
                .map(|t| s.spawn(move || store.script_storage_set(r.id, &format!("k{t:x}"), &[1; 100], quota).expect("set")))
                .collect();
            writers.into_iter().map(|w| usize::from(w.join().expect("writer"))).sum()
        });
        assert_eq!(accepted, 5);
        assert_eq!(store.script_storage_usage(r.id).expect("usage"), 5 * 166);
    }

    #[test]
    fn a_shared_component_outlives_concurrent_deletes_of_its_other_scripts() {
        for (_kind, store, _dir) in crate::testing::stores() {
            a_shared_component_outlives_concurrent_deletes_of_its_other_scripts_on(&store);
        }
    }

    fn a_shared_component_outlives_concurrent_deletes_of_its_other_scripts_on(store: &Store) {
        // Each thread adds and removes scripts of one component, ending with
        // one stored: whatever the interleaving, every stored script's
        // component must still be there.
        std::thread::scope(|s| {
            for t in 0..6u128 {
                s.spawn(move || {
                    for j in 0..40u128 {
                        let r = row(100 * t + j + 1);
                        store.insert_script(&r, &asset(r.asset_id)).expect("insert");
                        if j < 39 {
                            assert!(store.delete_script(r.id).expect("delete"));
                        }
                    }
                });
            }
        });
        let scripts = store.list_scripts().expect("list");
        assert_eq!(scripts.len(), 6);
        for sc in &scripts {
            assert!(has_asset(store, sc.asset_id), "script {} lost its component {}", sc.id, sc.asset_id);
        }
    }
}
