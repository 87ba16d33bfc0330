use std::path::PathBuf;

/// Errors of the embedded store. `Display` texts are meant for operators.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database error: {0}")]
    Postgres(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("this host no longer holds the lease of region {0}; the write was refused (fenced)")]
    Fenced(uuid::Uuid),
    #[error("cannot use data directory {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the database schema is version {found}, newer than this program understands ({supported}); upgrade the program")]
    TooNew { found: i64, supported: i64 },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}
