//! Extension records on PostgreSQL (see `extensions.rs` for the SQLite form;
//! their storage is in `kv.rs`). An extension is the host's (or a region
//! name's, as its scope) and is not a region's state: nothing here is fenced.

use tokio_postgres::Row;
use uuid::Uuid;

use crate::pg::Postgres;
use crate::{ExtensionRow, StoreError};

const COLUMNS: &str = "id, domain, scope, hash, component, grants, config, state, fault_reason, installer_id";

fn from_row(row: &Row) -> Result<ExtensionRow, StoreError> {
    Ok(ExtensionRow {
        id: row.try_get(0)?,
        domain: row.try_get(1)?,
        scope: row.try_get(2)?,
        hash: row.try_get(3)?,
        component: row.try_get(4)?,
        grants: row.try_get(5)?,
        config: row.try_get(6)?,
        state: row.try_get(7)?,
        fault_reason: row.try_get(8)?,
        installer_id: row.try_get(9)?,
    })
}

/// A second extension of the same id, or of the same domain in the same
/// scope, is a [`StoreError::Conflict`] (unique violation).
pub(crate) fn insert_extension(pg: &Postgres, e: &ExtensionRow) -> Result<(), StoreError> {
    pg.write(async {
        let client = pg.client().await?;
        client
            .execute(
                &format!("INSERT INTO extensions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"),
                &[
                    &e.id,
                    &e.domain,
                    &e.scope,
                    &e.hash,
                    &e.component,
                    &e.grants,
                    &e.config,
                    &e.state,
                    &e.fault_reason,
                    &e.installer_id,
                ],
            )
            .await?;
        Ok(())
    })
}

pub(crate) fn update_extension(pg: &Postgres, e: &ExtensionRow) -> Result<bool, StoreError> {
    pg.write(async {
        let client = pg.client().await?;
        let n = client
            .execute(
                "UPDATE extensions SET hash = $2, component = $3, grants = $4, config = $5, state = $6, fault_reason = $7
                 WHERE id = $1",
                &[&e.id, &e.hash, &e.component, &e.grants, &e.config, &e.state, &e.fault_reason],
            )
            .await?;
        Ok(n > 0)
    })
}

pub(crate) fn list_extensions(pg: &Postgres) -> Result<Vec<ExtensionRow>, StoreError> {
    pg.block(async {
        let client = pg.client().await?;
        let rows = client.query(&format!("SELECT {COLUMNS} FROM extensions ORDER BY seq"), &[]).await?;
        rows.iter().map(from_row).collect()
    })
}

pub(crate) fn set_extension_state(pg: &Postgres, id: Uuid, state: &str, fault_reason: &str) -> Result<(), StoreError> {
    pg.write(async {
        let client = pg.client().await?;
        client
            .execute("UPDATE extensions SET state = $2, fault_reason = $3 WHERE id = $1", &[&id, &state, &fault_reason])
            .await?;
        Ok(())
    })
}

/// Deletes an extension; its storage goes with it (`ON DELETE CASCADE`).
pub(crate) fn delete_extension(pg: &Postgres, id: Uuid) -> Result<bool, StoreError> {
    pg.write(async {
        let client = pg.client().await?;
        let n = client.execute("DELETE FROM extensions WHERE id = $1", &[&id]).await?;
        Ok(n > 0)
    })
}
