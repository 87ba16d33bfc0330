//! A region's terrain and sun on PostgreSQL (see `region_state.rs` for the
//! SQLite form). Writes are fenced.

use uuid::Uuid;

use crate::pg::Postgres;
use crate::StoreError;

/// Inserts or replaces the region's value in `table` (a constant of
/// `region_state.rs`, never input).
pub(crate) fn put_region_value(pg: &Postgres, table: &str, region_id: Uuid, data: &[u8]) -> Result<(), StoreError> {
    pg.write(async {
        let mut client = pg.client().await?;
        let tx = client.transaction().await?;
        pg.fences.check(&*tx, region_id).await?;
        tx.execute(&put_value_sql(table), &[&region_id, &data]).await?;
        tx.commit().await?;
        Ok(())
    })
}

/// The upsert of a keyed single-value table (`region_id`, `data`).
pub(crate) fn put_value_sql(table: &str) -> String {
    format!(
        "INSERT INTO {table} (region_id, data) VALUES ($1, $2)
         ON CONFLICT (region_id) DO UPDATE SET data = excluded.data"
    )
}

pub(crate) fn get_region_value(pg: &Postgres, table: &str, region_id: Uuid) -> Result<Option<Vec<u8>>, StoreError> {
    pg.block(async {
        let client = pg.client().await?;
        let row = client
            .query_opt(&format!("SELECT data FROM {table} WHERE region_id = $1"), &[&region_id])
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    })
}
