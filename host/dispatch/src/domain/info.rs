//! InfoRequest and MessageFormatRequest.

use dispatcher_protocol::messages::dispatcher::{InfoRequest, InfoResponse, MessageFormatRequest, MessageFormatResponse};
use dispatcher_protocol::Reply;

use crate::context::{HandlerError, RequestContext};

pub fn info(ctx: &RequestContext, _req: InfoRequest) -> Result<Reply, HandlerError> {
    let services = &ctx.services;
    let scenes = services
        .directory
        .scenes()
        .map_err(|e| HandlerError::Internal(e.to_string()))?;
    let bindings = services.bindings.read().clone();
    Ok(Reply::typed(&InfoResponse {
        async_end_point: bindings.asynchronous,
        synch_end_point: bindings.synchronous,
        scene_list: scenes.into_iter().map(|s| s.name).collect(),
        message_list: services.registry.keys(),
    }))
}

/// Null, unknown and non-request names all answer `unknown type` (quirk Q19 fixed).
pub fn message_format(ctx: &RequestContext, req: MessageFormatRequest) -> Result<Reply, HandlerError> {
    let sample = req
        .message_name
        .and_then(|name| ctx.services.registry.sample(&name))
        .ok_or_else(|| HandlerError::failure("unknown type"))?;
    Ok(Reply::typed(&MessageFormatResponse { sample_message: sample }))
}
