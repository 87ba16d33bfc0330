//! `dispatcher serve` in grid mode (docs/grid.md): the regions this host
//! serves follow its leases.
//!
//! - [`GridRunning::start`] starts the lease task and applies its events in
//!   order, each on a blocking thread: `Acquired` fences the store's writes
//!   with the new epoch, loads the region into the RemoteControl domain and
//!   brings up its scripts (`on-start` runs); `Lost` takes the fence away
//!   first (nothing more is written), then drops the region's scripts and
//!   the region itself without flushing.
//! - A write the store's fence refuses wakes the lease task, whose renewal
//!   then sees the loss at once (one database round trip) and drops the region.
//! - [`GridRunning::hand_over`] is the graceful end: the host's regions have
//!   been stopped and flushed by the caller; every lease is released so
//!   another host claims the regions within about a second.
//!
//! - A region whose load fails after its lease was acquired is not kept
//!   held but unserved: whatever was brought up is dropped, the error is
//!   logged naming the region, and the lease is released at once
//!   (`Grid::release_failed`) so another host may take it; this host does not
//!   claim it again before a backoff (doubling from `LeaseSeconds`).
//! - A region's extensions come and go with it (`ExtensionHost::start_region`
//!   and `stop_region`); host-wide extensions' timers run on the owner of the
//!   grid's first region (smallest id), re-decided after every lease event
//!   and every lease pass, so exactly one live host runs them and the duty
//!   moves with that region's lease. An extension changed on another host
//!   is re-read here on its `ext:` notice (`ExtensionHost::reload`).
//!
//! [`OwnedRegions`] is what the HTTP and UDP layers read to know whether a
//! region is served here (and, through [`GridRunning::grid`], who owns it
//! otherwise).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use dispatcher_dispatch::Dispatcher;
use dispatcher_grid::{ExtensionChange, Grid, LeaseEvent, RegionRef};
use dispatcher_remote_control::RemoteControl;
use dispatcher_scripting::{ExtensionHost, ScriptHost};
use dispatcher_store::Store;
use parking_lot::{Mutex, RwLock};
use uuid::Uuid;

/// How long a lost region's running script events get to end after their
/// interrupt before the region is dropped anyway.
pub const SCRIPT_STOP_WAIT: Duration = Duration::from_millis(500);

/// A region this host serves now, under its lease epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedRegion {
    pub id: Uuid,
    pub name: String,
    pub epoch: i64,
}

/// The regions this host serves now (a cache of its leases that follows the
/// lease events; the database stays the truth).
#[derive(Default)]
pub struct OwnedRegions {
    by_id: RwLock<HashMap<Uuid, OwnedRegion>>,
}

impl OwnedRegions {
    /// Whether the region `name` (the `_Scene` of a request) is served here.
    /// Region names compare without regard to case, as scene names do.
    pub fn contains_name(&self, name: &str) -> bool {
        self.by_name(name).is_some()
    }

    pub fn by_name(&self, name: &str) -> Option<OwnedRegion> {
        self.by_id.read().values().find(|r| r.name.eq_ignore_ascii_case(name)).cloned()
    }

    pub fn get(&self, id: Uuid) -> Option<OwnedRegion> {
        self.by_id.read().get(&id).cloned()
    }

    /// Every region served here, by name.
    pub fn all(&self) -> Vec<OwnedRegion> {
        let mut all: Vec<OwnedRegion> = self.by_id.read().values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    pub fn len(&self) -> usize {
        self.by_id.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.read().is_empty()
    }

    fn insert(&self, region: OwnedRegion) {
        self.by_id.write().insert(region.id, region);
    }

    fn remove(&self, id: Uuid) -> Option<OwnedRegion> {
        self.by_id.write().remove(&id)
    }
}

/// What acquiring and losing a region touches.
struct RegionSwitch {
    store: Arc<Store>,
    dispatcher: Dispatcher,
    remote_control: Option<Arc<RemoteControl>>,
    rc_domain: String,
    scripts: Arc<ScriptHost>,
    extensions: Arc<ExtensionHost>,
    owned: Arc<OwnedRegions>,
    /// The grid's first region (smallest id) as last read: its owner runs
    /// the host-wide extensions' timers.
    anchor: Mutex<Option<Uuid>>,
}

impl RegionSwitch {
    /// Apply one lease event; an acquisition that could not be served comes
    /// back (region, epoch) for its lease to be released.
    fn apply(&self, event: LeaseEvent) -> Option<(Uuid, i64)> {
        let failed = match event {
            LeaseEvent::Acquired { region_id, name, epoch } => match self.acquire(region_id, &name, epoch) {
                Ok(()) => None,
                Err(e) => {
                    tracing::error!(
                        "grid: region {name} ({region_id}) acquired at epoch {epoch} but cannot be served: {e:#}; \
                         releasing its lease so another host may take it"
                    );
                    self.abandon(region_id, &name, epoch);
                    Some((region_id, epoch))
                }
            },
            LeaseEvent::Lost { region_id, epoch } => {
                self.lose(region_id, epoch, false);
                None
            }
        };
        self.decide_timers();
        failed
    }

    /// Remember the grid's first region (from a list of the regions table).
    fn set_anchor(&self, ids: impl Iterator<Item = Uuid>) {
        *self.anchor.lock() = ids.min();
    }

    /// Host-wide extensions' timers run here while this host serves the anchor region.
    fn decide_timers(&self) {
        let duty = self.anchor.lock().is_some_and(|id| self.owned.get(id).is_some());
        if duty != self.extensions.runs_host_wide_timers() {
            tracing::info!("grid: host-wide extensions' timers {} on this host", if duty { "run" } else { "no longer run" });
            self.extensions.set_host_wide_timers(duty);
        }
    }

    /// Undo a partial acquisition: nothing of the region stays served or fenced here.
    fn abandon(&self, id: Uuid, name: &str, epoch: i64) {
        let served = self.owned.get(id).filter(|r| r.epoch == epoch).map(|r| r.name);
        self.owned.remove(id);
        self.store.release_region(id);
        for name in served.iter().map(String::as_str).chain([name]) {
            self.extensions.stop_region(name);
            self.scripts.stop_region(name, SCRIPT_STOP_WAIT);
            if let Some(rc) = &self.remote_control {
                rc.remove_region(self.dispatcher.registry(), &self.rc_domain, name, false);
            }
        }
    }

    fn acquire(&self, id: Uuid, name: &str, epoch: i64) -> anyhow::Result<()> {
        // A region still loaded from an older lease goes first (its state is stale).
        if let Some(old) = self.owned.get(id) {
            self.lose(id, old.epoch, false);
        }
        self.store.hold_region(id, epoch);
        let regions = self.store.list_regions().context("cannot read the region from the database")?;
        self.set_anchor(regions.iter().map(|r| r.id));
        let info = regions
            .into_iter()
            .find(|r| r.id == id)
            .with_context(|| format!("region {id} is no longer in the database"))?;
        // The region's extension types first: once the region is in the
        // domain, requests for it run here and may name them.
        let extensions = self
            .extensions
            .start_region(&info.name)
            .map_err(|e| anyhow::anyhow!(e))
            .context("cannot load the region's extensions")?;
        if let Some(rc) = &self.remote_control {
            let registry = self.dispatcher.registry();
            // Hosted under this name from an earlier lease that was not dropped cleanly.
            rc.remove_region(registry, &self.rc_domain, &info.name, false);
            rc.add_region(registry, &self.rc_domain, &info).context("cannot load the region")?;
        }
        self.owned.insert(OwnedRegion {
            id,
            name: info.name.clone(),
            epoch,
        });
        let scripts = self.scripts.start_region(&info.name).context("cannot start the region's scripts")?;
        self.extensions.warm_region(&info.name);
        tracing::info!("grid: serving region {name} ({id}) at epoch {epoch}, {scripts} script(s), {extensions} extension(s)");
        Ok(())
    }

    /// Stop serving `id`. Without `graceful` the fence goes first, so nothing
    /// more is written (another host owns the region); with it the region's
    /// pending motion is flushed under the still valid lease.
    fn lose(&self, id: Uuid, epoch: i64, graceful: bool) {
        let Some(region) = self.owned.get(id) else { return };
        if region.epoch != epoch {
            // A loss of an older lease than the one served now.
            return;
        }
        self.owned.remove(id);
        if !graceful {
            self.store.release_region(id);
        }
        let extensions = self.extensions.stop_region(&region.name);
        let scripts = self.scripts.stop_region(&region.name, SCRIPT_STOP_WAIT);
        if let Some(rc) = &self.remote_control {
            rc.remove_region(self.dispatcher.registry(), &self.rc_domain, &region.name, graceful);
        }
        self.store.release_region(id);
        tracing::warn!(
            "grid: stopped serving region {} ({id}, epoch {epoch}){}, {scripts} script(s) and {extensions} extension(s) dropped",
            region.name,
            if graceful { " after a flush" } else { "" }
        );
    }
}

/// Grid mode of a running host.
pub struct GridRunning {
    /// The grid connection (owners of every region, status, capabilities).
    pub grid: Grid,
    /// The regions served here now.
    pub owned: Arc<OwnedRegions>,
    events: tokio::task::JoinHandle<()>,
    switch: Arc<RegionSwitch>,
}

impl GridRunning {
    /// Start the lease task over the store's regions and serve what it grants.
    pub fn start(
        grid: Grid,
        store: Arc<Store>,
        dispatcher: Dispatcher,
        remote_control: Option<Arc<RemoteControl>>,
        rc_domain: String,
        scripts: Arc<ScriptHost>,
        extensions: Arc<ExtensionHost>,
    ) -> GridRunning {
        let owned = Arc::new(OwnedRegions::default());
        let switch = Arc::new(RegionSwitch {
            store: store.clone(),
            dispatcher,
            remote_control,
            rc_domain,
            scripts,
            extensions,
            owned: owned.clone(),
            anchor: Mutex::new(None),
        });
        // Extensions changed on another host are re-read here; changes here are announced.
        let announcer = grid.clone();
        switch
            .extensions
            .set_announcer(Arc::new(move |id: Uuid| announcer.announce_extension(id)));
        let reloader = switch.extensions.clone();
        grid.on_extension_change(Arc::new(move |change: ExtensionChange| {
            let extensions = reloader.clone();
            tokio::task::spawn_blocking(move || match change {
                ExtensionChange::One(id) => match extensions.reload(id) {
                    Ok(here) => tracing::info!(
                        "grid: extension {id} changed on another host; {}",
                        if here { "reloaded here" } else { "not run here" }
                    ),
                    Err(e) => tracing::error!("grid: extension {id} changed on another host but could not be reloaded here: {e}"),
                },
                ExtensionChange::All => match extensions.reload_all() {
                    Ok(here) => tracing::info!("grid: change notices were down; every extension record read again, {here} run here"),
                    Err(e) => tracing::error!("grid: change notices were down and the extension records could not be read again: {e}"),
                },
            });
        }));
        // A refused write means the lease moved: renew now to see it.
        let waker = grid.clone();
        let listener: dispatcher_store::FenceListener = Arc::new(move |_region: Uuid| waker.wake_leases());
        store.on_fenced(Some(listener));
        let source_store = store;
        let source_switch = switch.clone();
        let mut task = grid.run_leases(move || {
            let regions = source_store.list_regions().map_err(|e| e.to_string())?;
            // Every pass: a region created with a smaller id moves the timer duty.
            source_switch.set_anchor(regions.iter().map(|r| r.id));
            source_switch.decide_timers();
            Ok(regions.into_iter().map(|r| RegionRef { id: r.id, name: r.name }).collect())
        });
        let applier = switch.clone();
        let releaser = grid.clone();
        let events = tokio::spawn(async move {
            while let Some(event) = task.next().await {
                let s = applier.clone();
                let acquired = match &event {
                    LeaseEvent::Acquired { region_id, .. } => Some(*region_id),
                    LeaseEvent::Lost { .. } => None,
                };
                match tokio::task::spawn_blocking(move || s.apply(event)).await {
                    Ok(Some((region, epoch))) => match releaser.release_failed(region, epoch).await {
                        Ok(backoff) => tracing::warn!(
                            "grid: released the lease of region {region} (epoch {epoch}); not claimed here again for {} s",
                            backoff.as_secs()
                        ),
                        Err(e) => tracing::error!("grid: cannot release the lease of region {region} ({e}); it runs out by itself"),
                    },
                    Ok(None) => {
                        if let Some(region) = acquired {
                            releaser.served(region);
                        }
                    }
                    Err(e) => tracing::error!("grid: applying a lease event failed: {e}"),
                }
            }
        });
        GridRunning {
            grid,
            owned,
            events,
            switch,
        }
    }

    /// Stop following lease events (first step of a graceful shutdown): the
    /// regions served now stay loaded and fenced for the final flush.
    pub fn stop_following(&self) {
        self.events.abort();
    }

    /// Graceful hand-over after the regions were stopped and flushed: every
    /// lease released at once, this host leaves the grid.
    pub async fn hand_over(self) {
        let switch = self.switch.clone();
        let owned = self.owned.all();
        // Regions leave the domain (flushing whatever the final flush missed).
        let _ = tokio::task::spawn_blocking(move || {
            for r in owned {
                switch.lose(r.id, r.epoch, true);
            }
        })
        .await;
        match self.grid.release_all().await {
            Ok(n) => tracing::info!("grid: handed over {n} region(s)"),
            Err(e) => tracing::error!("grid: cannot release the leases ({e}); other hosts take the regions when they run out"),
        }
        self.switch.store.on_fenced(None);
    }
}
