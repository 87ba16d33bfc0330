//! Lifecycle and persistence: start, stop, reset, remove, fault and restart
//! with backoff, the durable state of every script (its row survives host
//! restarts, backoff included), and the components scripts share (compiled
//! code and stored bytes, freed with their last script).

use std::collections::{HashMap, HashSet};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use dispatcher_dispatch::Dispatcher;
use dispatcher_scene::{Asset, AssetType};
use dispatcher_store::Store;
use parking_lot::Mutex;
use uuid::Uuid;

use crate::engine::{Compiled, ScriptEngine};
use crate::error::ScriptingError;
use crate::fault::Fault;
use crate::grants::Grants;
use crate::limits::ScriptingLimits;
use crate::run_queue::RunQueue;
use crate::scene::SceneHooks;
use crate::scheduler::Scheduler;
use crate::script::{Event, RunState, Script, ScriptInfo};
use crate::table::ScriptTable;

/// What the lifecycle reaches: the script table and the components behind
/// it, the store, the run queue (start and unload events) and the scheduler
/// (restarts); the dispatcher for scripts' capabilities, the scene for their
/// inventory items.
pub struct Lifecycle {
    pub limits: ScriptingLimits,
    pub dispatcher: Dispatcher,
    pub store: Arc<Store>,
    pub scene: Arc<dyn SceneHooks>,
    pub engine: Arc<ScriptEngine>,
    pub scripts: Arc<ScriptTable>,
    /// Held while a script joins or leaves `scripts` together with its
    /// component's references (store rows, compiled code, cache file), so a
    /// component is never freed while a new script is taking it up.
    pub components: Mutex<()>,
    pub run_queue: Arc<RunQueue>,
    pub scheduler: Arc<Scheduler>,
    /// Updates compiled and waiting for their script's runner (`Event::Swap`),
    /// at most one per script.
    pub swaps: Mutex<HashMap<Uuid, PendingSwap>>,
}

/// A hot swap waiting for the script's runner: the script's info with the
/// new component, the compiled component and its bytes (stored once it has
/// started), and where the outcome goes.
pub struct PendingSwap {
    pub info: Arc<ScriptInfo>,
    pub compiled: Compiled,
    pub bytes: Vec<u8>,
    pub reply: mpsc::SyncSender<SwapOutcome>,
}

/// How a hot swap ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SwapOutcome {
    /// The new component runs (or replaced a script that was not running).
    Swapped,
    /// The new component faulted or was interrupted in `on-start`; the
    /// previous one was restored. The text says why.
    RolledBack(String),
    /// The new component started but could not be stored; the previous one
    /// was restored.
    Failed(String),
}

impl Lifecycle {
    pub fn get(&self, id: Uuid) -> Option<Arc<Script>> {
        self.scripts.get(id)
    }

    /// Scripts whose info passes `filter`, in no particular order (callers
    /// sort when order matters).
    pub fn select(&self, filter: impl Fn(&ScriptInfo) -> bool) -> Vec<Arc<Script>> {
        self.scripts.select(filter)
    }

    pub fn log(&self, script: &Script, level: &'static str, text: &str) {
        script.push_log(level, text, self.limits.log_ring_lines, self.limits.max_log_line_bytes);
    }

    /// The compiled component of a script (memory cache, disk cache, or the
    /// stored asset).
    pub fn compiled_for(&self, script: &Script) -> Result<Compiled, String> {
        if let Some(c) = self.engine.cached(&script.info().hash) {
            return Ok(c);
        }
        let asset = self
            .store
            .get_asset(script.info().asset_id)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("component asset {} is missing", script.info().asset_id))?;
        self.engine.load(&asset.data)
    }

    /// Record a state change durably.
    fn persist_state(&self, script: &Script, state: RunState, fault: Option<Fault>) {
        let reason = fault.map(Fault::as_str).unwrap_or("");
        if let Err(e) = self.store.set_script_state(script.info().id, state.as_str(), reason) {
            tracing::error!(script = %script.info().id, error = %e, "cannot record script state");
        }
    }

    /// Explicit start (upload with Start, StartScriptRequest, ResetScriptRequest).
    pub fn start(&self, script: &Arc<Script>) {
        // A reset interrupts the event running now.
        script.interrupt();
        {
            let mut c = script.control.lock();
            c.state = RunState::Running;
            c.fault = None;
            c.restarts = 0;
        }
        script.clear_activity();
        self.persist_state(script, RunState::Running, None);
        script.publish_status("started");
        self.run_queue.deliver(script, Event::Start);
    }

    pub fn stop(&self, script: &Arc<Script>) {
        script.control.lock().state = RunState::Stopped;
        script.interrupt();
        script.clear_activity();
        self.persist_state(script, RunState::Stopped, None);
        script.publish_status("stopped");
        self.run_queue.deliver(script, Event::Unload);
    }

    /// Remove a script everywhere: memory, database, capability, inventory;
    /// its component (stored bytes, compiled code, cache file) goes too when
    /// no other script uses it.
    pub fn remove(&self, script: &Arc<Script>) {
        {
            let mut c = script.control.lock();
            c.removed = true;
            c.state = RunState::Stopped;
        }
        script.interrupt();
        script.clear_activity();
        {
            let _components = self.components.lock();
            self.scripts.remove(script.info().id);
            if let Err(e) = self.store.delete_script(script.info().id) {
                tracing::error!(script = %script.info().id, error = %e, "cannot delete script");
            }
            self.release_component_locked(&script.info().hash);
        }
        if let Some(swap) = self.take_swap(script.id()) {
            let _ = swap.reply.try_send(SwapOutcome::Failed("the script was removed".into()));
        }
        script.publish_status("removed");
        self.run_queue.deliver(script, Event::Unload);
        self.dispatcher.services().capabilities.destroy(script.info().capability);
        self.scene
            .remove_script_item(&script.info().region, script.info().object_id, script.info().id, script.info().asset_id);
    }

    /// Queue a hot swap: the runner takes it after the event running now.
    /// Refused (false) while another update of the script is pending.
    pub fn begin_swap(&self, script: &Arc<Script>, swap: PendingSwap) -> bool {
        {
            let mut swaps = self.swaps.lock();
            if swaps.contains_key(&script.id()) {
                return false;
            }
            swaps.insert(script.id(), swap);
        }
        self.run_queue.deliver_first(script, Event::Swap);
        true
    }

    /// The runner's side of `Event::Swap`.
    pub fn take_swap(&self, id: Uuid) -> Option<PendingSwap> {
        self.swaps.lock().remove(&id)
    }

    /// The new component started (or the script was not running): store it,
    /// move the inventory item, free what the old one held. On a storage
    /// failure the previous info is put back (the runner restores the
    /// previous instance). The outcome is sent to the waiting request too.
    pub fn finish_swap(&self, script: &Arc<Script>, old: &Arc<ScriptInfo>, swap: PendingSwap) -> SwapOutcome {
        let new = &swap.info;
        let asset = Asset {
            id: new.asset_id,
            asset_type: AssetType::WasmComponent,
            name: new.name.clone(),
            description: format!("script component {}", new.hash),
            content_type: Some("application/wasm".into()),
            creator_id: new.uploader_id.to_string(),
            local: true,
            temporary: false,
            data: swap.bytes,
        };
        let components = self.components.lock();
        let stored = self
            .store
            .replace_script_component(new.id, &asset, &new.hash, &new.grants.to_text(), &new.start_parameter);
        let asset_id = match stored {
            Ok(Some(id)) => id,
            failed => {
                drop(components);
                script.set_info(old.clone());
                if new.capability != old.capability {
                    self.dispatcher.services().capabilities.destroy(new.capability);
                }
                let text = match failed {
                    Err(e) => format!("cannot store the new component: {e}; the previous one was restored"),
                    _ => "the script is no longer stored (removed during the update)".to_owned(),
                };
                self.log(script, "error", &text);
                let _ = swap.reply.try_send(SwapOutcome::Failed(text.clone()));
                return SwapOutcome::Failed(text);
            }
        };
        let mut info = (**new).clone();
        info.asset_id = asset_id;
        script.set_info(Arc::new(info.clone()));
        self.engine.keep(&swap.compiled);
        if old.hash != info.hash {
            self.release_component_locked(&old.hash);
        }
        drop(components);
        if old.capability != info.capability {
            self.dispatcher.services().capabilities.destroy(old.capability);
        }
        if old.asset_id != info.asset_id {
            self.scene.remove_script_item(&old.region, old.object_id, old.id, old.asset_id);
            self.scene.add_script_item(
                &info.region,
                info.object_id,
                &crate::scene::ScriptItem {
                    item_id: info.id,
                    name: info.name.clone(),
                    asset_id: info.asset_id,
                    owner_id: info.owner_id,
                    creator_id: info.uploader_id,
                },
            );
        }
        self.log(script, "info", &format!("updated to component {}", info.hash));
        script.publish_status("updated");
        let _ = swap.reply.try_send(SwapOutcome::Swapped);
        SwapOutcome::Swapped
    }

    /// The new component faulted (or was interrupted) in `on-start`: the
    /// previous info comes back (the caller restores the instance and its
    /// activity), the new capability is dropped, the outcome is logged.
    pub fn roll_back_swap(&self, script: &Arc<Script>, old: Arc<ScriptInfo>, swap: PendingSwap, reason: &str) {
        let new_capability = swap.info.capability;
        script.set_info(old.clone());
        if new_capability != old.capability {
            self.dispatcher.services().capabilities.destroy(new_capability);
        }
        let text = format!(
            "update to component {} rolled back: {reason}; component {} restored and running",
            swap.info.hash, old.hash
        );
        self.log(script, "warn", &text);
        let _ = swap.reply.try_send(SwapOutcome::RolledBack(text));
    }

    /// Free a component's compiled code and cache file when no script uses
    /// it. The caller holds `components`.
    pub(crate) fn release_component_locked(&self, hash: &str) {
        if !self.scripts.any(|i| i.hash == hash) {
            self.engine.forget(hash);
            crate::compile_pool::return_free_memory();
        }
    }

    /// A fault: drop activity, then restart with backoff or give up.
    pub fn on_fault(&self, script: &Arc<Script>, fault: Fault) {
        script.clear_activity();
        if let Some(swap) = self.take_swap(script.id()) {
            let text = format!("the script faulted ({}) before the update ran; nothing changed", fault.as_str());
            let _ = swap.reply.try_send(SwapOutcome::Failed(text));
        }
        let (restarts, gave_up) = {
            let mut c = script.control.lock();
            c.fault = Some(fault);
            c.restarts += 1;
            let gave_up = c.restarts > self.limits.max_restarts;
            if gave_up {
                c.state = RunState::Faulted;
            }
            (c.restarts, gave_up)
        };
        if gave_up {
            self.log(script, "error", &format!("faulted ({}) after {} restarts", fault.as_str(), restarts - 1));
            self.persist_state(script, RunState::Faulted, Some(fault));
            script.publish_status("faulted");
            return;
        }
        let delay_ms = self.restart_delay_ms(restarts);
        self.log(script, "warn", &format!("fault {}; restart {restarts} in {delay_ms} ms", fault.as_str()));
        // Durable, so that a host restart (or crash) starts it with backoff
        // instead of at once.
        self.persist_state(script, RunState::Running, Some(fault));
        script.publish_status("fault");
        self.scheduler.restart(script.info().id, delay_ms);
    }

    /// Backoff before restart number `restarts` (1 = the first).
    fn restart_delay_ms(&self, restarts: u32) -> u64 {
        self.limits
            .restart_backoff_base_ms
            .saturating_mul(1 << restarts.saturating_sub(1).min(16))
    }

    /// Recreate every stored script with a fresh internal capability; running
    /// ones get `on-start` again.
    pub fn load_persisted(&self) -> Result<(), ScriptingError> {
        self.bring_back(self.store.list_scripts()?);
        self.sweep_compile_cache();
        Ok(())
    }

    /// Grid mode: bring back the stored scripts of one region this host just
    /// acquired (running ones get `on-start`). Returns how many were loaded.
    pub fn load_region(&self, region: &str) -> Result<usize, ScriptingError> {
        let rows: Vec<_> = self.store.list_scripts()?.into_iter().filter(|r| r.region == region).collect();
        let n = rows.len();
        self.bring_back(rows);
        Ok(n)
    }

    /// Grid mode: drop every script of `region` from this host without
    /// touching the store (the region moved to another host, which owns the
    /// scripts' state now): running events are interrupted, instances
    /// dropped, timers and listeners cleared, capabilities destroyed. Waits
    /// at most `within` for running events to end. Returns how many scripts
    /// were dropped.
    pub fn evict_region(&self, region: &str, within: Duration) -> usize {
        let scripts = self.select(|i| i.region == region);
        for script in &scripts {
            script.control.lock().removed = true;
            script.interrupt();
            script.clear_activity();
            self.scripts.remove(script.info().id);
            if let Some(swap) = self.take_swap(script.id()) {
                let _ = swap
                    .reply
                    .try_send(SwapOutcome::Failed("the script's region moved to another host".into()));
            }
            self.run_queue.deliver(script, Event::Unload);
            self.dispatcher.services().capabilities.destroy(script.info().capability);
        }
        let deadline = std::time::Instant::now() + within;
        for script in &scripts {
            loop {
                if let Some(mut live) = script.live.try_lock() {
                    *live = None;
                    break;
                }
                if std::time::Instant::now() >= deadline {
                    tracing::warn!(script = %script.info().id, "a script of a region that moved was still running at the deadline");
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        scripts.len()
    }

    /// Recreate stored scripts with a fresh internal capability; running
    /// ones get `on-start` again.
    fn bring_back(&self, rows: Vec<dispatcher_store::ScriptRow>) {
        let services = self.dispatcher.services().clone();
        for row in rows {
            let grants = Grants::from_text(&row.grants);
            let name = services
                .directory
                .account_by_id(row.uploader_id)
                .ok()
                .flatten()
                .map(|a| a.name())
                .unwrap_or_default();
            let cap = services
                .capabilities
                .create(row.uploader_id, name, row.region.clone(), grants.domains(), Duration::ZERO);
            let info = ScriptInfo {
                id: row.id,
                region: row.region,
                object_id: row.object_id,
                name: row.name,
                asset_id: row.asset_id,
                hash: row.hash,
                uploader_id: row.uploader_id,
                owner_id: row.owner_id,
                start_parameter: row.start_parameter,
                grants,
                capability: cap.id,
            };
            let state = RunState::parse(&row.state);
            let fault = Fault::parse(&row.fault_reason);
            let script = Arc::new(Script::new(info, state, fault).with_feed(services.clone()));
            self.scripts.insert(script.clone());
            if state != RunState::Running {
                continue;
            }
            match fault {
                // It faulted on its last run and was waiting for a restart: the
                // backoff goes on across host restarts (and crashes).
                Some(fault) => {
                    script.control.lock().restarts = 1;
                    let delay_ms = self.restart_delay_ms(1);
                    self.log(
                        &script,
                        "warn",
                        &format!("faulted ({}) before the host restarted; restart in {delay_ms} ms", fault.as_str()),
                    );
                    self.scheduler.restart(script.info().id, delay_ms);
                }
                None => {
                    self.run_queue.deliver(&script, Event::Start);
                }
            }
        }
    }

    /// Delete cache files no stored script or extension uses.
    fn sweep_compile_cache(&self) {
        // Cache files no stored script uses (removed before this change, or built
        // by another engine configuration) are deleted.
        // Installed extensions' components are cached the same way: without
        // them here every host start deleted their files and recompiled them.
        let mut in_use: HashSet<String> = self.scripts.all().iter().map(|s| s.info().hash.clone()).collect();
        let extensions = match self.store.list_extensions() {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "cannot list extensions; the compile cache is not swept");
                return;
            }
        };
        in_use.extend(extensions.into_iter().map(|row| row.hash));
        let deleted = self.engine.sweep_disk(&in_use);
        if deleted > 0 {
            tracing::info!(files = deleted, "deleted unused compiled components");
        }
    }
}
