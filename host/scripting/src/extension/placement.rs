//! Where extensions run (docs/extensions.md, docs/grid.md).
//!
//! Standalone, every installed extension runs on the one host. In grid mode
//! a region-scoped extension runs only on the host that owns its region and
//! moves with the region's lease, as its scripts do: the host's lease events
//! call [`ExtensionHost::start_region`] (the region's extensions read from the
//! shared store, registered, warmed: `on-start` runs) and
//! [`ExtensionHost::stop_region`] (unregistered, instances interrupted and
//! dropped; nothing is written, the storage stays in the database for the new
//! owner). Requests for its domain reach that host because they name the
//! region (`_Scene`, or the capability's scene), which the routing step
//! forwards to its owner.
//!
//! A host-wide extension answers on every host of the grid (any host may
//! receive its requests), but its timer (`on-timer`) runs on one host only,
//! the one [`ExtensionHost::set_host_wide_timers`] turns it on for (the
//! server chooses the owner of the grid's first region, so the duty moves
//! with that region's lease); other hosts create its instances only for
//! requests, and do not warm them at start.
//!
//! A change made on one host (install, update, start, stop, remove) is
//! announced to the others ([`ExtensionHost::set_announcer`], the grid's
//! change notices), which re-read the record ([`ExtensionHost::reload`]).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use uuid::Uuid;

use super::runtime::ExtensionHost;

/// Which extensions this host runs.
pub struct Placement {
    /// `None`: every region's (standalone); `Some`: the regions this host
    /// owns now (grid mode), by lowercase name.
    regions: Option<Mutex<HashSet<String>>>,
    /// Whether host-wide extensions' timers run here.
    host_wide_timers: AtomicBool,
    /// Tells the other hosts of a grid that an extension changed here.
    announcer: OnceLock<Announcer>,
}

/// Announces a changed extension's id to the other hosts of the grid.
pub type Announcer = Arc<dyn Fn(Uuid) + Send + Sync>;

impl Placement {
    /// Standalone: every extension runs here.
    pub fn all() -> Placement {
        Placement {
            regions: None,
            host_wide_timers: AtomicBool::new(true),
            announcer: OnceLock::new(),
        }
    }

    /// Grid mode: no region yet, no host-wide timers yet.
    pub fn grid() -> Placement {
        Placement {
            regions: Some(Mutex::new(HashSet::new())),
            host_wide_timers: AtomicBool::new(false),
            announcer: OnceLock::new(),
        }
    }

    pub fn is_grid(&self) -> bool {
        self.regions.is_some()
    }

    /// Whether an extension of `scope` (`None`: host-wide) runs here.
    pub fn serves(&self, scope: Option<&str>) -> bool {
        match (scope, &self.regions) {
            (None, _) | (_, None) => true,
            (Some(region), Some(held)) => held.lock().contains(&region.to_lowercase()),
        }
    }

    /// Whether an extension of `scope` is warmed (an instance, `on-start`)
    /// without a request: region-scoped ones where they run, host-wide ones
    /// where their timers run.
    pub fn warms(&self, scope: Option<&str>) -> bool {
        match scope {
            None => self.runs_host_wide_timers(),
            Some(_) => self.serves(scope),
        }
    }

    pub fn runs_host_wide_timers(&self) -> bool {
        self.host_wide_timers.load(Ordering::Acquire)
    }

    fn hold(&self, region: &str, held: bool) {
        if let Some(regions) = &self.regions {
            let key = region.to_lowercase();
            if held {
                regions.lock().insert(key);
            } else {
                regions.lock().remove(&key);
            }
        }
    }
}

impl ExtensionHost {
    /// Grid mode: this host now owns `region`: load its extensions from the
    /// store (registered in their stored state; not warmed yet, so that
    /// their types can be registered before the region itself is served:
    /// [`ExtensionHost::warm_region`] follows). Returns how many were
    /// loaded; one that no longer loads is logged and left out.
    pub fn start_region(&self, region: &str) -> Result<usize, String> {
        self.placement.hold(region, true);
        let rows = self
            .calls
            .store
            .list_extensions()
            .map_err(|e| format!("cannot list extensions: {e}"))?;
        let _changes = self.changes.lock();
        let mut loaded = 0;
        for row in rows {
            if !row.scope.eq_ignore_ascii_case(region) || self.get(row.id).is_some() {
                continue;
            }
            let (id, domain) = (row.id, row.domain.clone());
            match super::domain::load_one(self, row, false) {
                Ok(()) => loaded += 1,
                Err(e) => tracing::error!("extension {domain} ({id}) of region {region} could not be loaded: {e}"),
            }
        }
        Ok(loaded)
    }

    /// Warm the extensions of `region` (an instance each, `on-start`), once
    /// the region is served here.
    pub fn warm_region(&self, region: &str) {
        for ext in self.all() {
            if ext.facts.scope.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(region)) {
                self.warm(&ext);
            }
        }
    }

    /// Grid mode: this host no longer owns `region`: its extensions are
    /// unregistered and their instances interrupted and dropped. Nothing is
    /// written (the new owner holds their state). Returns how many went.
    pub fn stop_region(&self, region: &str) -> usize {
        self.placement.hold(region, false);
        let _changes = self.changes.lock();
        let gone: Vec<_> = self
            .all()
            .into_iter()
            .filter(|e| e.facts.scope.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(region)))
            .collect();
        for ext in &gone {
            self.drop_loaded(ext);
        }
        gone.len()
    }

    /// Turn the host-wide extensions' timers on or off here (grid mode: on
    /// for one host of the grid at a time). Turned on, each running one is
    /// warmed (`on-start`, which typically sets its timer).
    pub fn set_host_wide_timers(&self, on: bool) {
        let was = self.placement.host_wide_timers.swap(on, Ordering::AcqRel);
        if on && !was {
            for ext in self.all().into_iter().filter(|e| e.facts.scope.is_none()) {
                self.warm(&ext);
            }
        }
    }

    /// Whether host-wide extensions' timers run here.
    pub fn runs_host_wide_timers(&self) -> bool {
        self.placement.runs_host_wide_timers()
    }

    /// Grid mode: tell the other hosts that extension `id` changed here
    /// (set once by the server; see [`ExtensionHost::reload`]).
    pub fn set_announcer(&self, announcer: Announcer) {
        let _ = self.placement.announcer.set(announcer);
    }

    pub(crate) fn announce(&self, id: Uuid) {
        if let Some(announce) = self.placement.announcer.get() {
            announce(id);
        }
    }

    /// Grid mode: another host changed extension `id` (installed, updated,
    /// started, stopped, removed): re-read its record and load it again here
    /// if it runs here, or drop it. Returns whether it is loaded here now.
    pub fn reload(&self, id: Uuid) -> Result<bool, String> {
        let rows = self
            .calls
            .store
            .list_extensions()
            .map_err(|e| format!("cannot list extensions: {e}"))?;
        let row = rows.into_iter().find(|r| r.id == id);
        let _changes = self.changes.lock();
        if let Some(old) = self.get(id) {
            self.drop_loaded(&old);
        }
        match row {
            Some(row) if self.placement.serves(Some(row.scope.as_str()).filter(|s| !s.is_empty())) => {
                super::domain::load_one(self, row, true)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Read every extension record again after change notices may have
    /// been missed: each one recorded or loaded here is reloaded (or
    /// dropped) as [`ExtensionHost::reload`] would on its notice. Returns
    /// how many run here; a record that fails to load is logged and the
    /// others still go.
    pub fn reload_all(&self) -> Result<usize, String> {
        let rows = self
            .calls
            .store
            .list_extensions()
            .map_err(|e| format!("cannot list extensions: {e}"))?;
        let mut ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        ids.extend(self.extensions.lock().keys().copied());
        ids.sort();
        ids.dedup();
        let mut here = 0;
        for id in ids {
            match self.reload(id) {
                Ok(true) => here += 1,
                Ok(false) => {}
                Err(e) => tracing::error!("extension {id} could not be reloaded: {e}"),
            }
        }
        Ok(here)
    }

    /// Forget a loaded extension on this host only (its record and storage stay).
    pub(crate) fn drop_loaded(&self, ext: &Arc<super::Extension>) {
        self.unregister(ext);
        ext.unload();
        self.extensions.lock().remove(&ext.facts.id);
        self.dispatcher().services().capabilities.destroy(ext.installer.capability);
    }

    /// The ids of the extensions loaded here (tests, status).
    pub fn loaded_ids(&self) -> Vec<Uuid> {
        self.all().iter().map(|e| e.facts.id).collect()
    }
}
