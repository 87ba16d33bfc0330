//! Extension records and their key-value storage (schema/extensions.sql).
//!
//! The runtime in `dispatcher-scripting` owns the rules (install checks,
//! grants, quotas); this module stores what it is given, each write in one
//! committed transaction. An update replaces the component, grants and config
//! of a record and keeps its storage.

pub(crate) mod pg;

use rusqlite::{params, Row};
use uuid::Uuid;

use crate::scripts::KvTable;
use crate::{Store, StoreError};

/// One persisted extension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtensionRow {
    pub id: Uuid,
    pub domain: String,
    /// A region name, or empty for the whole host.
    pub scope: String,
    /// Hex SHA-256 of the component.
    pub hash: String,
    pub component: Vec<u8>,
    /// Effective grants, space separated.
    pub grants: String,
    pub config: String,
    /// `running`, `stopped` or `faulted`.
    pub state: String,
    pub fault_reason: String,
    pub installer_id: Uuid,
}

fn uuid_col(row: &Row<'_>, i: usize) -> Result<Uuid, StoreError> {
    let bytes: Vec<u8> = row.get(i)?;
    Uuid::from_slice(&bytes).map_err(|_| StoreError::Corrupt(format!("extension id column {i}: {} bytes", bytes.len())))
}

fn from_row(row: &Row<'_>) -> Result<ExtensionRow, StoreError> {
    Ok(ExtensionRow {
        id: uuid_col(row, 0)?,
        domain: row.get(1)?,
        scope: row.get(2)?,
        hash: row.get(3)?,
        component: row.get(4)?,
        grants: row.get(5)?,
        config: row.get(6)?,
        state: row.get(7)?,
        fault_reason: row.get(8)?,
        installer_id: uuid_col(row, 9)?,
    })
}

const COLUMNS: &str = "id, domain, scope, hash, component, grants, config, state, fault_reason, installer_id";

impl Store {
    pub fn insert_extension(&self, e: &ExtensionRow) -> Result<(), StoreError> {
        if let Some(pg) = self.pg() {
            return pg::insert_extension(pg, e);
        }
        self.with_conn(|conn| {
            conn.execute(
                &format!("INSERT INTO extensions ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
                params![
                    e.id.as_bytes(),
                    e.domain,
                    e.scope,
                    e.hash,
                    e.component,
                    e.grants,
                    e.config,
                    e.state,
                    e.fault_reason,
                    e.installer_id.as_bytes()
                ],
            )?;
            Ok(())
        })
    }

    /// Replace the component, grants and config of an extension (update); its
    /// storage stays.
    pub fn update_extension(&self, e: &ExtensionRow) -> Result<bool, StoreError> {
        if let Some(pg) = self.pg() {
            return pg::update_extension(pg, e);
        }
        self.with_conn(|conn| {
            let n = conn.execute(
                "UPDATE extensions SET hash = ?2, component = ?3, grants = ?4, config = ?5, state = ?6, fault_reason = ?7 WHERE id = ?1",
                params![e.id.as_bytes(), e.hash, e.component, e.grants, e.config, e.state, e.fault_reason],
            )?;
            Ok(n > 0)
        })
    }

    pub fn list_extensions(&self) -> Result<Vec<ExtensionRow>, StoreError> {
        if let Some(pg) = self.pg() {
            return pg::list_extensions(pg);
        }
        self.with_conn(|conn| {
            let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM extensions ORDER BY seq"))?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(from_row(row)?);
            }
            Ok(out)
        })
    }

    pub fn set_extension_state(&self, id: Uuid, state: &str, fault_reason: &str) -> Result<(), StoreError> {
        if let Some(pg) = self.pg() {
            return pg::set_extension_state(pg, id, state, fault_reason);
        }
        self.with_conn(|conn| {
            conn.execute(
                "UPDATE extensions SET state = ?2, fault_reason = ?3 WHERE id = ?1",
                params![id.as_bytes(), state, fault_reason],
            )?;
            Ok(())
        })
    }

    /// Delete an extension and its storage.
    pub fn delete_extension(&self, id: Uuid) -> Result<bool, StoreError> {
        if let Some(pg) = self.pg() {
            return pg::delete_extension(pg, id);
        }
        self.with_conn(|conn| {
            let tx = conn.transaction()?;
            tx.execute("DELETE FROM extension_storage WHERE extension_id = ?1", params![id.as_bytes()])?;
            let n = tx.execute("DELETE FROM extensions WHERE id = ?1", params![id.as_bytes()])?;
            tx.commit()?;
            Ok(n > 0)
        })
    }

    pub fn extension_storage_get(&self, id: Uuid, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.kv_get(KvTable::EXTENSIONS, id, key)
    }

    /// As `script_storage_set`: false (nothing written) over the quota.
    pub fn extension_storage_set(&self, id: Uuid, key: &str, value: &[u8], quota_bytes: u64) -> Result<bool, StoreError> {
        self.kv_set(KvTable::EXTENSIONS, id, key, value, quota_bytes)
    }

    pub fn extension_storage_delete(&self, id: Uuid, key: &str) -> Result<(), StoreError> {
        self.kv_delete(KvTable::EXTENSIONS, id, key)
    }

    pub fn extension_storage_keys(&self, id: Uuid) -> Result<Vec<String>, StoreError> {
        self.kv_keys(KvTable::EXTENSIONS, id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(id: u128, domain: &str, scope: &str) -> ExtensionRow {
        ExtensionRow {
            id: Uuid::from_u128(id),
            domain: domain.into(),
            scope: scope.into(),
            hash: "ab".into(),
            component: vec![0, 97, 115, 109, id as u8],
            grants: "storage".into(),
            config: "{}".into(),
            state: "running".into(),
            fault_reason: String::new(),
            installer_id: Uuid::from_u128(7),
        }
    }

    #[test]
    fn extensions_and_storage_round_trip() {
        for (_kind, store, _dir) in crate::testing::stores() {
            extensions_and_storage_round_trip_on(&store);
        }
    }

    fn extensions_and_storage_round_trip_on(store: &Store) {
        let (b, a) = (ext(1, "b.example", ""), ext(2, "a.example", "R"));
        store.insert_extension(&b).expect("insert b");
        store.insert_extension(&a).expect("insert a");
        let clash = store.insert_extension(&ext(3, "b.example", ""));
        assert!(clash.is_err(), "same domain and scope");
        if store.is_postgres() {
            assert!(matches!(clash, Err(StoreError::Conflict(_))), "{clash:?}");
        }
        store.insert_extension(&ext(4, "b.example", "R")).expect("same domain, other scope");
        let listed: Vec<Uuid> = store.list_extensions().expect("list").iter().map(|e| e.id).collect();
        assert_eq!(listed, vec![b.id, a.id, Uuid::from_u128(4)], "install order");

        // Storage: charged like scripts', kept across an update.
        assert!(store.extension_storage_set(b.id, "z", b"1", 200).expect("set"));
        assert!(store.extension_storage_set(b.id, "Z", b"22", 200).expect("set"));
        assert!(!store.extension_storage_set(b.id, "y", &[0; 64], 200).expect("over quota"));
        assert_eq!(store.extension_storage_keys(b.id).expect("keys"), vec!["Z", "z"], "byte order");
        let updated = ExtensionRow {
            hash: "cd".into(),
            component: vec![1, 2, 3],
            grants: "chat".into(),
            config: "{\"x\":1}".into(),
            ..b.clone()
        };
        assert!(store.update_extension(&updated).expect("update"));
        assert!(!store.update_extension(&ext(9, "c.example", "")).expect("update missing"));
        store.set_extension_state(b.id, "faulted", "trap").expect("state");
        let stored = store.list_extensions().expect("list").remove(0);
        assert_eq!(
            stored,
            ExtensionRow {
                state: "faulted".into(),
                fault_reason: "trap".into(),
                ..updated
            }
        );
        assert_eq!(store.extension_storage_get(b.id, "z").expect("get"), Some(b"1".to_vec()));
        store.extension_storage_delete(b.id, "z").expect("delete key");
        assert_eq!(store.extension_storage_get(b.id, "z").expect("get"), None);

        // Deleting an extension takes its storage along.
        assert!(store.delete_extension(b.id).expect("delete"));
        assert!(!store.delete_extension(b.id).expect("delete again"));
        assert_eq!(store.extension_storage_keys(b.id).expect("keys"), Vec::<String>::new());
        assert_eq!(store.list_extensions().expect("list").len(), 2);
    }

    /// A region extension runs only on the holder of its region's lease, so
    /// its storage writes are fenced like the region's scripts': a host
    /// paused past its lease (`SIGSTOP`) cannot overwrite what the new owner's
    /// instance wrote. A host-wide extension (empty scope) runs on every host
    /// and is never fenced.
    #[test]
    fn storage_writes_of_a_region_extension_are_fenced_by_the_regions_lease() {
        let (store, region) = crate::testing::postgres_holding_region();
        let (regional, wide) = (ext(1, "r.example", "R"), ext(2, "w.example", ""));
        store.insert_extension(&regional).expect("insert");
        store.insert_extension(&wide).expect("insert");

        // Held: both write.
        assert!(store.extension_storage_set(regional.id, "k", b"v", 10_000).expect("set"));
        assert!(store.extension_storage_set(wide.id, "k", b"v", 10_000).expect("set"));

        // Taken over by host b: the region extension's writes are refused
        // and change nothing; the host-wide one's still go through.
        crate::testing::take_over(&store, region);
        let fenced = |what: &str, r: Result<(), StoreError>| {
            assert!(matches!(r, Err(StoreError::Fenced(id)) if id == region), "{what}: {r:?}");
        };
        fenced("set", store.extension_storage_set(regional.id, "k", b"w", 10_000).map(|_| ()));
        fenced("delete", store.extension_storage_delete(regional.id, "k"));
        assert_eq!(store.extension_storage_get(regional.id, "k").expect("get"), Some(b"v".to_vec()));
        assert!(store.extension_storage_set(wide.id, "k", b"w", 10_000).expect("host-wide set"));
        assert_eq!(store.extension_storage_get(wide.id, "k").expect("get"), Some(b"w".to_vec()));
    }
}
