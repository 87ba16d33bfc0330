//! `storage`: the script's durable key-value store, within its quota.

use crate::bindings::opensim::dispatcher::storage::Host;
use crate::bindings::opensim::dispatcher::types::Error as GuestError;
use crate::error::HostError;
use crate::instance::HostState;

impl HostState {
    fn storage_ready(&mut self, key: Option<&str>) -> Result<(), HostError> {
        self.require("storage")?;
        self.admit()?;
        match key {
            Some(k) if k.len() > self.shared.limits.max_storage_key_bytes => Err(HostError::Guest(GuestError::TooLarge)),
            _ => Ok(()),
        }
    }
}

impl HostState {
    fn storage_write_ready(&mut self, key: &str) -> Result<(), HostError> {
        self.require("storage")?;
        self.admit_storage_write()?;
        if key.len() > self.shared.limits.max_storage_key_bytes {
            return Err(HostError::Guest(GuestError::TooLarge));
        }
        Ok(())
    }
}

fn unavailable(e: dispatcher_store::StoreError) -> HostError {
    tracing::error!(error = %e, "script storage");
    HostError::failed("storage unavailable")
}

impl Host for HostState {
    fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, HostError> {
        self.timed(|h| {
            h.storage_ready(Some(&key))?;
            h.shared.store.script_storage_get(h.script.info.id, &key).map_err(unavailable)
        })
    }

    /// Writes are not `timed`: each is a database transaction, and its time
    /// is charged to the event's budget (with the storage write rate on top),
    /// so a loop of writes ends within the budget.
    fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), HostError> {
        self.storage_write_ready(&key)?;
        let quota = self.shared.limits.storage_quota_bytes as u64;
        match self.shared.store.script_storage_set(self.script.info.id, &key, &value, quota) {
            Ok(true) => Ok(()),
            Ok(false) => Err(HostError::Guest(GuestError::TooLarge)),
            Err(e) => Err(unavailable(e)),
        }
    }

    fn delete(&mut self, key: String) -> Result<(), HostError> {
        self.storage_write_ready(&key)?;
        self.shared.store.script_storage_delete(self.script.info.id, &key).map_err(unavailable)
    }

    fn keys(&mut self) -> Result<Vec<String>, HostError> {
        self.timed(|h| {
            h.storage_ready(None)?;
            h.shared.store.script_storage_keys(h.script.info.id).map_err(unavailable)
        })
    }
}
