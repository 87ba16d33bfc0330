//! User accounts with OpenSim-style salted password hashes.

pub(crate) mod pg;

use md5::{Digest, Md5};
use rusqlite::{params, OptionalExtension, Row};
use uuid::Uuid;

use crate::{Store, StoreError};

/// A stored account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub level: i32,
    /// `md5hex(md5hex(password) + ":" + salt)`
    pub password_hash: String,
    pub password_salt: String,
}

/// What `user create` supplies.
#[derive(Clone, Debug, Default)]
pub struct NewAccount {
    pub id: Option<Uuid>,
    pub first_name: String,
    pub last_name: String,
    pub password: String,
    pub email: String,
    pub level: i32,
}

fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

/// OpenSim's stored form of a password.
pub fn hash_password(password: &str, salt: &str) -> String {
    md5_hex(format!("{}:{}", md5_hex(password.as_bytes()), salt).as_bytes())
}

fn new_salt() -> String {
    let bytes: [u8; 16] = rand::random();
    md5_hex(&bytes)
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<(String, Account)> {
    let id: String = row.get(0)?;
    Ok((
        id,
        Account {
            id: Uuid::nil(),
            first_name: row.get(1)?,
            last_name: row.get(2)?,
            email: row.get(3)?,
            level: row.get(4)?,
            password_hash: row.get(5)?,
            password_salt: row.get(6)?,
        },
    ))
}

fn finish((id, mut account): (String, Account)) -> Result<Account, StoreError> {
    account.id = Uuid::parse_str(&id).map_err(|_| StoreError::Corrupt(format!("account id {id:?}")))?;
    Ok(account)
}

const COLUMNS: &str = "id, first_name, last_name, email, level, password_hash, password_salt";

fn valid_name(part: &str, what: &str) -> Result<(), StoreError> {
    if part.is_empty() || part.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(StoreError::Invalid(format!("{what} name {part:?} must be one word without spaces")));
    }
    Ok(())
}

impl Store {
    /// Create an account; names are unique without regard to case.
    pub fn create_account(&self, new: &NewAccount) -> Result<Account, StoreError> {
        valid_name(&new.first_name, "first")?;
        valid_name(&new.last_name, "last")?;
        if new.password.is_empty() {
            return Err(StoreError::Invalid("the password must not be empty".into()));
        }
        let salt = new_salt();
        let account = Account {
            id: new.id.unwrap_or_else(Uuid::new_v4),
            first_name: new.first_name.clone(),
            last_name: new.last_name.clone(),
            email: new.email.clone(),
            level: new.level,
            password_hash: hash_password(&new.password, &salt),
            password_salt: salt,
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        if let Some(pg) = self.pg() {
            pg::create_account(pg, &account, now)?;
            return Ok(account);
        }
        self.with_conn(|conn| {
            let tx = conn.transaction()?;
            let clash: Option<String> = tx
                .query_row(
                    "SELECT id FROM accounts WHERE id = ?1 OR (first_name = ?2 COLLATE NOCASE AND last_name = ?3 COLLATE NOCASE)",
                    params![account.id.to_string(), account.first_name, account.last_name],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(id) = clash {
                return Err(StoreError::Conflict(format!(
                    "an account with this id or the name {} {} already exists ({id})",
                    account.first_name, account.last_name
                )));
            }
            tx.execute(
                "INSERT INTO accounts (id, first_name, last_name, email, level, password_hash, password_salt, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    account.id.to_string(),
                    account.first_name,
                    account.last_name,
                    account.email,
                    account.level,
                    account.password_hash,
                    account.password_salt,
                    now
                ],
            )?;
            tx.commit()?;
            Ok(())
        })?;
        Ok(account)
    }

    pub fn list_accounts(&self) -> Result<Vec<Account>, StoreError> {
        if let Some(pg) = self.pg() {
            return pg::list_accounts(pg);
        }
        self.with_conn(|conn| {
            let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM accounts ORDER BY created, first_name, last_name"))?;
            let rows = stmt.query_map([], from_row)?;
            rows.map(|r| finish(r?)).collect()
        })
    }

    fn account_where(&self, clause: &str, params: &[&dyn rusqlite::ToSql]) -> Result<Option<Account>, StoreError> {
        self.with_conn(|conn| {
            let row = conn
                .query_row(&format!("SELECT {COLUMNS} FROM accounts WHERE {clause} LIMIT 1"), params, from_row)
                .optional()?;
            row.map(finish).transpose()
        })
    }

    pub fn account_by_id(&self, id: Uuid) -> Result<Option<Account>, StoreError> {
        if let Some(pg) = self.pg() {
            return pg::account_where(pg, "id = $1", &[&id]);
        }
        self.account_where("id = ?1", &[&id.to_string()])
    }

    /// Names match without regard to case, as in OpenSim's MySQL tables.
    pub fn account_by_name(&self, first: &str, last: &str) -> Result<Option<Account>, StoreError> {
        if let Some(pg) = self.pg() {
            return pg::account_where(pg, "lower(first_name) = lower($1) AND lower(last_name) = lower($2)", &[&first, &last]);
        }
        self.account_where("first_name = ?1 COLLATE NOCASE AND last_name = ?2 COLLATE NOCASE", &[&first, &last])
    }

    pub fn account_by_email(&self, email: &str) -> Result<Option<Account>, StoreError> {
        if let Some(pg) = self.pg() {
            return pg::account_where(pg, "lower(email) = lower($1) AND email <> ''", &[&email]);
        }
        self.account_where("email = ?1 COLLATE NOCASE AND email <> ''", &[&email])
    }

    /// Look up "First Last".
    pub fn account_by_full_name(&self, full: &str) -> Result<Option<Account>, StoreError> {
        let mut parts = full.split_whitespace();
        match (parts.next(), parts.next(), parts.next()) {
            (Some(first), Some(last), None) => self.account_by_name(first, last),
            _ => Err(StoreError::Invalid(format!("{full:?} is not a \"First Last\" name"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_find_and_refuse_duplicates() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path()).expect("open");
        create_find_and_refuse_duplicates_on(&store);
        drop(store);
        let reopened = Store::open(dir.path()).expect("reopen");
        assert_eq!(reopened.list_accounts().expect("list").len(), 1);
        create_find_and_refuse_duplicates_on(&crate::testing::postgres());
    }

    fn create_find_and_refuse_duplicates_on(store: &Store) {
        let a = store
            .create_account(&NewAccount {
                first_name: "Ada".into(),
                last_name: "Lovelace".into(),
                password: "password".into(),
                email: "ada@example.org".into(),
                ..Default::default()
            })
            .expect("create");
        assert_eq!(a.password_hash, hash_password("password", &a.password_salt));
        assert_eq!(store.account_by_name("ada", "LOVELACE").expect("q"), Some(a.clone()));
        assert_eq!(store.account_by_email("ADA@example.org").expect("q"), Some(a.clone()));
        assert_eq!(store.account_by_id(a.id).expect("q"), Some(a.clone()));
        assert_eq!(store.account_by_email("").expect("q"), None);
        let dup = store.create_account(&NewAccount {
            first_name: "ADA".into(),
            last_name: "lovelace".into(),
            password: "x".into(),
            ..Default::default()
        });
        assert!(matches!(dup, Err(StoreError::Conflict(_))));
        assert_eq!(store.list_accounts().expect("list"), vec![a]);
    }
}
