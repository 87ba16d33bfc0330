//! PostgreSQL schema versions, applied in order, each in its own transaction,
//! under a transaction-scoped advisory lock so that hosts starting together
//! migrate once. `store_schema.version` records the version reached.

use tokio_postgres::Client;

use crate::StoreError;

/// Each entry upgrades the schema by one version. Never edit a released
/// entry; append a new one.
const MIGRATIONS: &[&str] = &[include_str!("schema_v1.sql"), include_str!("schema_v2.sql")];

/// Advisory lock key of the store's migrations ("dsp-stor").
const MIGRATION_LOCK: i64 = 0x6473_702d_7374_6f72;

pub(super) async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let supported = MIGRATIONS.len() as i64;
    loop {
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS store_schema (version BIGINT NOT NULL)")
            .await?;
        let current: i64 = match tx.query_opt("SELECT version FROM store_schema", &[]).await? {
            Some(row) => row.get(0),
            None => {
                tx.execute("INSERT INTO store_schema (version) VALUES (0)", &[]).await?;
                0
            }
        };
        if current > supported {
            return Err(StoreError::TooNew { found: current, supported });
        }
        if current == supported {
            tx.commit().await?;
            return Ok(());
        }
        let sql = MIGRATIONS[current as usize];
        tx.batch_execute(sql).await?;
        tx.execute("UPDATE store_schema SET version = $1", &[&(current + 1)]).await?;
        tx.commit().await?;
        tracing::info!(version = current + 1, "PostgreSQL schema migrated");
    }
}
