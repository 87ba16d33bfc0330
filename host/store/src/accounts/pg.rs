//! Accounts on PostgreSQL (see `accounts.rs` for the SQLite form). Names
//! match without regard to case through `lower()` and the unique index on it.

use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::pg::Postgres;
use crate::{Account, StoreError};

const COLUMNS: &str = "id, first_name, last_name, email, level, password_hash, password_salt";

fn from_row(row: &Row) -> Account {
    Account {
        id: row.get(0),
        first_name: row.get(1),
        last_name: row.get(2),
        email: row.get(3),
        level: row.get(4),
        password_hash: row.get(5),
        password_salt: row.get(6),
    }
}

pub(crate) fn create_account(pg: &Postgres, account: &Account, created: i64) -> Result<(), StoreError> {
    pg.write(async {
        let mut client = pg.client().await?;
        let tx = client.transaction().await?;
        let clash = tx
            .query_opt(
                "SELECT id FROM accounts WHERE id = $1 OR (lower(first_name) = lower($2) AND lower(last_name) = lower($3))",
                &[&account.id, &account.first_name, &account.last_name],
            )
            .await?;
        if let Some(row) = clash {
            let id: uuid::Uuid = row.get(0);
            return Err(StoreError::Conflict(format!(
                "an account with this id or the name {} {} already exists ({id})",
                account.first_name, account.last_name
            )));
        }
        tx.execute(
            "INSERT INTO accounts (id, first_name, last_name, email, level, password_hash, password_salt, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &account.id,
                &account.first_name,
                &account.last_name,
                &account.email,
                &account.level,
                &account.password_hash,
                &account.password_salt,
                &created,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    })
}

pub(crate) fn list_accounts(pg: &Postgres) -> Result<Vec<Account>, StoreError> {
    pg.block(async {
        let client = pg.client().await?;
        let rows = client
            .query(&format!("SELECT {COLUMNS} FROM accounts ORDER BY created, first_name, last_name"), &[])
            .await?;
        Ok(rows.iter().map(from_row).collect())
    })
}

/// One account matching `clause` (PostgreSQL placeholders `$1`…).
pub(crate) fn account_where(pg: &Postgres, clause: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Account>, StoreError> {
    pg.block(async {
        let client = pg.client().await?;
        let row = client
            .query_opt(&format!("SELECT {COLUMNS} FROM accounts WHERE {clause} LIMIT 1"), params)
            .await?;
        Ok(row.as_ref().map(from_row))
    })
}
