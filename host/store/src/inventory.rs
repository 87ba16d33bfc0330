//! Per-avatar inventory persistence (migration 3, `schema/inventory.sql`).
//!
//! An inventory is read whole and written as the difference between the tree a
//! caller loaded and the tree it wants: one transaction deletes what vanished
//! and upserts what is new or changed, so a failure leaves the old tree intact.
//! [`Store::save_inventory_with`] lets the caller add other rows (inline assets,
//! REST §6.5 step 4) to the same transaction.

pub(crate) mod pg;

use std::collections::HashSet;

use dispatcher_scene::{Asset, AssetType, Inventory, InventoryFolder, InventoryItem, Permissions};
use rusqlite::{params, OptionalExtension, Row, Transaction};
use uuid::Uuid;

use crate::assets::put_asset_tx;
use crate::{Store, StoreError};

const FOLDER_COLUMNS: &str = "id, parent, owner, name, type, version";
const ITEM_COLUMNS: &str = "id, folder, owner, creator, name, description, asset_id, asset_type, inv_type, \
    perm_base, perm_current, perm_next, perm_everyone, perm_group, group_id, group_owned, sale_type, \
    sale_price, flags, creation_date";

fn uuid_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<Uuid> {
    let text: String = row.get(idx)?;
    Uuid::parse_str(&text).map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e)))
}

fn folder_from_row(row: &Row<'_>) -> rusqlite::Result<InventoryFolder> {
    Ok(InventoryFolder {
        id: uuid_col(row, 0)?,
        parent_id: uuid_col(row, 1)?,
        owner_id: uuid_col(row, 2)?,
        name: row.get(3)?,
        folder_type: row.get(4)?,
        version: row.get(5)?,
    })
}

fn item_from_row(row: &Row<'_>) -> rusqlite::Result<InventoryItem> {
    let asset_type: i8 = row.get(7)?;
    Ok(InventoryItem {
        id: uuid_col(row, 0)?,
        folder_id: uuid_col(row, 1)?,
        owner_id: uuid_col(row, 2)?,
        creator_id: row.get(3)?,
        name: row.get(4)?,
        description: row.get(5)?,
        asset_id: uuid_col(row, 6)?,
        asset_type: AssetType::from(asset_type),
        inv_type: row.get(8)?,
        permissions: Permissions {
            base: row.get(9)?,
            current: row.get(10)?,
            next: row.get(11)?,
            everyone: row.get(12)?,
            group: row.get(13)?,
        },
        group_id: uuid_col(row, 14)?,
        group_owned: row.get(15)?,
        sale_type: row.get(16)?,
        sale_price: row.get(17)?,
        flags: row.get(18)?,
        creation_date: row.get(19)?,
    })
}

fn upsert_folder(tx: &Transaction<'_>, avatar: Uuid, f: &InventoryFolder) -> Result<(), StoreError> {
    // ON CONFLICT keeps the row, and so its place in store order.
    tx.prepare_cached(
        "INSERT INTO inventory_folders (id, avatar, parent, owner, name, type, version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (id) DO UPDATE SET avatar = ?2, parent = ?3, owner = ?4, name = ?5, type = ?6, version = ?7",
    )?
    .execute(params![
        f.id.to_string(),
        avatar.to_string(),
        f.parent_id.to_string(),
        f.owner_id.to_string(),
        f.name,
        f.folder_type,
        f.version
    ])?;
    Ok(())
}

fn upsert_item(tx: &Transaction<'_>, avatar: Uuid, i: &InventoryItem) -> Result<(), StoreError> {
    let p = &i.permissions;
    tx.prepare_cached(
        "INSERT INTO inventory_items (id, avatar, folder, owner, creator, name, description, asset_id, asset_type, inv_type,
            perm_base, perm_current, perm_next, perm_everyone, perm_group, group_id, group_owned, sale_type, sale_price, flags, creation_date)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)
         ON CONFLICT (id) DO UPDATE SET avatar = ?2, folder = ?3, owner = ?4, creator = ?5, name = ?6, description = ?7,
            asset_id = ?8, asset_type = ?9, inv_type = ?10, perm_base = ?11, perm_current = ?12, perm_next = ?13,
            perm_everyone = ?14, perm_group = ?15, group_id = ?16, group_owned = ?17, sale_type = ?18, sale_price = ?19,
            flags = ?20, creation_date = ?21",
    )?
    .execute(params![
        i.id.to_string(),
        avatar.to_string(),
        i.folder_id.to_string(),
        i.owner_id.to_string(),
        i.creator_id,
        i.name,
        i.description,
        i.asset_id.to_string(),
        i.asset_type.code(),
        i.inv_type,
        p.base,
        p.current,
        p.next,
        p.everyone,
        p.group,
        i.group_id.to_string(),
        i.group_owned,
        i.sale_type,
        i.sale_price,
        i.flags,
        i.creation_date
    ])?;
    Ok(())
}

/// Writes `new` over `old` (both the same avatar's): deletions, then upserts of
/// what is new or changed, in `new`'s order.
fn write_difference(tx: &Transaction<'_>, old: Option<&Inventory>, new: &Inventory) -> Result<(), StoreError> {
    let avatar = new.owner_id.to_string();
    if let Some(old) = old {
        let folders: HashSet<Uuid> = new.folders().map(|f| f.id).collect();
        let items: HashSet<Uuid> = new.items().map(|i| i.id).collect();
        for f in old.folders().filter(|f| !folders.contains(&f.id)) {
            tx.execute("DELETE FROM inventory_folders WHERE id = ?1 AND avatar = ?2", params![f.id.to_string(), avatar])?;
        }
        for i in old.items().filter(|i| !items.contains(&i.id)) {
            tx.execute("DELETE FROM inventory_items WHERE id = ?1 AND avatar = ?2", params![i.id.to_string(), avatar])?;
        }
    }
    for f in new.folders() {
        if old.and_then(|o| o.folder(f.id)) != Some(f) {
            upsert_folder(tx, new.owner_id, f)?;
        }
    }
    for i in new.items() {
        if old.and_then(|o| o.item(i.id)) != Some(i) {
            upsert_item(tx, new.owner_id, i)?;
        }
    }
    Ok(())
}

fn save_inventory_pg(pg: &crate::pg::Postgres, old: &Inventory, new: &Inventory, assets: &[Asset]) -> Result<(), StoreError> {
    if old.owner_id != new.owner_id {
        return Err(StoreError::Invalid("an inventory cannot change avatars".into()));
    }
    pg::save_inventory(pg, old, new, assets)
}

impl Store {
    /// An avatar's whole inventory in store order; `None` when it has no root
    /// folder (REST §6.2 "no local inventory").
    pub fn inventory(&self, avatar: Uuid) -> Result<Option<Inventory>, StoreError> {
        if let Some(pg) = self.pg() {
            return pg::inventory(pg, avatar);
        }
        self.with_conn(|conn| {
            let key = avatar.to_string();
            let mut stmt = conn.prepare(&format!("SELECT {FOLDER_COLUMNS} FROM inventory_folders WHERE avatar = ?1 ORDER BY rowid"))?;
            let folders = stmt.query_map([&key], folder_from_row)?.collect::<Result<Vec<_>, _>>()?;
            if folders.is_empty() {
                return Ok(None);
            }
            let mut stmt = conn.prepare(&format!("SELECT {ITEM_COLUMNS} FROM inventory_items WHERE avatar = ?1 ORDER BY rowid"))?;
            let items = stmt.query_map([&key], item_from_row)?.collect::<Result<Vec<_>, _>>()?;
            Inventory::from_parts(avatar, folders, items)
                .map(Some)
                .ok_or_else(|| StoreError::Corrupt(format!("inventory of {avatar} has no single root folder")))
        })
    }

    /// Store a new inventory (normally [`Inventory::standard`]) for an avatar
    /// that has none.
    pub fn create_inventory(&self, inventory: &Inventory) -> Result<(), StoreError> {
        if let Some(pg) = self.pg() {
            return pg::create_inventory(pg, inventory);
        }
        self.with_conn(|conn| {
            let tx = conn.transaction()?;
            let existing: Option<String> = tx
                .query_row(
                    "SELECT id FROM inventory_folders WHERE avatar = ?1 LIMIT 1",
                    [inventory.owner_id.to_string()],
                    |r| r.get(0),
                )
                .optional()?;
            if existing.is_some() {
                return Err(StoreError::Conflict(format!("{} already has an inventory", inventory.owner_id)));
            }
            write_difference(&tx, None, inventory)?;
            tx.commit()?;
            Ok(())
        })
    }

    /// Replace `old` (as loaded) by `new` in one transaction.
    pub fn save_inventory(&self, old: &Inventory, new: &Inventory) -> Result<(), StoreError> {
        if let Some(pg) = self.pg() {
            return save_inventory_pg(pg, old, new, &[]);
        }
        self.save_inventory_with(old, new, |_| Ok(()))
    }

    /// Store `assets` (upserts) and replace `old` by `new`, all in one
    /// transaction: a REST PUT/POST with inline assets (REST §6.5 step 4, §7.6)
    /// either lands whole or leaves nothing behind.
    pub fn save_inventory_and_assets(&self, old: &Inventory, new: &Inventory, assets: &[Asset]) -> Result<(), StoreError> {
        if let Some(pg) = self.pg() {
            return save_inventory_pg(pg, old, new, assets);
        }
        self.save_inventory_with(old, new, |tx| assets.iter().try_for_each(|a| put_asset_tx(tx, a)))
    }

    /// Like [`Store::save_inventory`], with `extra` run first inside the same
    /// transaction.
    fn save_inventory_with(
        &self,
        old: &Inventory,
        new: &Inventory,
        extra: impl FnOnce(&Transaction<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        if old.owner_id != new.owner_id {
            return Err(StoreError::Invalid("an inventory cannot change avatars".into()));
        }
        self.with_conn(|conn| {
            let tx = conn.transaction()?;
            extra(&tx)?;
            write_difference(&tx, Some(old), new)?;
            tx.commit()?;
            Ok(())
        })
    }

    /// Which of `ids` name a folder or item of an avatar other than `avatar`
    /// (REST §10: such a UUID is refused, not overwritten).
    pub fn inventory_ids_of_others(&self, avatar: Uuid, ids: &[Uuid]) -> Result<Vec<Uuid>, StoreError> {
        if let Some(pg) = self.pg() {
            return pg::inventory_ids_of_others(pg, avatar, ids);
        }
        self.with_conn(|conn| {
            let me = avatar.to_string();
            let mut found = Vec::new();
            let mut stmt = conn.prepare_cached(
                "SELECT avatar FROM inventory_folders WHERE id = ?1 AND avatar <> ?2
                 UNION ALL SELECT avatar FROM inventory_items WHERE id = ?1 AND avatar <> ?2 LIMIT 1",
            )?;
            for id in ids {
                let other: Option<String> = stmt.query_row(params![id.to_string(), me], |r| r.get(0)).optional()?;
                if other.is_some() {
                    found.push(*id);
                }
            }
            Ok(found)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dispatcher_scene::SceneLimits;

    fn ids() -> impl FnMut() -> Uuid {
        let mut n = 0u128;
        move || {
            n += 1;
            Uuid::from_u128(n)
        }
    }

    fn item(id: u128, folder: Uuid) -> InventoryItem {
        InventoryItem {
            id: Uuid::from_u128(id),
            folder_id: folder,
            owner_id: Uuid::from_u128(999),
            creator_id: "someone".into(),
            name: format!("item {id}"),
            description: "d".into(),
            asset_id: Uuid::from_u128(id + 5000),
            asset_type: AssetType::ImageJpeg,
            inv_type: 0,
            permissions: Permissions::default(),
            group_id: Uuid::from_u128(77),
            group_owned: true,
            sale_type: 2,
            sale_price: 10,
            flags: u32::MAX,
            creation_date: 1_243_836_000,
        }
    }

    #[test]
    fn round_trip_difference_and_rollback() {
        for (_kind, store, _dir) in crate::testing::stores() {
            round_trip_difference_and_rollback_on(&store);
        }
    }

    fn round_trip_difference_and_rollback_on(store: &Store) {
        let avatar = Uuid::from_u128(999);
        assert_eq!(store.inventory(avatar).expect("load"), None);
        let inv = Inventory::standard(avatar, &mut ids());
        store.create_inventory(&inv).expect("create");
        assert!(matches!(store.create_inventory(&inv), Err(StoreError::Conflict(_))));
        let loaded = store.inventory(avatar).expect("load").expect("some");
        assert_eq!(loaded, inv);

        let limits = SceneLimits::default();
        let mut next = loaded.clone();
        let textures = next.folders().find(|f| f.name == "Textures").expect("textures").id;
        next.upsert_item(item(100, textures), &limits).expect("item");
        let clothing = next.folders().find(|f| f.name == "Clothing").expect("clothing").id;
        next.remove_folder(clothing).expect("remove");
        store.save_inventory(&loaded, &next).expect("save");
        assert_eq!(store.inventory(avatar).expect("load").expect("some"), next);

        // A failing extra step leaves everything as it was.
        let mut third = next.clone();
        third.remove_item(Uuid::from_u128(100)).expect("rm");
        let fine = Asset::from_type(Uuid::from_u128(6001), AssetType::Notecard, b"one".to_vec());
        if store.is_postgres() {
            // PostgreSQL refuses a NUL in text: the second asset fails after
            // the first was written, and the whole batch is rolled back.
            let bad = Asset {
                name: "nul\0".into(),
                ..Asset::from_type(Uuid::from_u128(6002), AssetType::Notecard, b"two".to_vec())
            };
            assert!(store.save_inventory_and_assets(&next, &third, &[fine.clone(), bad]).is_err());
            let pg = store.pg().expect("pg");
            let assets: i64 = pg
                .block(async { Ok::<_, StoreError>(pg.client().await?.query_one("SELECT COUNT(*) FROM assets", &[]).await?.get(0)) })
                .expect("count");
            assert_eq!(assets, 0, "no asset of the failed batch stays");
        } else {
            let failed = store.save_inventory_with(&next, &third, |_| Err(StoreError::Invalid("boom".into())));
            assert!(failed.is_err());
        }
        assert_eq!(store.inventory(avatar).expect("load").expect("some"), next);
        assert!(matches!(
            store.save_inventory(&next, &Inventory::standard(Uuid::from_u128(5), &mut ids())),
            Err(StoreError::Invalid(_))
        ));

        // Inline assets land with the tree.
        store.save_inventory_and_assets(&next, &third, &[fine]).expect("save with asset");
        assert_eq!(store.inventory(avatar).expect("load").expect("some"), third);

        assert_eq!(
            store
                .inventory_ids_of_others(Uuid::from_u128(1234), &[textures, Uuid::from_u128(4242)])
                .expect("q"),
            vec![textures]
        );
        assert!(store.inventory_ids_of_others(avatar, &[textures]).expect("q").is_empty());
    }

    #[test]
    fn a_large_inventory_keeps_store_order_through_changes() {
        for (_kind, store, _dir) in crate::testing::stores() {
            a_large_inventory_keeps_store_order_through_changes_on(&store);
        }
    }

    fn a_large_inventory_keeps_store_order_through_changes_on(store: &Store) {
        let avatar = Uuid::from_u128(999);
        let limits = SceneLimits::default();
        let empty = Inventory::standard(avatar, &mut ids());
        store.create_inventory(&empty).expect("create");
        let folder = empty.folders().find(|f| f.name == "Objects").expect("objects").id;
        // Ids descend while insertion ascends: store order is not id order.
        let mut full = empty.clone();
        for n in 0..3_000u128 {
            full.upsert_item(item(1_000_000 - n, folder), &limits).expect("item");
        }
        store.save_inventory(&empty, &full).expect("save");
        let order = |inv: &Inventory| inv.items().map(|i| i.id).collect::<Vec<_>>();
        let loaded = store.inventory(avatar).expect("load").expect("some");
        assert_eq!(loaded, full);
        assert_eq!(order(&loaded), order(&full));

        let mut changed = loaded.clone();
        for n in (0..3_000u128).step_by(3) {
            changed.remove_item(Uuid::from_u128(1_000_000 - n)).expect("remove");
        }
        for n in (1..3_000u128).step_by(5) {
            let mut i = item(1_000_000 - n, folder);
            i.name = format!("renamed {n}");
            changed.upsert_item(i, &limits).expect("rename");
        }
        for n in 0..50u128 {
            changed.upsert_item(item(2_000_000 + n, folder), &limits).expect("new");
        }
        store.save_inventory(&loaded, &changed).expect("save");
        let again = store.inventory(avatar).expect("load").expect("some");
        assert_eq!(again, changed);
        // Store order: a kept (even if changed) item keeps its place, new
        // items follow in the order they were added.
        let mut expected: Vec<Uuid> = order(&loaded).into_iter().filter(|id| changed.item(*id).is_some()).collect();
        expected.extend(order(&changed).into_iter().filter(|id| loaded.item(*id).is_none()));
        assert_eq!(order(&again), expected);
    }

    #[test]
    fn two_creators_of_one_inventory_one_wins() {
        for (_kind, store, _dir) in crate::testing::stores() {
            for round in 0..10u128 {
                let avatar = Uuid::from_u128(10_000 + round);
                let start = std::sync::Barrier::new(4);
                let results: Vec<Result<(), StoreError>> = std::thread::scope(|s| {
                    let creators: Vec<_> = (0..4u128)
                        .map(|t| {
                            let (store, start) = (&store, &start);
                            s.spawn(move || {
                                // Different folder ids each: only the store can see the clash.
                                let mut n = (round * 4 + t) * 1_000;
                                let inv = Inventory::standard(avatar, &mut || {
                                    n += 1;
                                    Uuid::from_u128(n)
                                });
                                start.wait();
                                store.create_inventory(&inv)
                            })
                        })
                        .collect();
                    creators.into_iter().map(|c| c.join().expect("creator")).collect()
                });
                assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
                assert!(results.iter().all(|r| matches!(r, Ok(()) | Err(StoreError::Conflict(_)))), "{results:?}");
                assert!(store.inventory(avatar).expect("one root").is_some());
            }
        }
    }
}
