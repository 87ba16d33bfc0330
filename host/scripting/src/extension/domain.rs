//! The `Extensions` domain: install, list, inspect, start, stop, update,
//! remove, and read the log of extensions; and loading the persisted ones at
//! start-up. Every install check runs before anything is stored, each
//! failing with its own message (extensions spec §3).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use dispatcher_dispatch::{AuthUser, HandlerError, RequestContext};
use dispatcher_messages::extensions::*;
use dispatcher_protocol::Done;
use dispatcher_store::ExtensionRow;
use parking_lot::{Condvar, Mutex};
use uuid::Uuid;

use super::runtime::{ExtControl, Extension, ExtensionHost, ServedType};
use crate::grants::{self, Grants, ACT_AS_INSTALLER};
use crate::script::{ExtFacts, LogLine, RunState, Script, ScriptInfo};

/// The domain's name.
pub const EXTENSIONS: &str = "Extensions";
/// Domain names an extension may not take.
pub const RESERVED: &[&str] = &["Dispatcher", "RemoteControl", "Scripting", "Extensions"];
/// Account level from which OpenSim treats a user as a god.
const GOD_LEVEL: i32 = 200;

fn failure(text: impl Into<String>) -> HandlerError {
    HandlerError::Failure(text.into())
}

fn internal(e: impl std::fmt::Display) -> HandlerError {
    HandlerError::Internal(e.to_string())
}

/// Register the eight messages for every scene.
pub(crate) fn register(host: &Arc<ExtensionHost>) {
    let registry = host.dispatcher().registry();
    macro_rules! on {
        ($f:ident) => {{
            let h = host.clone();
            registry.register(None, EXTENSIONS, move |ctx, req| $f(&h, ctx, req));
        }};
    }
    on!(install);
    on!(update);
    on!(list);
    on!(status);
    on!(start);
    on!(stop);
    on!(remove);
    on!(log);
}

/// What the caller is: a god, and their estate role in a region.
struct Role {
    god: bool,
    owner: bool,
    manager: bool,
}

fn role(ctx: &RequestContext, user: &AuthUser, region: Option<&str>) -> Result<Role, HandlerError> {
    let dir = &ctx.services.directory;
    let god = dir.account_by_id(user.id).map_err(internal)?.is_some_and(|a| a.level >= GOD_LEVEL);
    let scene = match region {
        Some(r) => dir.scene(r).map_err(internal)?,
        None => None,
    };
    Ok(Role {
        god,
        owner: scene.as_ref().is_some_and(|s| s.estate_owner == user.id),
        manager: scene.as_ref().is_some_and(|s| s.estate_managers.contains(&user.id)),
    })
}

/// May `user` install into (or manage extensions of) `scope`?
fn may_manage(ctx: &RequestContext, user: &AuthUser, scope: Option<&str>) -> Result<Role, HandlerError> {
    let r = role(ctx, user, scope)?;
    let ok = match scope {
        None => r.god,
        Some(_) => r.god || r.owner || r.manager,
    };
    if !ok {
        let what = scope.map_or("the whole host (a god only)".to_owned(), |s| {
            format!("region {s} (its estate owner, a manager or a god)")
        });
        return Err(HandlerError::NotPermitted(format!("not permitted to manage extensions of {what}")));
    }
    Ok(r)
}

fn managed(host: &ExtensionHost, ctx: &RequestContext, id: Uuid) -> Result<Arc<Extension>, HandlerError> {
    let user = ctx.require_user()?;
    let ext = match host.get(id) {
        Some(ext) => ext,
        None => return Err(not_here(host, id)),
    };
    if ext.facts.installer_id != user.id {
        may_manage(ctx, user, ext.facts.scope.as_deref())?;
    }
    Ok(ext)
}

/// Why extension `id` is not loaded here: none such, or (grid mode) it
/// serves a region another host owns now, where its requests must go.
fn not_here(host: &ExtensionHost, id: Uuid) -> HandlerError {
    if host.placement.is_grid() {
        match host.calls.store.list_extensions() {
            Ok(rows) => {
                if let Some(row) = rows.into_iter().find(|r| r.id == id) {
                    return failure(format!(
                        "extension {id} serves region {0}, which another host serves now; send the request with _Scene {0} \
                         (it is forwarded to that host)",
                        row.scope
                    ));
                }
            }
            Err(e) => return internal(e),
        }
    }
    HandlerError::NotFound(format!("no such extension {id}"))
}

/// A status record from the stored row of an extension loaded on another
/// host (grid mode): no version or counters here.
fn status_of_row(row: &ExtensionRow) -> ExtensionStatus {
    ExtensionStatus {
        extension_id: row.id.into(),
        domain: row.domain.clone(),
        version: String::new(),
        scope: row.scope.clone(),
        hash: row.hash.clone(),
        state: row.state.clone(),
        grants: row.grants.split_whitespace().map(str::to_owned).collect(),
        fault_reason: row.fault_reason.clone(),
        requests_handled: 0,
        requests_failed: 0,
        cpu_micros: 0,
        memory_bytes: 0,
        restarts: 0,
        installed_by: row.installer_id.into(),
    }
}

fn status_of(ext: &Extension) -> ExtensionStatus {
    let c = ext.control.lock();
    ExtensionStatus {
        extension_id: ext.facts.id.into(),
        domain: ext.domain().to_owned(),
        version: ext.version.clone(),
        scope: ext.facts.scope.clone().unwrap_or_default(),
        hash: ext.hash.clone(),
        state: c.state.as_str().to_owned(),
        grants: ext.grant_names(),
        fault_reason: c.fault.map(|f| f.as_str().to_owned()).unwrap_or_default(),
        requests_handled: ext.handled.load(Ordering::Relaxed),
        requests_failed: ext.failed.load(Ordering::Relaxed),
        cpu_micros: ext.script.counters.cpu_micros.load(Ordering::Relaxed),
        memory_bytes: ext.script.counters.memory_bytes.load(Ordering::Relaxed),
        restarts: c.restarts,
        installed_by: ext.facts.installer_id.into(),
    }
}

/// What an install or update asks for, checked.
struct Wanted {
    grants: Grants,
    act_as_installer: bool,
}

/// Parse the requested grants; `act-as-installer` only from a god or the
/// estate owner; every other grant only within the installer's capability
/// (as for script uploads).
fn wanted_grants(ctx: &RequestContext, user: &AuthUser, r: &Role, names: &[String]) -> Result<Wanted, HandlerError> {
    let act = names.iter().any(|n| n.trim() == ACT_AS_INSTALLER);
    if act && !(r.god || r.owner) {
        return Err(HandlerError::NotPermitted(format!(
            "not permitted: {ACT_AS_INSTALLER} may only be given by a god or the estate owner"
        )));
    }
    let rest: Vec<&str> = names.iter().map(|n| n.trim()).filter(|n| *n != ACT_AS_INSTALLER).collect();
    let requested = Grants::parse(&rest).map_err(HandlerError::Invalid)?;
    let caps = &ctx.services.capabilities;
    let grants = requested.intersect(|g| match g.strip_prefix(grants::EXT_PREFIX) {
        Some(domain) => caps.authorize(user.capability, domain, &ctx.scene).is_ok(),
        None => grants::domain_of(g).is_none_or(|d| caps.authorize(user.capability, d, &ctx.scene).is_ok()),
    });
    Ok(Wanted {
        grants,
        act_as_installer: act,
    })
}

fn grants_text(w: &Wanted) -> String {
    let mut text = w.grants.to_text();
    if w.act_as_installer {
        text.push(' ');
        text.push_str(ACT_AS_INSTALLER);
    }
    text
}

/// The installer's rights outside requests: a non-expiring capability for
/// the domains the grants need, in the scope's region.
fn installer_info(host: &ExtensionHost, id: Uuid, installer: Uuid, name: String, scope: Option<&str>, grants: &Grants) -> ScriptInfo {
    let region = scope.unwrap_or("").to_owned();
    let caps = &host.dispatcher().services().capabilities;
    let cap = caps.create(installer, name, region.clone(), grants.domains(), Duration::ZERO);
    ScriptInfo {
        id,
        region,
        object_id: Uuid::nil(),
        name: String::new(),
        asset_id: Uuid::nil(),
        hash: String::new(),
        uploader_id: installer,
        owner_id: installer,
        start_parameter: String::new(),
        grants: grants.clone(),
        capability: cap.id,
    }
}

/// Grid mode: the domain already served in that scope by an extension
/// loaded on another host (the store's records, which every host shares).
fn clash_elsewhere(host: &ExtensionHost, domain: &str, scope: Option<&str>) -> Result<(), HandlerError> {
    if !host.placement.is_grid() {
        return Ok(());
    }
    let rows = host.calls.store.list_extensions().map_err(internal)?;
    let clash = rows
        .iter()
        .any(|r| r.domain == domain && (scope.is_none() || r.scope.is_empty() || scope.is_some_and(|s| s.eq_ignore_ascii_case(&r.scope))));
    if clash {
        return Err(failure(format!("domain {domain} is already served in that scope")));
    }
    Ok(())
}

/// Check a description (name, reserved, namespace, served) and build the
/// extension; nothing is registered or stored.
#[allow(clippy::too_many_arguments, reason = "the parts of one extension, assembled in one place")]
fn assemble(
    host: &ExtensionHost,
    facts: Arc<ExtFacts>,
    script: Arc<Script>,
    built: super::runtime::Built,
    hash: String,
    grants: Grants,
    act_as_installer: bool,
    installer: ScriptInfo,
    replacing: Option<Uuid>,
    state: RunState,
) -> Result<Arc<Extension>, HandlerError> {
    let d = built.description;
    if !grants::valid_domain_name(&d.name) {
        return Err(HandlerError::Invalid(format!(
            "domain name \"{}\" is not well formed: it must match [A-Z][A-Za-z0-9]{{1,31}}",
            dispatcher_dispatch::escape(&d.name)
        )));
    }
    if RESERVED.contains(&d.name.as_str()) {
        return Err(HandlerError::Invalid(format!("domain name {} is reserved", d.name)));
    }
    if d.message_types.is_empty() {
        return Err(HandlerError::Invalid(format!("extension {} describes no message type", d.name)));
    }
    let namespace = format!("{}.Messages.", d.name);
    let mut types = Vec::new();
    for t in &d.message_types {
        for name in [&t.request_type, &t.reply_type] {
            let short = name.strip_prefix(&namespace).unwrap_or("");
            if short.is_empty() || !short.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(HandlerError::Invalid(format!(
                    "message type \"{}\" is outside the domain's namespace {namespace}*",
                    dispatcher_dispatch::escape(name)
                )));
            }
        }
        for default in [&t.request_default, &t.reply_default] {
            let parsed = dispatcher_protocol::json::decode(default.as_bytes(), host.dispatcher().limits());
            if !matches!(parsed, Ok(Some(dispatcher_protocol::Value::Object(_)))) {
                return Err(HandlerError::Invalid(format!("the default body of {} is not a JSON object", t.request_type)));
            }
        }
        types.push(ServedType {
            request_type: t.request_type.clone(),
            reply_type: t.reply_type.clone(),
            request_default: t.request_default.clone(),
        });
    }
    if facts.domain != d.name {
        return Err(HandlerError::Invalid(format!(
            "the component names domain {}, but the extension serves {}; an update must keep the domain",
            d.name, facts.domain
        )));
    }
    let scope = facts.scope.as_deref();
    let clash = host.all().into_iter().any(|other| {
        Some(other.facts.id) != replacing
            && other.domain() == d.name
            && (scope.is_none() || other.facts.scope.is_none() || other.facts.scope.as_deref() == scope)
    });
    if clash {
        return Err(failure(format!("domain {} is already served in that scope", d.name)));
    }
    if replacing.is_none() && types.iter().any(|t| host.dispatcher().registry().is_request_type(&t.request_type)) {
        return Err(failure(format!("domain {} is already served", d.name)));
    }
    Ok(Arc::new(Extension {
        facts,
        version: d.version,
        types,
        hash,
        grants,
        act_as_installer,
        installer: Arc::new(installer),
        pre: built.pre,
        script,
        pool: Mutex::default(),
        freed: Condvar::new(),
        control: Mutex::new(ExtControl {
            state,
            fault: None,
            restarts: 0,
            backoff_until: None,
        }),
        handled: Default::default(),
        failed: Default::default(),
    }))
}

fn log_script(id: Uuid, domain: &str, installer: Uuid) -> Arc<Script> {
    Arc::new(Script::new(
        ScriptInfo {
            id,
            region: String::new(),
            object_id: Uuid::nil(),
            name: domain.to_owned(),
            asset_id: Uuid::nil(),
            hash: String::new(),
            uploader_id: installer,
            owner_id: installer,
            start_parameter: String::new(),
            grants: Grants::default(),
            capability: Uuid::nil(),
        },
        RunState::Running,
        None,
    ))
}

fn response(ext: &Extension) -> InstallExtensionResponse {
    InstallExtensionResponse {
        extension_id: ext.facts.id.into(),
        domain: ext.domain().to_owned(),
        version: ext.version.clone(),
        message_types: ext.types.iter().map(|t| t.request_type.clone()).collect(),
        hash: ext.hash.clone(),
        grants: ext.grant_names(),
        state: ext.control.lock().state.as_str().to_owned(),
    }
}

/// The size checks of a component, before anything is compiled.
fn check_size(host: &ExtensionHost, bytes: &[u8]) -> Result<(), HandlerError> {
    if bytes.is_empty() {
        return Err(HandlerError::Invalid("Component is empty".into()));
    }
    if bytes.len() > host.limits.max_component_bytes {
        return Err(HandlerError::Limited(format!(
            "component of {} bytes exceeds MaxComponentBytes ({}); the host's [Extensions] MaxComponentBytes must be raised to accept it",
            bytes.len(),
            host.limits.max_component_bytes
        )));
    }
    Ok(())
}

fn install(
    host: &Arc<ExtensionHost>,
    ctx: &RequestContext,
    req: InstallExtensionRequest,
) -> Result<InstallExtensionResponse, HandlerError> {
    let user = ctx.require_user()?.clone();
    let scope = Some(req.scope.trim().to_owned()).filter(|s| !s.is_empty());
    if let Some(region) = &scope {
        if ctx.services.directory.scene(region).map_err(internal)?.is_none() {
            return Err(HandlerError::NotFound(format!("no such region {}", dispatcher_dispatch::escape(region))));
        }
    }
    let r = may_manage(ctx, &user, scope.as_deref())?;
    if !host.placement.serves(scope.as_deref()) {
        let region = scope.as_deref().unwrap_or_default();
        return Err(failure(format!(
            "region {0} is served by another host; send the install with _Scene {0} (it is forwarded to that host)",
            dispatcher_dispatch::escape(region)
        )));
    }
    check_size(host, &req.component.0)?;
    let wanted = wanted_grants(ctx, &user, &r, &req.grants)?;
    let _changes = host.changes.lock();
    if let Some(region) = &scope {
        let here = host.all().iter().filter(|e| e.facts.scope.as_deref() == Some(region)).count();
        if here >= host.limits.max_extensions_per_region {
            return Err(HandlerError::Limited(format!(
                "region {region} already has MaxExtensionsPerRegion ({}) extensions",
                host.limits.max_extensions_per_region
            )));
        }
    }
    let id = Uuid::new_v4();
    let hash = crate::engine::sha256_hex(&req.component.0);
    // The domain is not known before describe: a provisional one for the trial instance.
    let mut facts = ExtFacts {
        id,
        domain: String::new(),
        scope: scope.clone(),
        config: req.config.clone(),
        installer_id: user.id,
        storage_quota_bytes: host.limits.storage_quota_bytes,
        storage_granted: wanted.grants.has("storage"),
        storage_cache: host.new_storage_cache(),
    };
    let script = log_script(id, "", user.id);
    let built = host
        .build(req.component.0.clone(), &Arc::new(facts.clone()), &script)
        .map_err(HandlerError::Invalid)?;
    facts.domain = built.description.name.clone();
    let script = log_script(id, &facts.domain, user.id);
    let installer = installer_info(host, id, user.id, user.name.clone(), scope.as_deref(), &wanted.grants);
    let cap = installer.capability;
    if let Err(e) = clash_elsewhere(host, &facts.domain, scope.as_deref()) {
        ctx.services.capabilities.destroy(cap);
        return Err(e);
    }
    let state = if req.start { RunState::Running } else { RunState::Stopped };
    let ext = match assemble(
        host,
        Arc::new(facts),
        script,
        built,
        hash.clone(),
        wanted.grants.clone(),
        wanted.act_as_installer,
        installer,
        None,
        state,
    ) {
        Ok(e) => e,
        Err(e) => {
            ctx.services.capabilities.destroy(cap);
            return Err(e);
        }
    };
    let row = ExtensionRow {
        id,
        domain: ext.domain().to_owned(),
        scope: scope.clone().unwrap_or_default(),
        hash,
        component: req.component.0,
        grants: grants_text(&wanted),
        config: req.config,
        state: state.as_str().to_owned(),
        fault_reason: String::new(),
        installer_id: user.id,
    };
    if let Err(e) = host.register(&ext) {
        ctx.services.capabilities.destroy(cap);
        return Err(failure(e));
    }
    if let Err(e) = host.calls.store.insert_extension(&row) {
        host.unregister(&ext);
        ctx.services.capabilities.destroy(cap);
        return Err(internal(e));
    }
    host.extensions.lock().insert(id, ext.clone());
    ext.log(&host.calls.limits, "info", &format!("installed {} {} by {}", ext.domain(), ext.version, user.id));
    host.warm(&ext);
    host.announce(id);
    Ok(response(&ext))
}

fn update(host: &Arc<ExtensionHost>, ctx: &RequestContext, req: UpdateExtensionRequest) -> Result<InstallExtensionResponse, HandlerError> {
    let user = ctx.require_user()?.clone();
    let old = managed(host, ctx, req.extension_id.0)?;
    check_size(host, &req.component.0)?;
    let r = role(ctx, &user, old.facts.scope.as_deref())?;
    let wanted = match &req.grants {
        Some(names) => wanted_grants(ctx, &user, &r, names)?,
        None => Wanted {
            grants: old.grants.clone(),
            act_as_installer: old.act_as_installer,
        },
    };
    let _changes = host.changes.lock();
    let mut facts = (*old.facts).clone();
    facts.storage_granted = wanted.grants.has("storage");
    if let Some(config) = &req.config {
        facts.config = config.clone();
    }
    let facts = Arc::new(facts);
    let built = host
        .build(req.component.0.clone(), &facts, &old.script)
        .map_err(HandlerError::Invalid)?;
    let hash = crate::engine::sha256_hex(&req.component.0);
    let installer = installer_info(
        host,
        old.facts.id,
        old.facts.installer_id,
        user.name.clone(),
        old.facts.scope.as_deref(),
        &wanted.grants,
    );
    let cap = installer.capability;
    let state = old.control.lock().state;
    let state = if state == RunState::Faulted { RunState::Running } else { state };
    let ext = match assemble(
        host,
        facts.clone(),
        old.script.clone(),
        built,
        hash.clone(),
        wanted.grants.clone(),
        wanted.act_as_installer,
        installer,
        Some(old.facts.id),
        state,
    ) {
        Ok(e) => e,
        Err(e) => {
            ctx.services.capabilities.destroy(cap);
            return Err(e);
        }
    };
    let row = ExtensionRow {
        id: old.facts.id,
        domain: ext.domain().to_owned(),
        scope: facts.scope.clone().unwrap_or_default(),
        hash,
        component: req.component.0,
        grants: grants_text(&wanted),
        config: facts.config.clone(),
        state: state.as_str().to_owned(),
        fault_reason: String::new(),
        installer_id: old.facts.installer_id,
    };
    host.calls.store.update_extension(&row).map_err(internal)?;
    host.unregister(&old);
    old.unload();
    // Storage is kept; its cache starts empty with the new component.
    facts.storage_cache.clear();
    ctx.services.capabilities.destroy(old.installer.capability);
    host.extensions.lock().insert(old.facts.id, ext.clone());
    if let Err(e) = host.register(&ext) {
        tracing::error!(error = %e, "an updated extension could not register its types");
        return Err(failure(e));
    }
    ext.log(&host.calls.limits, "info", &format!("updated to {} by {}", ext.version, user.id));
    host.warm(&ext);
    host.announce(ext.facts.id);
    Ok(response(&ext))
}

fn list(host: &Arc<ExtensionHost>, ctx: &RequestContext, _req: ListExtensionsRequest) -> Result<ListExtensionsResponse, HandlerError> {
    let user = ctx.require_user()?;
    let mut extensions: Vec<ExtensionStatus> = host
        .all()
        .into_iter()
        .filter(|e| e.facts.installer_id == user.id || may_manage(ctx, user, e.facts.scope.as_deref()).is_ok())
        .map(|e| status_of(&e))
        .collect();
    if host.placement.is_grid() {
        // Extensions of regions other hosts serve: from their stored records.
        let loaded: std::collections::HashSet<Uuid> = host.loaded_ids().into_iter().collect();
        for row in host.calls.store.list_extensions().map_err(internal)? {
            let scope = Some(row.scope.as_str()).filter(|s| !s.is_empty());
            if !loaded.contains(&row.id) && (row.installer_id == user.id || may_manage(ctx, user, scope).is_ok()) {
                extensions.push(status_of_row(&row));
            }
        }
    }
    Ok(ListExtensionsResponse { extensions })
}

fn status(
    host: &Arc<ExtensionHost>,
    ctx: &RequestContext,
    req: GetExtensionStatusRequest,
) -> Result<ExtensionStatusResponse, HandlerError> {
    let ext = managed(host, ctx, req.extension_id.0)?;
    Ok(ExtensionStatusResponse(status_of(&ext)))
}

fn set_state(host: &ExtensionHost, ext: &Extension, state: RunState) -> Result<(), HandlerError> {
    host.calls
        .store
        .set_extension_state(ext.facts.id, state.as_str(), "")
        .map_err(internal)?;
    let mut c = ext.control.lock();
    c.state = state;
    c.fault = None;
    c.restarts = 0;
    c.backoff_until = None;
    Ok(())
}

fn start(host: &Arc<ExtensionHost>, ctx: &RequestContext, req: StartExtensionRequest) -> Result<Done, HandlerError> {
    let ext = managed(host, ctx, req.extension_id.0)?;
    set_state(host, &ext, RunState::Running)?;
    ext.log(&host.calls.limits, "info", "started");
    host.warm(&ext);
    host.announce(ext.facts.id);
    Ok(Done::ok())
}

fn stop(host: &Arc<ExtensionHost>, ctx: &RequestContext, req: StopExtensionRequest) -> Result<Done, HandlerError> {
    let ext = managed(host, ctx, req.extension_id.0)?;
    set_state(host, &ext, RunState::Stopped)?;
    ext.unload();
    ext.log(&host.calls.limits, "info", "stopped");
    host.announce(ext.facts.id);
    Ok(Done::ok())
}

fn remove(host: &Arc<ExtensionHost>, ctx: &RequestContext, req: RemoveExtensionRequest) -> Result<Done, HandlerError> {
    let ext = managed(host, ctx, req.extension_id.0)?;
    let _changes = host.changes.lock();
    host.calls.store.delete_extension(ext.facts.id).map_err(internal)?;
    ext.facts.storage_cache.clear();
    host.unregister(&ext);
    ext.control.lock().state = RunState::Stopped;
    ext.unload();
    host.extensions.lock().remove(&ext.facts.id);
    ctx.services.capabilities.destroy(ext.installer.capability);
    host.announce(ext.facts.id);
    Ok(Done::ok())
}

fn log(host: &Arc<ExtensionHost>, ctx: &RequestContext, req: GetExtensionLogRequest) -> Result<ScriptLogResponse, HandlerError> {
    let ext = managed(host, ctx, req.extension_id.0)?;
    let ring = ext.script.log.lock();
    let lines = ring
        .since(req.since)
        .into_iter()
        .map(|l: LogLine| LogLineRecord {
            seq: l.seq,
            time: l.time_ms,
            level: l.level.to_owned(),
            text: l.text,
        })
        .collect();
    Ok(ScriptLogResponse {
        lines,
        dropped: ring.dropped,
    })
}

/// Bring back every persisted extension (host start): compile, describe,
/// register, in its stored state. One that no longer loads is logged and
/// left out (its record stays).
pub(crate) fn load_persisted(host: &Arc<ExtensionHost>) {
    let rows = match host.calls.store.list_extensions() {
        Ok(rows) => rows,
        Err(e) => {
            tracing::error!(error = %e, "cannot list extensions");
            return;
        }
    };
    for row in rows {
        // Grid mode: a region's extensions come with the region's lease.
        if !host.placement.serves(Some(row.scope.as_str()).filter(|s| !s.is_empty())) {
            continue;
        }
        if let Err(e) = load_one(host, row, true) {
            tracing::error!(error = %e, "an installed extension could not be loaded");
        }
    }
}

/// Load one record; `warm` starts an instance at once (see `ExtensionHost::warm`).
pub(crate) fn load_one(host: &ExtensionHost, row: ExtensionRow, warm: bool) -> Result<(), String> {
    let scope = Some(row.scope.clone()).filter(|s| !s.is_empty());
    let grants = Grants::from_text(&row.grants);
    let facts = Arc::new(ExtFacts {
        id: row.id,
        domain: row.domain.clone(),
        scope: scope.clone(),
        config: row.config.clone(),
        installer_id: row.installer_id,
        storage_quota_bytes: host.limits.storage_quota_bytes,
        storage_granted: grants.has("storage"),
        storage_cache: host.new_storage_cache(),
    });
    let script = log_script(row.id, &row.domain, row.installer_id);
    let built = host.build(row.component, &facts, &script)?;
    let act = row.grants.split_whitespace().any(|g| g == ACT_AS_INSTALLER);
    let name = host
        .dispatcher()
        .services()
        .directory
        .account_by_id(row.installer_id)
        .ok()
        .flatten()
        .map(|a| format!("{} {}", a.first_name, a.last_name))
        .unwrap_or_default();
    let installer = installer_info(host, row.id, row.installer_id, name, scope.as_deref(), &grants);
    let state = RunState::parse(&row.state);
    let ext = assemble(host, facts, script, built, row.hash, grants, act, installer, None, state).map_err(|e| e.to_string())?;
    if state == RunState::Faulted {
        ext.control.lock().fault = crate::fault::Fault::parse(&row.fault_reason);
    }
    host.register(&ext)?;
    host.extensions.lock().insert(row.id, ext.clone());
    if warm {
        host.warm(&ext);
    }
    Ok(())
}
