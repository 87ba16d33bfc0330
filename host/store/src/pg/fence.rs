//! Lease fencing of region writes in grid mode.
//!
//! The grid (crate dispatcher-grid) records who owns a region in
//! `grid_leases (region_id TEXT, host TEXT, epoch BIGINT, expires TIMESTAMPTZ)`;
//! a takeover updates that row with a higher epoch. A write of a region's
//! state first takes a share lock on the row *as this host at the epoch it
//! loaded the region with*, inside the write's own transaction: if another
//! host has taken the region (a different host or epoch), the row does not
//! match and the write is refused with [`StoreError::Fenced`]; if a takeover
//! is under way it waits for the write to commit (the row lock), so the new
//! owner loads a state that includes it.
//!
//! Outside grid mode (no host name set) nothing is checked.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::StoreError;

/// Told the region of every write refused by the fence.
pub type FenceListener = Arc<dyn Fn(Uuid) + Send + Sync>;

#[derive(Default)]
pub(crate) struct Fences {
    /// Called with the region of each refused write (the host drops it).
    listener: RwLock<Option<FenceListener>>,
    /// This host's name in the grid; `None` outside grid mode.
    host: RwLock<Option<String>>,
    /// Region → the lease epoch this host holds it at.
    epochs: RwLock<HashMap<Uuid, i64>>,
}

impl Fences {
    pub(crate) fn set_host(&self, host: Option<String>) {
        *self.host.write() = host;
    }

    pub(crate) fn set_listener(&self, listener: Option<FenceListener>) {
        *self.listener.write() = listener;
    }

    fn refuse(&self, region_id: Uuid) -> StoreError {
        let listener = self.listener.read().clone();
        if let Some(l) = listener {
            l(region_id);
        }
        StoreError::Fenced(region_id)
    }

    pub(crate) fn hold(&self, region_id: Uuid, epoch: i64) {
        self.epochs.write().insert(region_id, epoch);
    }

    pub(crate) fn release(&self, region_id: Uuid) {
        self.epochs.write().remove(&region_id);
    }

    /// Inside a write transaction: refuse unless this host still holds the
    /// region's lease at the epoch it holds it at here.
    pub(crate) async fn check<C: GenericClient>(&self, tx: &C, region_id: Uuid) -> Result<(), StoreError> {
        let Some(host) = self.host.read().clone() else {
            return Ok(());
        };
        let Some(epoch) = self.epochs.read().get(&region_id).copied() else {
            return Err(self.refuse(region_id));
        };
        let row = tx
            .query_opt(
                "SELECT 1 FROM grid_leases WHERE region_id = $1 AND host = $2 AND epoch = $3 FOR SHARE",
                &[&region_id.to_string(), &host, &epoch],
            )
            .await?;
        match row {
            Some(_) => Ok(()),
            None => Err(self.refuse(region_id)),
        }
    }

    /// As [`Fences::check`] for a region known by name (scripts name theirs).
    pub(crate) async fn check_named<C: GenericClient>(&self, tx: &C, region_name: &str) -> Result<(), StoreError> {
        if self.host.read().is_none() {
            return Ok(());
        }
        let row = tx.query_opt("SELECT id FROM regions WHERE name = $1", &[&region_name]).await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound(format!("no region named {region_name:?}")));
        };
        let id: Uuid = row.get(0);
        self.check(tx, id).await
    }
}
