//! The `Scripting` domain handlers, registered per hosted region. Upload checks
//! run before anything is stored, each failing with its own message; the asset
//! and the script row are then committed together.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use dispatcher_dispatch::{AuthUser, HandlerError, RequestContext};
use dispatcher_protocol::{Done, WireUuid};
use dispatcher_scene::{Asset, AssetType};
use dispatcher_store::ScriptRow;
use uuid::Uuid;

use crate::compile_pool::CompilePool;
use crate::grants::{self, Grants, SCRIPTING};
use crate::lifecycle::Lifecycle;
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

/// Register the eight messages for every region the directory knows. The
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
    let registry = shared.dispatcher.registry();
    for scene in scenes {
        let name = Some(scene.name.as_str());
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
        on!(list);
        on!(status);
        on!(start);
        on!(stop);
        on!(reset);
        on!(remove);
        on!(log);
    }
}

/// What the caller may do in the region and to one object.
struct Role {
    estate: bool,
    object_owner: bool,
}

fn role(ctx: &RequestContext, user: &AuthUser, object_owner: Uuid) -> Result<Role, HandlerError> {
    let dir = &ctx.services.directory;
    let internal = |e: dispatcher_dispatch::DirectoryError| HandlerError::Internal(e.to_string());
    let scene = dir.scene(&ctx.scene).map_err(internal)?;
    let god = dir.account_by_id(user.id).map_err(internal)?.is_some_and(|a| a.level >= GOD_LEVEL);
    let estate = god || scene.is_some_and(|s| s.estate_owner == user.id || s.estate_managers.contains(&user.id));
    Ok(Role {
        estate,
        object_owner: user.id == object_owner,
    })
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
    let mine = &caller.info;
    if !scope::in_scope(&*shared.scene, mine, target.info.object_id) {
        return Err(not_permitted(format!(
            "not permitted: script {} is in object {}, out of the calling script's scope; {} not granted",
            target.info.id,
            target.info.object_id,
            scope::wider_scope(mine.grants.scope())
        )));
    }
    if how == Manage::Run {
        if let Some(extra) = exceeding(&mine.grants, &target.info.grants) {
            return Err(not_permitted(format!(
                "not permitted: script {} holds grants the calling script does not hold: {extra}",
                target.info.id
            )));
        }
    }
    Ok(())
}

/// The grants of `wanted` that `held` does not cover, named and joined (`None`
/// when all are covered): a scope grant is covered by an equal or wider
/// scope, any other grant only by itself.
fn exceeding(held: &Grants, wanted: &Grants) -> Option<String> {
    let extra: Vec<String> = wanted
        .to_vec()
        .into_iter()
        .filter(|g| match g.as_str() {
            "scope:self" => false,
            "scope:owner" => held.scope() < grants::Scope::Owner,
            "scope:region" => held.scope() < grants::Scope::Region,
            other => !held.has(other),
        })
        .collect();
    (!extra.is_empty()).then(|| extra.join(", "))
}

/// A script of this region the caller may manage.
fn managed(shared: &Lifecycle, ctx: &RequestContext, id: WireUuid, how: Manage) -> Result<Arc<Script>, HandlerError> {
    let user = ctx.require_user()?;
    let script = shared
        .get(id.0)
        .filter(|s| s.info.region == ctx.scene)
        .ok_or_else(|| HandlerError::NotFound(format!("no such script {id}")))?;
    if let Some(caller) = calling_script(shared, ctx) {
        bound_by_caller(shared, &caller, &script, how)?;
    }
    let r = role(ctx, user, script.info.owner_id)?;
    if r.estate || r.object_owner || user.id == script.info.uploader_id {
        Ok(script)
    } else {
        Err(not_permitted(format!("not permitted to manage script {id}")))
    }
}

fn status_of(script: &Script) -> ScriptStatus {
    let c = script.control.lock();
    let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let k = &script.counters;
    ScriptStatus {
        script_id: script.info.id.into(),
        object_id: script.info.object_id.into(),
        name: script.info.name.clone(),
        hash: script.info.hash.clone(),
        state: c.state.as_str().into(),
        grants: script.info.grants.to_vec(),
        fault_reason: c.fault.map(|f| f.as_str().to_owned()).unwrap_or_default(),
        events_handled: n(&k.events_handled),
        events_dropped: n(&k.events_dropped),
        cpu_micros: n(&k.cpu_micros),
        fuel_consumed: n(&k.fuel_consumed),
        memory_bytes: n(&k.memory_bytes),
        restarts: c.restarts,
        denied_calls: n(&k.denied_calls),
        rate_limited_calls: n(&k.rate_limited_calls),
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
    if bytes.is_empty() {
        return Err(HandlerError::Invalid("Component is empty".into()));
    }
    if bytes.len() > limits.max_component_bytes {
        return Err(HandlerError::Limited(format!(
            "component of {} bytes exceeds MaxComponentBytes ({}); the host's [Scripting] MaxComponentBytes must be raised to accept it",
            bytes.len(),
            limits.max_component_bytes
        )));
    }
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
        if !scope::in_scope(&*shared.scene, &caller.info, object_id) {
            return Err(not_permitted(format!(
                "not permitted: object {object_id} is out of the uploading script's scope; {} not granted",
                scope::wider_scope(caller.info.grants.scope())
            )));
        }
        if let Some(extra) = exceeding(&caller.info.grants, &requested) {
            return Err(not_permitted(format!(
                "not permitted: grants not held by the uploading script {}: {extra}; a script's uploads get at most its own grants",
                caller.info.id
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
    let script = Arc::new(Script::new(info, state, None));
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
        scripts.retain(|s| scope::in_scope(&*shared.scene, &caller.info, s.info.object_id));
    }
    scripts.sort_by_key(|s| (s.info.object_id, s.info.name.clone(), s.info.id));
    Ok(ListScriptsResponse {
        scripts: scripts.iter().map(|s| status_of(s)).collect(),
    })
}

fn status(shared: &Arc<Lifecycle>, ctx: &RequestContext, req: GetScriptStatusRequest) -> Result<ScriptStatusResponse, HandlerError> {
    let script = managed(shared, ctx, req.script_id, Manage::Observe)?;
    Ok(ScriptStatusResponse(status_of(&script)))
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
