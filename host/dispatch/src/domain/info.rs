//! InfoRequest and MessageFormatRequest.

use std::sync::Weak;

use dispatcher_messages::dispatcher::{InfoRequest, InfoResponse, MessageFormatRequest, MessageFormatResponse};

use crate::context::RequestContext;
use crate::error::HandlerError;
use crate::registry::Registry;

fn registry(registry: &Weak<Registry>) -> Result<std::sync::Arc<Registry>, HandlerError> {
    registry
        .upgrade()
        .ok_or_else(|| HandlerError::Internal("the dispatcher has shut down".into()))
}

pub fn info(registry_ref: &Weak<Registry>, ctx: &RequestContext, _req: InfoRequest) -> Result<InfoResponse, HandlerError> {
    let services = &ctx.services;
    let scenes = services.directory.scenes().map_err(|e| HandlerError::Internal(e.to_string()))?;
    let bindings = services.bindings.read().clone();
    Ok(InfoResponse {
        async_end_point: bindings.asynchronous,
        synch_end_point: bindings.synchronous,
        scene_list: scenes.into_iter().map(|s| s.name).collect(),
        message_list: registry(registry_ref)?.keys(),
    })
}

/// Null, unknown and non-request names all answer `unknown type` (quirk Q19 fixed).
pub fn message_format(
    registry_ref: &Weak<Registry>,
    _ctx: &RequestContext,
    req: MessageFormatRequest,
) -> Result<MessageFormatResponse, HandlerError> {
    let registry = registry(registry_ref)?;
    let sample = req
        .message_name
        .and_then(|name| registry.sample(&name))
        .ok_or_else(|| HandlerError::NotFound("unknown type".into()))?;
    Ok(MessageFormatResponse { sample_message: sample })
}
