//! Assets, read and written one at a time by id.
//!
//! Data can be as large as the scene limits allow, so the table is never read in
//! bulk: a host loads an asset when a message needs it. Metadata are plain
//! columns (no encoding) so that other tools can read the table. Size limits are
//! the caller's to enforce (the store holds what it is given).

pub(crate) mod pg;

use dispatcher_scene::{Asset, AssetType};
use rusqlite::{params, OptionalExtension, Row};
use uuid::Uuid;

use crate::{Store, StoreError};

fn from_row(row: &Row<'_>, id: Uuid) -> Result<Asset, StoreError> {
    let code: i64 = row.get(0)?;
    let code = i8::try_from(code).map_err(|_| StoreError::Corrupt(format!("asset {id}: type code {code}")))?;
    Ok(Asset {
        id,
        asset_type: AssetType::from(code),
        name: row.get(1)?,
        description: row.get(2)?,
        content_type: row.get(3)?,
        creator_id: row.get(4)?,
        local: row.get(5)?,
        temporary: row.get(6)?,
        data: row.get(7)?,
    })
}

impl Store {
    /// Stores the asset, replacing one with the same id.
    pub fn put_asset(&self, asset: &Asset) -> Result<(), StoreError> {
        if let Some(pg) = self.pg() {
            return pg::put_asset(pg, asset);
        }
        self.with_conn(|conn| put_asset_tx(conn, asset))
    }

    pub fn get_asset(&self, id: Uuid) -> Result<Option<Asset>, StoreError> {
        if let Some(pg) = self.pg() {
            return pg::get_asset(pg, id);
        }
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT asset_type, name, description, content_type, creator_id, local, temporary, data
                 FROM assets WHERE id = ?1",
            )?;
            let mut rows = stmt.query(params![id.as_bytes()])?;
            match rows.next()? {
                Some(row) => from_row(row, id).map(Some),
                None => Ok(None),
            }
        })
    }

    /// True when an asset with this id is stored (reads no data).
    pub fn asset_exists(&self, id: Uuid) -> Result<bool, StoreError> {
        if let Some(pg) = self.pg() {
            return pg::asset_exists(pg, id);
        }
        self.with_conn(|conn| {
            let found = conn
                .prepare_cached("SELECT 1 FROM assets WHERE id = ?1")?
                .query_row(params![id.as_bytes()], |_| Ok(()))
                .optional()?;
            Ok(found.is_some())
        })
    }
}

/// [`Store::put_asset`] on a caller's connection or open transaction, so an
/// asset can be committed together with the rows that refer to it (REST inline
/// assets and their inventory items: all or nothing).
pub fn put_asset_tx(conn: &rusqlite::Connection, asset: &Asset) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO assets (id, asset_type, name, description, content_type, creator_id, local, temporary, data)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (id) DO UPDATE SET asset_type = excluded.asset_type, name = excluded.name,
           description = excluded.description, content_type = excluded.content_type,
           creator_id = excluded.creator_id, local = excluded.local,
           temporary = excluded.temporary, data = excluded.data",
    )?
    .execute(params![
        asset.id.as_bytes(),
        i64::from(asset.asset_type.code()),
        asset.name,
        asset.description,
        asset.content_type,
        asset.creator_id,
        asset.local,
        asset.temporary,
        asset.data,
    ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(id: u128, asset_type: AssetType, data: Vec<u8>) -> Asset {
        Asset {
            name: "n".into(),
            description: "d".into(),
            creator_id: "85925e9a-55c3-4665-9fcc-8ad58c25802c".into(),
            temporary: true,
            ..Asset::from_type(Uuid::from_u128(id), asset_type, data)
        }
    }

    #[test]
    fn assets_round_trip_every_field_and_survive_reopen() {
        for (_kind, store, dir) in crate::testing::stores() {
            let wasm = Asset::from_content_type(Uuid::from_u128(1), "application/wasm", vec![0, 97, 115, 109]);
            let odd = Asset {
                content_type: Some("text/x-odd".into()),
                ..asset(2, AssetType::Other(-7), Vec::new())
            };
            let big = asset(3, AssetType::Texture, (0..2_000_000u32).map(|i| i as u8).collect());
            for a in [&wasm, &odd, &big] {
                store.put_asset(a).expect("put");
            }
            assert!(store.asset_exists(Uuid::from_u128(3)).expect("exists"));
            assert!(!store.asset_exists(Uuid::from_u128(4)).expect("exists"));
            assert_eq!(store.get_asset(Uuid::from_u128(4)).expect("get"), None);
            let store = match &dir {
                // SQLite: the file is read back by a new connection.
                Some(dir) => {
                    drop(store);
                    Store::open(dir.path()).expect("reopen")
                }
                None => store,
            };
            assert_eq!(store.get_asset(wasm.id).expect("get"), Some(wasm.clone()));
            assert_eq!(store.get_asset(odd.id).expect("get"), Some(odd));
            assert_eq!(store.get_asset(big.id).expect("get"), Some(big));
            assert_eq!(store.get_asset(wasm.id).expect("get").map(|a| a.asset_type), Some(AssetType::WasmComponent));
        }
    }

    #[test]
    fn put_replaces_an_existing_asset() {
        for (_kind, store, _dir) in crate::testing::stores() {
            store.put_asset(&asset(1, AssetType::Notecard, b"one".to_vec())).expect("put");
            let second = asset(1, AssetType::LslText, b"two".to_vec());
            store.put_asset(&second).expect("put");
            assert_eq!(store.get_asset(second.id).expect("get"), Some(second));
        }
    }
}
