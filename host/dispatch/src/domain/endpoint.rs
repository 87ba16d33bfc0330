//! Create, renew and close callback endpoints (dispatcher-core.md §6.6–6.8, §7).

use std::net::{IpAddr, SocketAddr};

use dispatcher_messages::dispatcher::{CloseEndPointRequest, CreateEndPointRequest, CreateEndPointResponse, RenewEndPointRequest};
use dispatcher_protocol::{Done, WireUuid};

use crate::context::RequestContext;
use crate::endpoints::EndpointError;
use crate::error::HandlerError;

fn millis(d: std::time::Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

fn normalise(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

fn endpoint_error(e: EndpointError) -> HandlerError {
    match e {
        EndpointError::Unknown(e) => HandlerError::NotFound(e.to_string()),
        EndpointError::Backing(e) => HandlerError::Internal(e.to_string()),
    }
}

pub fn create(ctx: &RequestContext, req: CreateEndPointRequest) -> Result<CreateEndPointResponse, HandlerError> {
    if req.callback_host.is_empty() {
        return Err(HandlerError::Invalid("Missing required parameter, CallbackHost".into()));
    }
    let host: IpAddr = req
        .callback_host
        .trim()
        .parse()
        .map_err(|_| HandlerError::Invalid(format!("Failed to parse endpoint address, {}", req.callback_host)))?;
    let source = normalise(ctx.source);
    if host != source {
        return Err(HandlerError::NotPermitted(format!(
            "Endpoint address must match request address, {} {}",
            req.callback_host, source
        )));
    }
    // Quirk Q24 fixed: a port that cannot receive datagrams is refused up front.
    let port = u16::try_from(req.callback_port).ok().filter(|p| *p != 0).ok_or_else(|| {
        HandlerError::Invalid(format!("Invalid parameter, CallbackPort must be between 1 and 65535, {}", req.callback_port))
    })?;
    let owner = ctx.user.as_ref().map(|u| u.id);
    let capability = ctx.user.as_ref().map(|u| u.capability);
    let ep = ctx
        .services
        .endpoints
        .try_create_for(SocketAddr::new(host, port), owner, capability, i64::from(req.life_span))
        .map_err(|e| HandlerError::Internal(e.to_string()))?;
    Ok(CreateEndPointResponse {
        end_point_id: WireUuid(ep.id),
        life_span: millis(ep.lifespan),
    })
}

pub fn renew(ctx: &RequestContext, req: RenewEndPointRequest) -> Result<CreateEndPointResponse, HandlerError> {
    let caller = ctx.user.as_ref().map(|u| u.id);
    let ep = ctx
        .services
        .endpoints
        .try_renew(req.end_point_id.0, caller, i64::from(req.life_span))
        .map_err(endpoint_error)?;
    Ok(CreateEndPointResponse {
        end_point_id: WireUuid(ep.id),
        life_span: millis(ep.lifespan),
    })
}

pub fn close(ctx: &RequestContext, req: CloseEndPointRequest) -> Result<Done, HandlerError> {
    let caller = ctx.user.as_ref().map(|u| u.id);
    ctx.services
        .endpoints
        .try_close(req.end_point_id.0, caller)
        .map_err(endpoint_error)?;
    Ok(Done::ok())
}
