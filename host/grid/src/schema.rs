//! The grid's tables and their migrations.
//!
//! Versions are kept in `grid_schema` (apart from the store's own version
//! table); the migrations run in one transaction under a transaction-scoped
//! advisory lock, so hosts starting at once apply each migration once.

use deadpool_postgres::Client;

use crate::error::GridError;

/// The advisory lock key of the grid's migrations ("grid" in ASCII).
const MIGRATION_LOCK: i64 = 0x6772_6964;

/// Every change notice goes out on this channel; the payload says what changed:
/// `lease:<region id>`, `host:<name>`, `cap:<capability id>`,
/// `ep:<endpoint id>` (each of the last two followed by `@<incarnation of the writer>`).
pub const CHANGES_CHANNEL: &str = "grid_changes";

/// The migrations, in order; version n is `MIGRATIONS[n - 1]`.
const MIGRATIONS: &[&str] = &[
    // 1: hosts, leases (the store's fence reads this table: keep its columns), capabilities.
    r#"
    CREATE TABLE grid_hosts (
        name TEXT PRIMARY KEY,
        advertise_url TEXT NOT NULL,
        incarnation TEXT NOT NULL,
        preferred TEXT[] NOT NULL DEFAULT '{}',
        started TIMESTAMPTZ NOT NULL,
        heartbeat TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE grid_leases (
        region_id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        epoch BIGINT NOT NULL,
        expires TIMESTAMPTZ NOT NULL
    );
    CREATE INDEX grid_leases_host ON grid_leases (host);
    CREATE TABLE grid_capabilities (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        user_name TEXT NOT NULL,
        scene TEXT NOT NULL,
        domains TEXT[] NOT NULL,
        lifespan_ms BIGINT NOT NULL,
        expires TIMESTAMPTZ
    );
    CREATE INDEX grid_capabilities_expires ON grid_capabilities (expires);
    -- A lease that changes hands (host or epoch) or is given up (expiry moved
    -- back) is announced to every host; a plain renewal is not.
    CREATE FUNCTION grid_lease_notice() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('grid_changes', 'lease:' || NEW.region_id);
        RETURN NULL;
    END $$;
    CREATE TRIGGER grid_lease_insert AFTER INSERT ON grid_leases
        FOR EACH ROW EXECUTE FUNCTION grid_lease_notice();
    CREATE TRIGGER grid_lease_update AFTER UPDATE ON grid_leases
        FOR EACH ROW WHEN (OLD.host IS DISTINCT FROM NEW.host OR OLD.epoch <> NEW.epoch OR NEW.expires < OLD.expires)
        EXECUTE FUNCTION grid_lease_notice();
    "#,
    // 2: callback endpoints (grid-wide, expiring with their lifespan by the database clock).
    r#"
    CREATE TABLE grid_endpoints (
        id TEXT PRIMARY KEY,
        addr TEXT NOT NULL,
        owner_id TEXT,
        capability TEXT,
        lifespan_ms BIGINT NOT NULL,
        expires TIMESTAMPTZ NOT NULL
    );
    CREATE INDEX grid_endpoints_capability ON grid_endpoints (capability);
    CREATE INDEX grid_endpoints_expires ON grid_endpoints (expires);
    "#,
];

/// The schema version this build knows.
pub const VERSION: i32 = MIGRATIONS.len() as i32;

/// Create or migrate the grid's tables.
pub(crate) async fn migrate(client: &mut Client) -> Result<(), GridError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS grid_schema (version INTEGER NOT NULL)")
        .await?;
    let current: i32 = tx.query_one("SELECT COALESCE(MAX(version), 0) FROM grid_schema", &[]).await?.get(0);
    if current > VERSION {
        return Err(GridError::Database(format!(
            "the grid schema is at version {current}, newer than this host's {VERSION}; upgrade this host"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = i as i32 + 1;
        tx.batch_execute(sql).await?;
        tx.execute("INSERT INTO grid_schema (version) VALUES ($1)", &[&version]).await?;
        tracing::info!("grid schema migrated to version {version}");
    }
    tx.commit().await?;
    Ok(())
}
