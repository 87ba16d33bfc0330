//! Per-avatar inventories on PostgreSQL (see `inventory.rs` for the SQLite
//! form). The difference between two trees is written with one statement per
//! kind of change — deletes by `id = ANY`, upserts as one multi-row
//! `INSERT … SELECT FROM unnest(…) WITH ORDINALITY` in the new tree's order —
//! inside one transaction, together with any inline assets.
//! An inventory belongs to an avatar, not to a region: nothing here is fenced.

use std::collections::HashSet;

use dispatcher_scene::{Asset, AssetType, Inventory, InventoryFolder, InventoryItem, Permissions};
use tokio_postgres::{Row, Transaction};
use uuid::Uuid;

use crate::pg::Postgres;
use crate::StoreError;

const FOLDER_COLUMNS: &str = "id, parent, owner, name, type, version";
const ITEM_COLUMNS: &str = "id, folder, owner, creator, name, description, asset_id, asset_type, inv_type, \
    perm_base, perm_current, perm_next, perm_everyone, perm_group, group_id, group_owned, sale_type, \
    sale_price, flags, creation_date";

fn narrow<T: TryFrom<i64>>(avatar: Uuid, what: &str, v: i64) -> Result<T, StoreError> {
    T::try_from(v).map_err(|_| StoreError::Corrupt(format!("inventory of {avatar}: {what} {v} out of range")))
}

fn folder_from_row(avatar: Uuid, row: &Row) -> Result<InventoryFolder, StoreError> {
    Ok(InventoryFolder {
        id: row.try_get(0)?,
        parent_id: row.try_get(1)?,
        owner_id: row.try_get(2)?,
        name: row.try_get(3)?,
        folder_type: narrow(avatar, "folder type", i64::from(row.try_get::<_, i32>(4)?))?,
        version: narrow(avatar, "folder version", i64::from(row.try_get::<_, i32>(5)?))?,
    })
}

fn item_from_row(avatar: Uuid, row: &Row) -> Result<InventoryItem, StoreError> {
    let asset_type: i8 = narrow(avatar, "asset type", i64::from(row.try_get::<_, i32>(7)?))?;
    let perm = |i: usize| -> Result<u32, StoreError> { narrow(avatar, "permissions", row.try_get::<_, i64>(i)?) };
    Ok(InventoryItem {
        id: row.try_get(0)?,
        folder_id: row.try_get(1)?,
        owner_id: row.try_get(2)?,
        creator_id: row.try_get(3)?,
        name: row.try_get(4)?,
        description: row.try_get(5)?,
        asset_id: row.try_get(6)?,
        asset_type: AssetType::from(asset_type),
        inv_type: row.try_get(8)?,
        permissions: Permissions {
            base: perm(9)?,
            current: perm(10)?,
            next: perm(11)?,
            everyone: perm(12)?,
            group: perm(13)?,
        },
        group_id: row.try_get(14)?,
        group_owned: row.try_get(15)?,
        sale_type: narrow(avatar, "sale type", i64::from(row.try_get::<_, i32>(16)?))?,
        sale_price: row.try_get(17)?,
        flags: narrow(avatar, "flags", row.try_get::<_, i64>(18)?)?,
        creation_date: row.try_get(19)?,
    })
}

pub(crate) fn inventory(pg: &Postgres, avatar: Uuid) -> Result<Option<Inventory>, StoreError> {
    pg.block(async {
        let client = pg.client().await?;
        let rows = client
            .query(
                &format!("SELECT {FOLDER_COLUMNS} FROM inventory_folders WHERE avatar = $1 ORDER BY seq"),
                &[&avatar],
            )
            .await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let folders = rows.iter().map(|r| folder_from_row(avatar, r)).collect::<Result<Vec<_>, _>>()?;
        let rows = client
            .query(&format!("SELECT {ITEM_COLUMNS} FROM inventory_items WHERE avatar = $1 ORDER BY seq"), &[&avatar])
            .await?;
        let items = rows.iter().map(|r| item_from_row(avatar, r)).collect::<Result<Vec<_>, _>>()?;
        Inventory::from_parts(avatar, folders, items)
            .map(Some)
            .ok_or_else(|| StoreError::Corrupt(format!("inventory of {avatar} has no single root folder")))
    })
}

pub(crate) fn create_inventory(pg: &Postgres, inventory: &Inventory) -> Result<(), StoreError> {
    pg.write(async {
        let mut client = pg.client().await?;
        let tx = client.transaction().await?;
        // Two creators of the same avatar's inventory: the second waits here
        // for the first to commit and then sees its rows.
        tx.execute("SELECT pg_advisory_xact_lock(hashtextextended($1::uuid::text, 0))", &[&inventory.owner_id])
            .await?;
        let existing = tx
            .query_opt("SELECT id FROM inventory_folders WHERE avatar = $1 LIMIT 1", &[&inventory.owner_id])
            .await?;
        if existing.is_some() {
            return Err(StoreError::Conflict(format!("{} already has an inventory", inventory.owner_id)));
        }
        write_difference(&tx, None, inventory).await?;
        tx.commit().await?;
        Ok(())
    })
}

/// Stores `assets` (upserts) and replaces `old` by `new`, all in one
/// transaction.
pub(crate) fn save_inventory(pg: &Postgres, old: &Inventory, new: &Inventory, assets: &[Asset]) -> Result<(), StoreError> {
    pg.write(async {
        let mut client = pg.client().await?;
        let tx = client.transaction().await?;
        if !assets.is_empty() {
            let stmt = tx
                .prepare(
                    "INSERT INTO assets (id, asset_type, name, description, content_type, creator_id, local, temporary, data)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                     ON CONFLICT (id) DO UPDATE SET asset_type = excluded.asset_type, name = excluded.name,
                       description = excluded.description, content_type = excluded.content_type,
                       creator_id = excluded.creator_id, local = excluded.local,
                       temporary = excluded.temporary, data = excluded.data",
                )
                .await?;
            for a in assets {
                tx.execute(
                    &stmt,
                    &[
                        &a.id,
                        &i32::from(a.asset_type.code()),
                        &a.name,
                        &a.description,
                        &a.content_type,
                        &a.creator_id,
                        &a.local,
                        &a.temporary,
                        &a.data,
                    ],
                )
                .await?;
            }
        }
        write_difference(&tx, Some(old), new).await?;
        tx.commit().await?;
        Ok(())
    })
}

pub(crate) fn inventory_ids_of_others(pg: &Postgres, avatar: Uuid, ids: &[Uuid]) -> Result<Vec<Uuid>, StoreError> {
    pg.block(async {
        let client = pg.client().await?;
        let rows = client
            .query(
                "SELECT id FROM inventory_folders WHERE id = ANY($1) AND avatar <> $2
                 UNION SELECT id FROM inventory_items WHERE id = ANY($1) AND avatar <> $2",
                &[&ids, &avatar],
            )
            .await?;
        let found: HashSet<Uuid> = rows.iter().map(|r| r.try_get(0)).collect::<Result<_, _>>()?;
        // In the caller's order, as the SQLite form answers.
        Ok(ids.iter().copied().filter(|id| found.contains(id)).collect())
    })
}

/// Writes `new` over `old` (both the same avatar's): deletions, then upserts
/// of what is new or changed, in `new`'s order (ON CONFLICT keeps a row and so
/// its place in store order).
async fn write_difference(tx: &Transaction<'_>, old: Option<&Inventory>, new: &Inventory) -> Result<(), StoreError> {
    let avatar = new.owner_id;
    if let Some(old) = old {
        let folders: HashSet<Uuid> = new.folders().map(|f| f.id).collect();
        let items: HashSet<Uuid> = new.items().map(|i| i.id).collect();
        let gone_folders: Vec<Uuid> = old.folders().filter(|f| !folders.contains(&f.id)).map(|f| f.id).collect();
        let gone_items: Vec<Uuid> = old.items().filter(|i| !items.contains(&i.id)).map(|i| i.id).collect();
        if !gone_folders.is_empty() {
            tx.execute("DELETE FROM inventory_folders WHERE id = ANY($1) AND avatar = $2", &[&gone_folders, &avatar])
                .await?;
        }
        if !gone_items.is_empty() {
            tx.execute("DELETE FROM inventory_items WHERE id = ANY($1) AND avatar = $2", &[&gone_items, &avatar])
                .await?;
        }
    }
    let folders: Vec<&InventoryFolder> = new.folders().filter(|f| old.and_then(|o| o.folder(f.id)) != Some(*f)).collect();
    if !folders.is_empty() {
        upsert_folders(tx, avatar, &folders).await?;
    }
    let items: Vec<&InventoryItem> = new.items().filter(|i| old.and_then(|o| o.item(i.id)) != Some(*i)).collect();
    if !items.is_empty() {
        upsert_items(tx, avatar, &items).await?;
    }
    Ok(())
}

async fn upsert_folders(tx: &Transaction<'_>, avatar: Uuid, folders: &[&InventoryFolder]) -> Result<(), StoreError> {
    let ids: Vec<Uuid> = folders.iter().map(|f| f.id).collect();
    let parents: Vec<Uuid> = folders.iter().map(|f| f.parent_id).collect();
    let owners: Vec<Uuid> = folders.iter().map(|f| f.owner_id).collect();
    let names: Vec<&str> = folders.iter().map(|f| f.name.as_str()).collect();
    let types: Vec<i32> = folders.iter().map(|f| i32::from(f.folder_type)).collect();
    let versions: Vec<i32> = folders.iter().map(|f| i32::from(f.version)).collect();
    tx.execute(
        "INSERT INTO inventory_folders (id, avatar, parent, owner, name, type, version)
         SELECT id, $1, parent, owner, name, type, version
         FROM unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::int4[], $7::int4[])
              WITH ORDINALITY AS t (id, parent, owner, name, type, version, ord)
         ORDER BY ord
         ON CONFLICT (id) DO UPDATE SET avatar = excluded.avatar, parent = excluded.parent, owner = excluded.owner,
            name = excluded.name, type = excluded.type, version = excluded.version",
        &[&avatar, &ids, &parents, &owners, &names, &types, &versions],
    )
    .await?;
    Ok(())
}

async fn upsert_items(tx: &Transaction<'_>, avatar: Uuid, items: &[&InventoryItem]) -> Result<(), StoreError> {
    fn col<T>(items: &[&InventoryItem], f: impl Fn(&InventoryItem) -> T) -> Vec<T> {
        items.iter().map(|i| f(i)).collect()
    }
    let ids = col(items, |i| i.id);
    let folders = col(items, |i| i.folder_id);
    let owners = col(items, |i| i.owner_id);
    let creators = col(items, |i| i.creator_id.clone());
    let names = col(items, |i| i.name.clone());
    let descriptions = col(items, |i| i.description.clone());
    let asset_ids = col(items, |i| i.asset_id);
    let asset_types = col(items, |i| i32::from(i.asset_type.code()));
    let inv_types = col(items, |i| i.inv_type);
    let perm_base = col(items, |i| i64::from(i.permissions.base));
    let perm_current = col(items, |i| i64::from(i.permissions.current));
    let perm_next = col(items, |i| i64::from(i.permissions.next));
    let perm_everyone = col(items, |i| i64::from(i.permissions.everyone));
    let perm_group = col(items, |i| i64::from(i.permissions.group));
    let group_ids = col(items, |i| i.group_id);
    let group_owned = col(items, |i| i.group_owned);
    let sale_types = col(items, |i| i32::from(i.sale_type));
    let sale_prices = col(items, |i| i.sale_price);
    let flags = col(items, |i| i64::from(i.flags));
    let dates = col(items, |i| i.creation_date);
    tx.execute(
        "INSERT INTO inventory_items (id, avatar, folder, owner, creator, name, description, asset_id, asset_type, inv_type,
            perm_base, perm_current, perm_next, perm_everyone, perm_group, group_id, group_owned, sale_type, sale_price,
            flags, creation_date)
         SELECT id, $1, folder, owner, creator, name, description, asset_id, asset_type, inv_type,
            perm_base, perm_current, perm_next, perm_everyone, perm_group, group_id, group_owned, sale_type, sale_price,
            flags, creation_date
         FROM unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::uuid[], $9::int4[],
                     $10::int4[], $11::int8[], $12::int8[], $13::int8[], $14::int8[], $15::int8[], $16::uuid[],
                     $17::bool[], $18::int4[], $19::int4[], $20::int8[], $21::int8[])
              WITH ORDINALITY AS t (id, folder, owner, creator, name, description, asset_id, asset_type, inv_type,
                  perm_base, perm_current, perm_next, perm_everyone, perm_group, group_id, group_owned, sale_type,
                  sale_price, flags, creation_date, ord)
         ORDER BY ord
         ON CONFLICT (id) DO UPDATE SET avatar = excluded.avatar, folder = excluded.folder, owner = excluded.owner,
            creator = excluded.creator, name = excluded.name, description = excluded.description,
            asset_id = excluded.asset_id, asset_type = excluded.asset_type, inv_type = excluded.inv_type,
            perm_base = excluded.perm_base, perm_current = excluded.perm_current, perm_next = excluded.perm_next,
            perm_everyone = excluded.perm_everyone, perm_group = excluded.perm_group, group_id = excluded.group_id,
            group_owned = excluded.group_owned, sale_type = excluded.sale_type, sale_price = excluded.sale_price,
            flags = excluded.flags, creation_date = excluded.creation_date",
        &[
            &avatar,
            &ids,
            &folders,
            &owners,
            &creators,
            &names,
            &descriptions,
            &asset_ids,
            &asset_types,
            &inv_types,
            &perm_base,
            &perm_current,
            &perm_next,
            &perm_everyone,
            &perm_group,
            &group_ids,
            &group_owned,
            &sale_types,
            &sale_prices,
            &flags,
            &dates,
        ],
    )
    .await?;
    Ok(())
}
