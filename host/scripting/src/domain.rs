//! The `Scripting` domain handlers, registered per hosted region. Upload checks
//! run before anything is stored, each failing with its own message; the asset
//! and the script row are then committed together.

use std::sync::Arc;
use std::time::Duration;

use dispatcher_dispatch::{AuthUser, HandlerError, RequestContext};
use dispatcher_protocol::{Done, WireUuid};
use dispatcher_scene::{Asset, AssetType};
use dispatcher_store::ScriptRow;
use uuid::Uuid;

use crate::compile_pool::CompilePool;
use crate::grants::{self, Grants, SCRIPTING};
use crate::lifecycle::{Lifecycle, PendingSwap, SwapOutcome};
use crate::messages::*;
use crate::scope;
use crate::script::{RunState, Script, ScriptInfo};

/// Account level from which OpenSim treats a user as a god.
const GOD_LEVEL: i32 = 200;

fn failure(text: impl Into<String>) -> HandlerError {
    HandlerError::Failure(text.into())
}

fn not_permitted(text: impl Into<String>) -> HandlerError {
    HandlerError::NotPermitted(text.into())
}

/// Register the nine messages for every region the directory knows. The
/// handlers reach scripts through the lifecycle; uploads compile on `compiles`.
pub(crate) fn register(shared: &Arc<Lifecycle>, compiles: &Arc<CompilePool>) {
    let services = shared.dispatcher.services().clone();
    let scenes = match services.directory.scenes() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot list regions; Scripting domain not registered");
            return;
        }
    };
    for scene in scenes {
        register_scene(shared, compiles, &scene.name);
    }
}

/// Register the nine messages for one region (grid mode: a region this host
/// just acquired).
pub(crate) fn register_scene(shared: &Arc<Lifecycle>, compiles: &Arc<CompilePool>, scene: &str) {
    let registry = shared.dispatcher.registry();
    let name = Some(scene);
    macro_rules! on {
        ($f:ident) => {{
            let s = shared.clone();
            registry.register(name, SCRIPTING, move |ctx, req| $f(&s, ctx, req));
        }};
    }
    {
        let (s, pool) = (shared.clone(), compiles.clone());
        registry.register(name, SCRIPTING, move |ctx, req| upload(&s, &pool, ctx, req));
    }
    {
        let (s, pool) = (shared.clone(), compiles.clone());
        registry.register(name, SCRIPTING, move |ctx, req| update(&s, &pool, ctx, req));
    }
    on!(list);
    on!(status);
    on!(start);
    on!(stop);
    on!(reset);
    on!(remove);
    on!(log);
}

/// What the caller may do in the region and to one object.
struct Role {
    estate: bool,
    object_owner: bool,
}

fn role(ctx: &RequestContext, user: &AuthUser, object_owner: Uuid) -> Result<Role, HandlerError> {
    let estate = estate_role(&*ctx.services.directory, user.id, &ctx.scene).map_err(|e| HandlerError::Internal(e.to_string()))?;
    Ok(Role {
        estate,
        object_owner: user.id == object_owner,
    })
}

/// Whether `user` manages every script of `scene`: a god, the estate's owner
/// or one of its managers (the event stream's `script-logs` topic asks too).
pub fn estate_role(dir: &dyn dispatcher_dispatch::Directory, user: Uuid, scene: &str) -> Result<bool, dispatcher_dispatch::DirectoryError> {
    let region = dir.scene(scene)?;
    let god = dir.account_by_id(user)?.is_some_and(|a| a.level >= GOD_LEVEL);
    Ok(god || region.is_some_and(|s| s.estate_owner == user || s.estate_managers.contains(&user)))
}

/// The script making this request, when a script makes it: requests from
/// scripts carry the script's own internal capability (call.rs).
fn calling_script(shared: &Lifecycle, ctx: &RequestContext) -> Option<Arc<Script>> {
    if ctx.capability.is_nil() {
        return None;
    }
    shared.select(|i| i.capability == ctx.capability).into_iter().next()
}

/// What a management call does to its target.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Manage {
    /// Reads or stops: status, log, stop, remove.
    Observe,
    /// Runs the target's code with the target's grants: start, reset.
    Run,
}

/// Rights only shrink: a script manages only scripts whose object is in its
/// own scope, and (re)starts only scripts holding no grant it lacks itself.
fn bound_by_caller(shared: &Lifecycle, caller: &Script, target: &Script, how: Manage) -> Result<(), HandlerError> {
    let mine = &caller.info();
    if !scope::in_scope(&*shared.scene, mine, target.info().object_id) {
        return Err(not_permitted(format!(
            "not permitted: script {} is in object {}, out of the calling script's scope; {} not granted",
            target.info().id,
            target.info().object_id,
            scope::wider_scope(mine.grants.scope())
        )));
    }
    if how == Manage::Run {
        if let Some(extra) = exceeding(&mine.grants, &target.info().grants) {
            return Err(not_permitted(format!(
                "not permitted: script {} holds grants the calling script does not hold: {extra}",
                target.info().id
            )));
        }
    }
    Ok(())
}

/// The grants of `wanted` that `held` does not cover, named and joined (`None`
/// when all are covered): a scope grant is covered by an equal or wider
/// scope, any other grant only by itself.
fn exceeding(held: &Grants, wanted: &Grants) -> Option<String> {
    let extra = extra_grants(held, wanted);
    (!extra.is_empty()).then(|| extra.join(", "))
}

/// The grants of `wanted` that `held` does not cover.
fn extra_grants(held: &Grants, wanted: &Grants) -> Vec<String> {
    wanted
        .to_vec()
        .into_iter()
        .filter(|g| match g.as_str() {
            "scope:self" => false,
            "scope:owner" => held.scope() < grants::Scope::Owner,
            "scope:region" => held.scope() < grants::Scope::Region,
            other => !held.has(other),
        })
        .collect()
}

/// A script of this region the caller may manage.
fn managed(shared: &Lifecycle, ctx: &RequestContext, id: WireUuid, how: Manage) -> Result<Arc<Script>, HandlerError> {
    let user = ctx.require_user()?;
    let script = shared
        .get(id.0)
        .filter(|s| s.info().region == ctx.scene)
        .ok_or_else(|| HandlerError::NotFound(format!("no such script {id}")))?;
    if let Some(caller) = calling_script(shared, ctx) {
        bound_by_caller(shared, &caller, &script, how)?;
    }
    let r = role(ctx, user, script.info().owner_id)?;
    if r.estate || r.object_owner || user.id == script.info().uploader_id {
        Ok(script)
    } else {
        Err(not_permitted(format!("not permitted to manage script {id}")))
    }
}

fn upload(
    shared: &Arc<Lifecycle>,
    compiles: &CompilePool,
    ctx: &RequestContext,
    req: UploadScriptRequest,
) -> Result<UploadScriptResponse, HandlerError> {
    let user = ctx.require_user()?.clone();
    let region = ctx.scene.clone();
    let object_id = req.object_id.0;
    let object = shared
        .scene
        .object(&region, object_id)
        .ok_or_else(|| HandlerError::NotFound("no such object".into()))?;
    let r = role(ctx, &user, object.owner_id)?;
    if !(r.estate || r.object_owner) {
        return Err(not_permitted(format!("not permitted to modify object {object_id}")));
    }
    let bytes = req.component.0;
    let limits = &shared.limits;
    check_size(shared, &bytes)?;
    if shared.select(|i| i.region == region).len() >= limits.max_scripts_per_region {
        return Err(HandlerError::Limited(format!(
            "region {region} already has MaxScriptsPerRegion ({}) scripts",
            limits.max_scripts_per_region
        )));
    }
    let requested = Grants::parse(&req.grants).map_err(HandlerError::Invalid)?;
    // A script uploading: the target object must be in its scope and the
    // child gets no grant the uploading script does not hold itself.
    if let Some(caller) = calling_script(shared, ctx) {
        if !scope::in_scope(&*shared.scene, &caller.info(), object_id) {
            return Err(not_permitted(format!(
                "not permitted: object {object_id} is out of the uploading script's scope; {} not granted",
                scope::wider_scope(caller.info().grants.scope())
            )));
        }
        if let Some(extra) = exceeding(&caller.info().grants, &requested) {
            return Err(not_permitted(format!(
                "not permitted: grants not held by the uploading script {}: {extra}; a script's uploads get at most its own grants",
                caller.info().id
            )));
        }
    }
    let caps = &ctx.services.capabilities;
    let grants = requested.intersect(|g| match g {
        "scope:region" => r.estate,
        "scope:owner" => r.estate || r.object_owner,
        // `ext:<Domain>`: the uploader's capability must list that domain.
        _ => match g.strip_prefix(grants::EXT_PREFIX) {
            Some(domain) => caps.authorize(user.capability, domain, &region).is_ok(),
            None => grants::domain_of(g).is_none_or(|d| caps.authorize(user.capability, d, &region).is_ok()),
        },
    });
    let compiled = compile(shared, compiles, bytes)?;
    let bytes = compiled.1;
    let compiled = compiled.0;
    let state = if req.start { RunState::Running } else { RunState::Stopped };
    let name = if req.name.trim().is_empty() { "script".to_owned() } else { req.name };
    let mut row = ScriptRow {
        id: Uuid::new_v4(),
        region: region.clone(),
        object_id,
        name: name.clone(),
        asset_id: Uuid::new_v4(),
        hash: compiled.hash.clone(),
        uploader_id: user.id,
        owner_id: object.owner_id,
        grants: grants.to_text(),
        start_parameter: req.start_parameter,
        state: state.as_str().into(),
        fault_reason: String::new(),
    };
    let asset = Asset {
        id: row.asset_id,
        asset_type: AssetType::WasmComponent,
        name: name.clone(),
        description: format!("script component {}", compiled.hash),
        content_type: Some("application/wasm".into()),
        creator_id: user.id.to_string(),
        local: true,
        temporary: false,
        data: bytes,
    };
    // The script takes up its component (a stored one with the same hash is
    // shared) under the components lock, so a concurrent removal of the last
    // other user cannot free it in between.
    let components = shared.components.lock();
    match shared.store.insert_script(&row, &asset) {
        Ok(asset_id) => row.asset_id = asset_id,
        Err(e) => {
            shared.release_component_locked(&compiled.hash);
            return Err(HandlerError::Internal(e.to_string()));
        }
    }
    shared.engine.keep(&compiled);
    let cap = caps.create(user.id, user.name.clone(), region.clone(), grants.domains(), Duration::ZERO);
    let info = ScriptInfo {
        id: row.id,
        region: region.clone(),
        object_id,
        name: name.clone(),
        asset_id: row.asset_id,
        hash: row.hash.clone(),
        uploader_id: user.id,
        owner_id: object.owner_id,
        start_parameter: row.start_parameter.clone(),
        grants: grants.clone(),
        capability: cap.id,
    };
    let script = Arc::new(Script::new(info, state, None).with_feed(ctx.services.clone()));
    shared.scripts.insert(script.clone());
    drop(components);
    shared.scene.add_script_item(
        &region,
        object_id,
        &crate::scene::ScriptItem {
            item_id: row.id,
            name,
            asset_id: row.asset_id,
            owner_id: object.owner_id,
            creator_id: user.id,
        },
    );
    script.publish_status("created");
    if state == RunState::Running {
        shared.start(&script);
    }
    Ok(UploadScriptResponse {
        script_id: row.id.into(),
        asset_id: row.asset_id.into(),
        hash: row.hash,
        grants: grants.to_vec(),
        state: state.as_str().into(),
    })
}

/// How long an update waits for its script's runner to take the new
/// component (the running event finishes first; then `on-start`).
const UPDATE_WAIT: Duration = Duration::from_secs(30);

/// The component's size against `MaxComponentBytes`.
fn check_size(shared: &Lifecycle, bytes: &[u8]) -> Result<(), HandlerError> {
    let max = shared.limits.max_component_bytes;
    if bytes.is_empty() {
        return Err(HandlerError::Invalid("Component is empty".into()));
    }
    if bytes.len() > max {
        return Err(HandlerError::Limited(format!(
            "component of {} bytes exceeds MaxComponentBytes ({max}); the host's [Scripting] MaxComponentBytes must be raised to accept it",
            bytes.len()
        )));
    }
    Ok(())
}

/// Hot swap (authoring spec §2): the new component is checked and compiled
/// before anything changes; the script's runner then swaps it in after the
/// event running now, and the reply says whether it runs or was rolled back.
/// Grants may only narrow, unless the caller could grant the wider set at
/// upload.
fn update(
    shared: &Arc<Lifecycle>,
    compiles: &CompilePool,
    ctx: &RequestContext,
    req: UpdateScriptRequest,
) -> Result<UpdateScriptResponse, HandlerError> {
    let user = ctx.require_user()?.clone();
    let script = managed(shared, ctx, req.script_id, Manage::Run)?;
    let current = script.info();
    let bytes = req.component.0;
    check_size(shared, &bytes)?;
    let requested = match &req.grants {
        Some(names) => Grants::parse(names).map_err(HandlerError::Invalid)?,
        None => current.grants.clone(),
    };
    if let Some(caller) = calling_script(shared, ctx) {
        if let Some(extra) = exceeding(&caller.info().grants, &requested) {
            return Err(not_permitted(format!(
                "not permitted: grants not held by the updating script {}: {extra}",
                caller.id()
            )));
        }
    }
    let extra = extra_grants(&current.grants, &requested);
    if !extra.is_empty() {
        // Wider than now: only what the caller could grant at upload.
        let object = shared
            .scene
            .object(&ctx.scene, current.object_id)
            .ok_or_else(|| HandlerError::NotFound(format!("no such object {}", current.object_id)))?;
        let r = role(ctx, &user, object.owner_id)?;
        let caps = &ctx.services.capabilities;
        let refused: Vec<String> = extra
            .into_iter()
            .filter(|g| match g.as_str() {
                "scope:region" => !r.estate,
                "scope:owner" => !(r.estate || r.object_owner),
                g => grants::domain_of(g).is_some_and(|d| caps.authorize(user.capability, d, &ctx.scene).is_err()),
            })
            .collect();
        if !refused.is_empty() {
            return Err(not_permitted(format!(
                "not permitted: an update may only narrow script {}'s grants; the caller may not grant {}",
                current.id,
                refused.join(", ")
            )));
        }
    }
    let (compiled, bytes) = compile(shared, compiles, bytes)?;
    let capability = if requested.domains() == current.grants.domains() {
        current.capability
    } else {
        let caps = &ctx.services.capabilities;
        caps.create(current.uploader_id, user.name.clone(), current.region.clone(), requested.domains(), Duration::ZERO)
            .id
    };
    let mut info = (*current).clone();
    info.hash = compiled.hash.clone();
    info.asset_id = Uuid::new_v4();
    info.grants = requested;
    if let Some(p) = req.start_parameter {
        info.start_parameter = p;
    }
    info.capability = capability;
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let swap = PendingSwap {
        info: Arc::new(info),
        compiled,
        bytes,
        reply: tx,
    };
    if !shared.begin_swap(&script, swap) {
        if capability != current.capability {
            ctx.services.capabilities.destroy(capability);
        }
        return Err(HandlerError::Limited(format!(
            "script {} is being updated already; try again when that update has finished",
            current.id
        )));
    }
    let outcome = match rx.recv_timeout(UPDATE_WAIT) {
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => match shared.take_swap(current.id) {
            // Never taken (a busy host): withdrawn, nothing changed.
            Some(_) => {
                if capability != current.capability {
                    ctx.services.capabilities.destroy(capability);
                }
                return Err(HandlerError::Limited(format!(
                    "script {}'s runner did not take the update within {} s (the host is busy); nothing changed",
                    current.id,
                    UPDATE_WAIT.as_secs()
                )));
            }
            // Taken: its on-start is bounded by the event budget.
            None => rx.recv_timeout(UPDATE_WAIT),
        },
        other => other,
    };
    let now = script.info();
    let mut reply = UpdateScriptResponse {
        script_id: now.id.into(),
        asset_id: now.asset_id.into(),
        hash: now.hash.clone(),
        grants: now.grants.to_vec(),
        state: script.state().as_str().into(),
        rolled_back: false,
        message: String::new(),
    };
    match outcome {
        Ok(SwapOutcome::Swapped) => Ok(reply),
        Ok(SwapOutcome::RolledBack(text)) => {
            reply.rolled_back = true;
            reply.message = text;
            Ok(reply)
        }
        Ok(SwapOutcome::Failed(text)) => Err(failure(text)),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            reply.message = format!(
                "the update is being applied and was not confirmed within {} s; its outcome will be in the script's log",
                UPDATE_WAIT.as_secs()
            );
            Ok(reply)
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(failure(format!(
            "the update of script {} was dropped: the script was stopped, faulted or removed before its runner took it",
            current.id
        ))),
    }
}

/// Compile an upload's component (or take it from the cache): the compile
/// limits are checked here, on the request's thread, before anything is
/// queued; compiling runs on the compile pool. The bytes come back for storing.
fn compile(shared: &Lifecycle, compiles: &CompilePool, bytes: Vec<u8>) -> Result<(crate::engine::Compiled, Vec<u8>), HandlerError> {
    if let Some(c) = shared.engine.cached(&crate::engine::sha256_hex(&bytes)) {
        return Ok((c, bytes));
    }
    shared.engine.precheck(&bytes).map_err(failure)?;
    let engine = shared.engine.clone();
    let (result, bytes) = compiles
        .run(move || {
            let r = engine.load(&bytes);
            (r, bytes)
        })
        .map_err(|e| match e {
            crate::compile_pool::CompilePoolError::QueueFull { .. } => HandlerError::Limited(e.to_string()),
            _ => failure(e.to_string()),
        })?;
    Ok((result.map_err(failure)?, bytes))
}

fn list(shared: &Arc<Lifecycle>, ctx: &RequestContext, req: ListScriptsRequest) -> Result<ListScriptsResponse, HandlerError> {
    ctx.require_user()?;
    let object = req.object_id.0;
    let mut scripts = shared.select(|i| i.region == ctx.scene && (object.is_nil() || i.object_id == object));
    // A script lists only the scripts of objects in its scope.
    if let Some(caller) = calling_script(shared, ctx) {
        scripts.retain(|s| scope::in_scope(&*shared.scene, &caller.info(), s.info().object_id));
    }
    scripts.sort_by_key(|s| (s.info().object_id, s.info().name.clone(), s.info().id));
    Ok(ListScriptsResponse {
        scripts: scripts.iter().map(|s| s.status()).collect(),
    })
}

fn status(shared: &Arc<Lifecycle>, ctx: &RequestContext, req: GetScriptStatusRequest) -> Result<ScriptStatusResponse, HandlerError> {
    let script = managed(shared, ctx, req.script_id, Manage::Observe)?;
    Ok(ScriptStatusResponse(script.status()))
}

fn start(shared: &Arc<Lifecycle>, ctx: &RequestContext, req: StartScriptRequest) -> Result<Done, HandlerError> {
    let script = managed(shared, ctx, req.script_id, Manage::Run)?;
    if script.state() != RunState::Running {
        shared.start(&script);
    }
    Ok(Done::ok())
}

fn stop(shared: &Arc<Lifecycle>, ctx: &RequestContext, req: StopScriptRequest) -> Result<Done, HandlerError> {
    let script = managed(shared, ctx, req.script_id, Manage::Observe)?;
    shared.stop(&script);
    Ok(Done::ok())
}

fn reset(shared: &Arc<Lifecycle>, ctx: &RequestContext, req: ResetScriptRequest) -> Result<Done, HandlerError> {
    let script = managed(shared, ctx, req.script_id, Manage::Run)?;
    shared.start(&script);
    Ok(Done::ok())
}

fn remove(shared: &Arc<Lifecycle>, ctx: &RequestContext, req: RemoveScriptRequest) -> Result<Done, HandlerError> {
    let script = managed(shared, ctx, req.script_id, Manage::Observe)?;
    shared.remove(&script);
    Ok(Done::ok())
}

fn log(shared: &Arc<Lifecycle>, ctx: &RequestContext, req: GetScriptLogRequest) -> Result<ScriptLogResponse, HandlerError> {
    let script = managed(shared, ctx, req.script_id, Manage::Observe)?;
    let ring = script.log.lock();
    Ok(ScriptLogResponse {
        lines: ring
            .since(req.since)
            .into_iter()
            .map(|l| LogLineRecord {
                seq: l.seq,
                time: l.time_ms,
                level: l.level.into(),
                text: l.text,
            })
            .collect(),
        dropped: ring.dropped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(names: &[&str]) -> Grants {
        Grants::parse(names).expect("grants")
    }

    #[test]
    fn a_child_gets_at_most_the_parent_grants() {
        let parent = g(&["objects:read", "assets:read", "scripts", "scope:self"]);
        assert_eq!(exceeding(&parent, &g(&["objects:read", "scope:self"])), None);
        assert_eq!(exceeding(&parent, &g(&[])), None);
        assert_eq!(
            exceeding(&parent, &g(&["scope:region", "objects:delete", "region:write"])).as_deref(),
            Some("objects:delete, region:write, scope:region")
        );
        assert_eq!(exceeding(&parent, &g(&["scope:owner"])).as_deref(), Some("scope:owner"));
    }

    #[test]
    fn a_wider_scope_covers_a_narrower_one() {
        let region = g(&["scope:region", "chat"]);
        assert_eq!(exceeding(&region, &g(&["scope:owner", "scope:self", "chat"])), None);
        let owner = g(&["scope:owner"]);
        assert_eq!(exceeding(&owner, &g(&["scope:self"])), None);
        assert_eq!(exceeding(&owner, &g(&["scope:region"])).as_deref(), Some("scope:region"));
        // No scope grant at all is scope:self.
        assert_eq!(exceeding(&g(&[]), &g(&["scope:self"])), None);
    }
}
