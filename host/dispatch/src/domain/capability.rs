//! Create, renew and destroy capabilities (dispatcher-core.md §5, §6.3–6.5).

use std::time::Duration;

use dispatcher_messages::dispatcher::{CapabilityResponse, CreateCapabilityRequest, DestroyCapabilityRequest, RenewCapabilityRequest};
use dispatcher_protocol::{Done, WireUuid};

use crate::auth;
use crate::context::RequestContext;
use crate::directory::{Account, SceneInfo};
use crate::error::HandlerError;

fn internal(e: impl std::fmt::Display) -> HandlerError {
    HandlerError::Internal(e.to_string())
}

/// Errors in the spec's order: scene, account, password, permission, lifespan.
pub fn create(ctx: &RequestContext, req: CreateCapabilityRequest) -> Result<CapabilityResponse, HandlerError> {
    let services = &ctx.services;
    let config = &services.config;
    let directory = &services.directory;

    let scene: SceneInfo = if ctx.scene.is_empty() {
        directory.scenes().map_err(internal)?.into_iter().next()
    } else {
        directory.scene(&ctx.scene).map_err(internal)?
    }
    .ok_or_else(|| HandlerError::NotFound("no scene specified".into()))?;

    // The claimed identity, whether or not such an account exists: unknown
    // names are throttled exactly like known ones (no account enumeration).
    let claimed = if !req.user_id.is_nil() {
        req.user_id.to_string()
    } else if !req.first_name.is_empty() && !req.last_name.is_empty() {
        format!("{} {}", req.first_name, req.last_name)
    } else {
        req.email_address.clone()
    };
    let throttle = &services.login;
    if let Err(t) = throttle.check(&claimed, ctx.source) {
        throttle.record_refusal("CreateCapability", &claimed, ctx.source, t);
        return Err(HandlerError::Limited(format!(
            "too many failed login attempts from this address; retry in {} s",
            t.retry_after_secs()
        )));
    }

    let account: Option<Account> = if !req.user_id.is_nil() {
        directory.account_by_id(req.user_id.0).map_err(internal)?
    } else if !req.first_name.is_empty() && !req.last_name.is_empty() {
        directory.account_by_name(&req.first_name, &req.last_name).map_err(internal)?
    } else if !req.email_address.is_empty() {
        directory.account_by_email(&req.email_address).map_err(internal)?
    } else {
        None
    };
    let Some(account) = account else {
        throttle.record_failure("CreateCapability", &claimed, ctx.source);
        return Err(HandlerError::NotFound(format!("failed to locate account for user {}", req.user_id)));
    };

    if !auth::verify(&req.hashed_passwd, &account) {
        throttle.record_failure("CreateCapability", &claimed, ctx.source);
        return Err(HandlerError::NotPermitted(format!("failed to authenticate user {}", account.id)));
    }
    throttle.record_success(&claimed, ctx.source);

    if config.use_authentication {
        let estate_role = account.id == scene.estate_owner || scene.estate_managers.contains(&account.id);
        let allowed = (config.grant_estate_managers_access && estate_role)
            || (config.grant_grid_managers_access && account.level >= config.grid_manager_access_level);
        if !allowed {
            return Err(HandlerError::NotPermitted(format!(
                "user {} is not authorized to access this interface",
                account.id
            )));
        }
    }

    if req.life_span <= 0 {
        return Err(HandlerError::Invalid(format!("lifespan must be greater than 0 {}", req.life_span)));
    }
    let granted = req.life_span.min(config.max_life_span_s);
    let cap = services
        .capabilities
        .try_create(account.id, account.name(), scene.name, req.domain_list, Duration::from_secs(granted as u64))
        .map_err(|e| HandlerError::Internal(e.to_string()))?;
    Ok(CapabilityResponse {
        capability: WireUuid(cap.id),
        life_span: granted,
    })
}

pub fn renew(ctx: &RequestContext, req: RenewCapabilityRequest) -> Result<CapabilityResponse, HandlerError> {
    if req.life_span <= 0 {
        return Err(HandlerError::Invalid(format!("lifespan must be greater than 0 {}", req.life_span)));
    }
    let granted = req.life_span.min(ctx.services.config.max_life_span_s);
    let cap = ctx
        .services
        .capabilities
        .try_renew(ctx.capability, Duration::from_secs(granted as u64))
        .map_err(|e| HandlerError::Internal(e.to_string()))?
        .ok_or_else(|| HandlerError::NotFound("unable to update the capability".into()))?;
    Ok(CapabilityResponse {
        capability: WireUuid(cap.id),
        life_span: granted,
    })
}

pub fn destroy(ctx: &RequestContext, _req: DestroyCapabilityRequest) -> Result<Done, HandlerError> {
    let destroyed = ctx
        .services
        .capabilities
        .try_destroy(ctx.capability)
        .map_err(|e| HandlerError::Internal(e.to_string()))?;
    if destroyed {
        // Endpoints (and their registrations) end with their capability.
        ctx.services.endpoints.close_for_capability(ctx.capability);
        Ok(Done::ok())
    } else {
        Err(HandlerError::NotFound("unable to remove the capability".into()))
    }
}
