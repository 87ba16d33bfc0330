//! The PostgreSQL backend (grid mode): the same operations as the SQLite
//! backend, on a pool of tokio-postgres connections.
//!
//! The store's API is synchronous (callers run it on blocking threads, as with
//! SQLite), so this backend owns a small tokio runtime that drives the pool's
//! connections, and each operation is polled to completion on the calling
//! thread ([`Postgres::block`]). Nothing here needs the caller's runtime.
//!
//! Every write of a region's state is fenced when the store is in grid mode
//! (see [`fence`]): it commits only while this host holds the region's lease
//! at the epoch it loaded the region with.

pub(crate) mod fence;
mod migrations;

// Objects, region state, archives, assets, appearance.

use std::future::Future;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use crate::StoreError;

pub use fence::FenceListener;
pub(crate) use fence::Fences;

/// How the PostgreSQL store connects.
#[derive(Clone, Debug)]
pub struct PgOptions {
    /// Connections kept in the pool.
    pub pool_size: usize,
    /// A connection attempt (or waiting for a pooled one) fails after this.
    pub connect_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            pool_size: 16,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

pub(crate) struct Postgres {
    pool: Pool,
    /// Drives the pool's connections; shut down without waiting on drop.
    runtime: Option<tokio::runtime::Runtime>,
    pub(crate) fences: Fences,
    /// The commit latency histogram of this store (`Store::commit_timing`).
    pub(crate) timing: crate::CommitTiming,
}

impl Postgres {
    pub(crate) fn connect(url: &str, options: &PgOptions) -> Result<Postgres, StoreError> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| StoreError::Invalid(format!("not a PostgreSQL URL: {e}")))?;
        config.connect_timeout(options.connect_timeout);
        config.application_name("dispatcher");
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("dispatcher-pg")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Unavailable(format!("cannot start the database runtime: {e}")))?;
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(options.connect_timeout))
            .create_timeout(Some(options.connect_timeout))
            .recycle_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|e| StoreError::Invalid(format!("cannot build the connection pool: {e}")))?;
        let pg = Postgres {
            pool,
            runtime: Some(runtime),
            fences: Fences::default(),
            timing: crate::CommitTiming::default(),
        };
        pg.block(async {
            let mut client = pg.client().await?;
            migrations::migrate(&mut client).await
        })?;
        Ok(pg)
    }

    /// Polls `f` to completion on this thread, inside this backend's runtime
    /// (so connecting and timers find it).
    pub(crate) fn block<F: Future>(&self, f: F) -> F::Output {
        let _entered = self.runtime.as_ref().map(|rt| rt.enter());
        futures_executor::block_on(f)
    }

    /// As [`Postgres::block`] for a call that commits a write: when it
    /// succeeds, its time (taking a connection, the statements, the commit
    /// and its round trip) is observed in the commit latency histogram, as
    /// SQLite's committing calls are.
    pub(crate) fn write<T, E, F: Future<Output = Result<T, E>>>(&self, f: F) -> Result<T, E> {
        let started = std::time::Instant::now();
        let result = self.block(f);
        if result.is_ok() {
            self.timing.observe(started.elapsed());
        }
        result
    }

    /// A pooled connection.
    pub(crate) async fn client(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(pool_error)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => StoreError::from(e),
        other => StoreError::Unavailable(format!("no database connection: {other}")),
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> StoreError {
        if let Some(db) = e.as_db_error() {
            // 23505 unique_violation: the same meaning as SQLite's constraint errors.
            if db.code() == &tokio_postgres::error::SqlState::UNIQUE_VIOLATION {
                return StoreError::Conflict(db.message().to_string());
            }
            return StoreError::Postgres(format!("{}: {}", db.code().code(), db.message()));
        }
        if e.is_closed() || e.to_string().contains("connect") {
            return StoreError::Unavailable(format!("the database is unreachable: {e}"));
        }
        StoreError::Postgres(e.to_string())
    }
}
