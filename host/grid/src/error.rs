//! What can go wrong joining or running in a grid. `Display` is written for
//! the operator: it names the `[Grid]` key to look at where there is one.

use crate::config::GridConfigError;

#[derive(Debug, thiserror::Error)]
pub enum GridError {
    #[error(transparent)]
    Config(#[from] GridConfigError),
    /// The database could not be reached (refused, unresolvable, timed out).
    #[error("[Grid] DatabaseUrl = {url}: cannot reach the database: {reason}")]
    Unreachable { url: String, reason: String },
    /// The database refused the login (wrong user or password, unknown database).
    #[error("[Grid] DatabaseUrl = {url}: the database refused the login: {reason}")]
    Login { url: String, reason: String },
    /// Another running host uses this host's name.
    #[error(
        "[Grid] HostName = {name}: another host with this name is running (it advertises {other_url}, \
         last heartbeat {age_s:.1} s ago); give every host a unique HostName, or wait {lease_s} s after \
         stopping the other one"
    )]
    HostNameInUse {
        name: String,
        other_url: String,
        age_s: f64,
        lease_s: u64,
    },
    /// This host's registration was replaced by another incarnation with the same name.
    #[error("[Grid] HostName = {0}: this host's registration was taken over by another host with the same name")]
    Evicted(String),
    /// A statement failed or a connection broke while running.
    #[error("grid database: {0}")]
    Database(String),
    /// A database round trip took longer than allowed.
    #[error("grid database: no answer within {0} ms")]
    Timeout(u64),
}

impl From<tokio_postgres::Error> for GridError {
    fn from(e: tokio_postgres::Error) -> Self {
        GridError::Database(describe(&e))
    }
}

impl From<deadpool_postgres::PoolError> for GridError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        use deadpool_postgres::PoolError;
        match e {
            PoolError::Backend(e) => e.into(),
            PoolError::Timeout(t) => GridError::Database(format!("no connection available ({t:?} timed out)")),
            other => GridError::Database(other.to_string()),
        }
    }
}

/// The server's message when there is one (tokio-postgres's `Display` says
/// only "db error"), else the error and its sources.
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} ({})", db.message(), db.code().code());
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
