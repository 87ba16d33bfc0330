//! Script records on PostgreSQL (see `scripts.rs` for the SQLite form; their
//! storage is in `kv.rs`). Components are shared by hash and deleted with the
//! last script that refers to them, as there. A script names its region, and
//! each write is fenced through it (`check_named`).

use dispatcher_scene::Asset;
use tokio_postgres::{Row, Transaction};
use uuid::Uuid;

use crate::pg::Postgres;
use crate::{ScriptRow, StoreError};

const COLUMNS: &str = "id, region, object_id, name, asset_id, hash, uploader_id, owner_id, grants, start_parameter, state, fault_reason";

const SHARED_SQL: &str = "SELECT s.asset_id FROM scripts s JOIN assets a ON a.id = s.asset_id WHERE s.hash = $1 LIMIT 1";

const DELETE_UNUSED_SQL: &str = "DELETE FROM assets WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM scripts WHERE asset_id = $1)";

/// Serialises writers of the scripts of one hash (insert, swap, delete) so
/// that "share the stored component" and "the last script deletes it" never
/// interleave ("dsp-scpt").
const COMPONENT_LOCK: i64 = 0x6473_702d_7363_7074;

fn from_row(row: &Row) -> Result<ScriptRow, StoreError> {
    Ok(ScriptRow {
        id: row.try_get(0)?,
        region: row.try_get(1)?,
        object_id: row.try_get(2)?,
        name: row.try_get(3)?,
        asset_id: row.try_get(4)?,
        hash: row.try_get(5)?,
        uploader_id: row.try_get(6)?,
        owner_id: row.try_get(7)?,
        grants: row.try_get(8)?,
        start_parameter: row.try_get(9)?,
        state: row.try_get(10)?,
        fault_reason: row.try_get(11)?,
    })
}

async fn lock_components(tx: &Transaction<'_>) -> Result<(), StoreError> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&COMPONENT_LOCK]).await?;
    Ok(())
}

/// The asset a script of `hash` should refer to: a stored script's of the
/// same hash, or `component` written now.
async fn share_or_write(tx: &Transaction<'_>, hash: &str, component: &Asset) -> Result<Uuid, StoreError> {
    if let Some(row) = tx.query_opt(SHARED_SQL, &[&hash]).await? {
        return Ok(row.try_get(0)?);
    }
    tx.execute(
        "INSERT INTO assets (id, asset_type, name, description, content_type, creator_id, local, temporary, data)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (id) DO UPDATE SET asset_type = excluded.asset_type, name = excluded.name,
           description = excluded.description, content_type = excluded.content_type,
           creator_id = excluded.creator_id, local = excluded.local,
           temporary = excluded.temporary, data = excluded.data",
        &[
            &component.id,
            &i32::from(component.asset_type.code()),
            &component.name,
            &component.description,
            &component.content_type,
            &component.creator_id,
            &component.local,
            &component.temporary,
            &component.data,
        ],
    )
    .await?;
    Ok(component.id)
}

/// Locks a stored script's row and checks its region's fence; its asset id,
/// or `None` when it is not stored.
async fn lock_script(pg: &Postgres, tx: &Transaction<'_>, id: Uuid) -> Result<Option<Uuid>, StoreError> {
    let Some(row) = tx
        .query_opt("SELECT region, asset_id FROM scripts WHERE id = $1 FOR UPDATE", &[&id])
        .await?
    else {
        return Ok(None);
    };
    let region: String = row.try_get(0)?;
    pg.fences.check_named(tx, &region).await?;
    Ok(Some(row.try_get(1)?))
}

pub(crate) fn insert_script(pg: &Postgres, script: &ScriptRow, component: &Asset) -> Result<Uuid, StoreError> {
    pg.write(async {
        let mut client = pg.client().await?;
        let tx = client.transaction().await?;
        pg.fences.check_named(&*tx, &script.region).await?;
        lock_components(&tx).await?;
        let asset_id = share_or_write(&tx, &script.hash, component).await?;
        tx.execute(
            &format!("INSERT INTO scripts ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"),
            &[
                &script.id,
                &script.region,
                &script.object_id,
                &script.name,
                &asset_id,
                &script.hash,
                &script.uploader_id,
                &script.owner_id,
                &script.grants,
                &script.start_parameter,
                &script.state,
                &script.fault_reason,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(asset_id)
    })
}

pub(crate) fn replace_script_component(
    pg: &Postgres,
    id: Uuid,
    component: &Asset,
    hash: &str,
    grants: &str,
    start_parameter: &str,
) -> Result<Option<Uuid>, StoreError> {
    pg.block(async {
        let mut client = pg.client().await?;
        let tx = client.transaction().await?;
        lock_components(&tx).await?;
        let Some(old) = lock_script(pg, &tx, id).await? else {
            return Ok(None);
        };
        let asset_id = share_or_write(&tx, hash, component).await?;
        tx.execute(
            "UPDATE scripts SET asset_id = $2, hash = $3, grants = $4, start_parameter = $5 WHERE id = $1",
            &[&id, &asset_id, &hash, &grants, &start_parameter],
        )
        .await?;
        tx.execute(DELETE_UNUSED_SQL, &[&old]).await?;
        tx.commit().await?;
        Ok(Some(asset_id))
    })
}

pub(crate) fn list_scripts(pg: &Postgres) -> Result<Vec<ScriptRow>, StoreError> {
    pg.block(async {
        let client = pg.client().await?;
        let rows = client.query(&format!("SELECT {COLUMNS} FROM scripts ORDER BY seq"), &[]).await?;
        rows.iter().map(from_row).collect()
    })
}

pub(crate) fn set_script_state(pg: &Postgres, id: Uuid, state: &str, fault_reason: &str) -> Result<(), StoreError> {
    pg.write(async {
        let mut client = pg.client().await?;
        let tx = client.transaction().await?;
        if lock_script(pg, &tx, id).await?.is_none() {
            return Ok(());
        }
        tx.execute("UPDATE scripts SET state = $2, fault_reason = $3 WHERE id = $1", &[&id, &state, &fault_reason])
            .await?;
        tx.commit().await?;
        Ok(())
    })
}

/// Deletes the script (its storage goes by `ON DELETE CASCADE`) and its
/// component when no other script refers to it. Freed space is left to
/// autovacuum (see `pg/space.rs`).
pub(crate) fn delete_script(pg: &Postgres, id: Uuid) -> Result<bool, StoreError> {
    pg.write(async {
        let mut client = pg.client().await?;
        let tx = client.transaction().await?;
        lock_components(&tx).await?;
        let Some(asset) = lock_script(pg, &tx, id).await? else {
            return Ok(false);
        };
        tx.execute("DELETE FROM scripts WHERE id = $1", &[&id]).await?;
        tx.execute(DELETE_UNUSED_SQL, &[&asset]).await?;
        tx.commit().await?;
        Ok(true)
    })
}

pub(crate) fn scripts_using_asset(pg: &Postgres, asset_id: Uuid) -> Result<u64, StoreError> {
    pg.block(async {
        let client = pg.client().await?;
        let n: i64 = client
            .query_one("SELECT COUNT(*) FROM scripts WHERE asset_id = $1", &[&asset_id])
            .await?
            .try_get(0)?;
        Ok(n.max(0) as u64)
    })
}
