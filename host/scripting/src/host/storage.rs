//! `storage`: the script's durable key-value store, within its quota.
//!
//! The quota (`StorageQuotaBytes`) is charged in stored bytes: key, value and
//! the database's per-entry overhead (`STORAGE_ENTRY_OVERHEAD_BYTES`), checked
//! by the store in the write's own transaction. Writes (set, delete) are also
//! rate limited per script (`StorageWritesPerSecond`): each is a committed,
//! synced transaction, so the rate bounds the disk I/O one script causes, and
//! their time is charged to the event's CPU budget. An extension's writes
//! may be reached from a reactor thread (its HTTP requests run there) and
//! hand the reactor's other work on first (`reactor::off_reactor`).
//! An extension's reads go through its storage cache
//! (`storage_cache.rs`), its writes through the store and then
//! the cache.

use crate::bindings::opensim::dispatcher::storage::Host;
use crate::bindings::opensim::dispatcher::types::Error as GuestError;
use crate::error::HostError;
use crate::instance::HostState;
use crate::reactor::off_reactor;
use crate::storage_cache::Lookup;

impl HostState {
    fn storage_ready(&mut self, key: Option<&str>) -> Result<(), HostError> {
        if let Some(ext) = &self.ext {
            // An extension's storage is its own data, not something its
            // caller reaches: its own `storage` grant decides, whoever the
            // request came from (a calling script's grants narrow only what
            // the extension does to the scene).
            if !ext.storage_granted {
                return Err(self.deny("storage not granted".to_owned()));
            }
        } else {
            self.require("storage")?;
        }
        self.admit()?;
        match key {
            Some(k) if k.len() > self.shared.limits.max_storage_key_bytes => Err(HostError::Guest(GuestError::TooLarge)),
            _ => Ok(()),
        }
    }
}

impl HostState {
    /// A storage write: the call rate, then the storage write rate.
    fn admit_storage_write(&mut self) -> Result<(), HostError> {
        let rate = self.shared.limits.storage_writes_per_second;
        if self.script.storage_writes.lock().take(rate) {
            return Ok(());
        }
        self.refuse_rate()
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
            let id = h.script.id();
            match &h.ext {
                Some(ext) => match ext.storage_cache.lookup(&key) {
                    Lookup::Hit(value) => Ok(value),
                    Lookup::Miss(generation) => {
                        // A database read, on a reactor thread for HTTP.
                        let value = off_reactor(|| h.shared.store.extension_storage_get(id, &key));
                        if let Ok(v) = &value {
                            ext.storage_cache.fill(&key, generation, v.as_deref());
                        }
                        value
                    }
                },
                None => h.shared.store.script_storage_get(id, &key),
            }
            .map_err(unavailable)
        })
    }

    /// Writes are not `timed`: each is a database transaction, and its time
    /// is charged to the event's budget (with the storage write rate on top),
    /// so a loop of writes ends within the budget.
    fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), HostError> {
        self.storage_ready(Some(&key))?;
        self.admit_storage_write()?;
        let id = self.script.id();
        let stored = match &self.ext {
            // An extension's request may run on a reactor thread (HTTP): its
            // commit hands the reactor's other work on first.
            Some(ext) => {
                ext.storage_cache.begin_write(&key);
                let stored = off_reactor(|| self.shared.store.extension_storage_set(id, &key, &value, ext.storage_quota_bytes));
                // Over quota or failed: what the store holds is not known here.
                let now = matches!(stored, Ok(true)).then_some(Some(value.as_slice()));
                ext.storage_cache.end_write(&key, now);
                stored
            }
            None => {
                let quota = self.shared.limits.storage_quota_bytes as u64;
                self.shared.store.script_storage_set(id, &key, &value, quota)
            }
        };
        match stored {
            Ok(true) => Ok(()),
            Ok(false) => Err(HostError::Guest(GuestError::TooLarge)),
            Err(e) => Err(unavailable(e)),
        }
    }

    fn delete(&mut self, key: String) -> Result<(), HostError> {
        self.storage_ready(Some(&key))?;
        self.admit_storage_write()?;
        let id = self.script.id();
        match &self.ext {
            Some(ext) => {
                ext.storage_cache.begin_write(&key);
                let deleted = off_reactor(|| self.shared.store.extension_storage_delete(id, &key));
                ext.storage_cache.end_write(&key, deleted.is_ok().then_some(None));
                deleted
            }
            None => self.shared.store.script_storage_delete(id, &key),
        }
        .map_err(unavailable)
    }

    fn keys(&mut self) -> Result<Vec<String>, HostError> {
        self.timed(|h| {
            h.storage_ready(None)?;
            let id = h.script.id();
            match h.ext.is_some() {
                true => off_reactor(|| h.shared.store.extension_storage_keys(id)),
                false => h.shared.store.script_storage_keys(id),
            }
            .map_err(unavailable)
        })
    }
}
