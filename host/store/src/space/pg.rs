//! Disk space on PostgreSQL (see `space.rs` for the SQLite form).
//!
//! Used bytes are `pg_database_size` of the store's database, reported as
//! pages of the server's `block_size`; PostgreSQL keeps no free list that
//! this store could read cheaply, so `free_pages` is 0. Space freed by
//! deletes is made reusable by autovacuum; deletes do not reclaim by
//! themselves. [`reclaim`] runs a plain `VACUUM` of the database (no
//! exclusive locks, so it can run next to live regions): it makes dead rows'
//! space reusable and cuts empty pages off the end of each table's file, and
//! returns how many pages the database shrank by.

use crate::pg::Postgres;
use crate::{DiskUsage, StoreError};

pub(crate) fn disk_usage(pg: &Postgres) -> Result<DiskUsage, StoreError> {
    pg.block(async {
        let client = pg.client().await?;
        let row = client
            .query_one("SELECT pg_database_size(current_database())::int8, current_setting('block_size')::int8", &[])
            .await?;
        let (bytes, page_size): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
        let page_size = page_size.max(1) as u64;
        Ok(DiskUsage {
            page_size,
            pages: (bytes.max(0) as u64).div_ceil(page_size),
            free_pages: 0,
        })
    })
}

pub(crate) fn reclaim(pg: &Postgres) -> Result<u64, StoreError> {
    let before = disk_usage(pg)?.pages;
    pg.block(async {
        let client = pg.client().await?;
        // VACUUM cannot run inside a transaction block; a simple query is not in one.
        client.batch_execute("VACUUM").await?;
        Ok::<_, StoreError>(())
    })?;
    Ok(before.saturating_sub(disk_usage(pg)?.pages))
}
