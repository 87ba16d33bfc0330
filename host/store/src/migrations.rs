//! Schema versions, applied in order inside one transaction each.
//! `PRAGMA user_version` records the version reached.

use rusqlite::Connection;

use crate::StoreError;

/// Each entry upgrades the schema by one version. Never edit a released entry;
/// append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: accounts and regions.
    "CREATE TABLE accounts (
        id TEXT PRIMARY KEY NOT NULL,
        first_name TEXT NOT NULL,
        last_name TEXT NOT NULL,
        email TEXT NOT NULL DEFAULT '',
        level INTEGER NOT NULL DEFAULT 0,
        password_hash TEXT NOT NULL,
        password_salt TEXT NOT NULL,
        created INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX accounts_name ON accounts (first_name COLLATE NOCASE, last_name COLLATE NOCASE);
    CREATE INDEX accounts_email ON accounts (email COLLATE NOCASE);
    CREATE TABLE regions (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT UNIQUE NOT NULL,
        name TEXT UNIQUE NOT NULL,
        owner TEXT NOT NULL
    );
    CREATE TABLE region_managers (
        region_id TEXT NOT NULL REFERENCES regions (id) ON DELETE CASCADE,
        account_id TEXT NOT NULL,
        PRIMARY KEY (region_id, account_id)
    );",
    // 2: scene state.
    include_str!("schema/scene.sql"),
    // 3: avatar inventory.
    include_str!("schema/inventory.sql"),
    // 4: WebAssembly scripts and their storage.
    include_str!("schema/scripts.sql"),
    // 5: scripts share component assets by hash and the last one deletes it.
    "CREATE INDEX scripts_hash ON scripts (hash);
    CREATE INDEX scripts_asset ON scripts (asset_id);",
    // 6: third-party extensions and their storage.
    include_str!("schema/extensions.sql"),
];

pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let supported = MIGRATIONS.len() as i64;
    if current > supported {
        return Err(StoreError::TooNew { found: current, supported });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "database schema migrated");
    }
    Ok(())
}
