//! Callback registration handlers (§4.8.1-4.8.4). Every request validates
//! first and changes second (Q-26, Q-29 fixed).

use dispatcher_dispatch::{HandlerError, RequestContext};
use dispatcher_protocol::{Done, Warned, WireUuid};
use dispatcher_scene::Uuid;

use super::object::check_batch;
use crate::messages::event::*;
use crate::region_host::{RegionHost, Registration, Registrations};
use crate::RemoteControl;

fn require_endpoint(rc: &RemoteControl, endpoint_id: WireUuid) -> Result<(), HandlerError> {
    match rc.services.endpoints.exists(endpoint_id.0) {
        true => Ok(()),
        false => Err(HandlerError::NotFound(format!("no such endpoint; {endpoint_id}"))),
    }
}

fn check_room(rc: &RemoteControl, regs: &Registrations, adding: usize) -> Result<(), HandlerError> {
    let limit = rc.rc_limits.max_registrations_per_region;
    if regs.len() + adding > limit {
        return Err(HandlerError::Limited(format!("too many callback registrations in this region (limit {limit})")));
    }
    Ok(())
}

pub fn register_touch_callback(
    rc: &RemoteControl,
    host: &RegionHost,
    _ctx: &RequestContext,
    req: RegisterTouchCallbackRequest,
) -> Result<RegisterTouchCallbackResponse, HandlerError> {
    let region = host.region.read();
    if region.object(req.object_id.0).is_none() {
        return Err(HandlerError::NotFound(format!("no such object; {}", req.object_id)));
    }
    require_endpoint(rc, req.end_point_id)?;
    let mut regs = host.registrations.lock();
    check_room(rc, &regs, 1)?;
    let request_id = Uuid::new_v4();
    regs.touch.entry(req.object_id.0).or_default().push(Registration {
        request_id,
        endpoint_id: req.end_point_id.0,
    });
    Ok(RegisterTouchCallbackResponse {
        request_id: WireUuid(request_id),
    })
}

pub fn unregister_touch_callback(
    _rc: &RemoteControl,
    host: &RegionHost,
    _ctx: &RequestContext,
    req: UnregisterTouchCallbackRequest,
) -> Result<Done, HandlerError> {
    let mut regs = host.registrations.lock();
    let object_id = req.object_id.0;
    if !regs.has_any(object_id) {
        return Err(HandlerError::NotFound(format!("no handler for requested object; {}", req.object_id)));
    }
    // Touch registrations only (Q-27 fixed).
    let list = regs.touch.get_mut(&object_id);
    let Some(list) = list.filter(|l| l.iter().any(|r| r.request_id == req.request_id.0)) else {
        return Err(HandlerError::NotFound(format!("invalid request id; {}", req.request_id)));
    };
    list.retain(|r| r.request_id != req.request_id.0);
    if list.is_empty() {
        regs.touch.remove(&object_id);
    }
    Ok(Done::ok())
}

pub fn register_updated_callback(
    rc: &RemoteControl,
    host: &RegionHost,
    _ctx: &RequestContext,
    req: RegisterUpdatedCallbackRequest,
) -> Result<Warned<RegisterUpdatedCallbackResponse>, HandlerError> {
    check_batch("ObjectIDs", req.object_ids.len(), rc.rc_limits.max_updated_ids_per_request)?;
    require_endpoint(rc, req.end_point_id)?;
    let region = host.region.read();
    let mut regs = host.registrations.lock();
    // Duplicate ids collapse: one registration per object and request, so a
    // request cannot multiply the datagrams one move sends.
    let mut seen = std::collections::HashSet::with_capacity(req.object_ids.len());
    let ids: Vec<_> = req.object_ids.iter().filter(|id| seen.insert(id.0)).collect();
    check_room(rc, &regs, ids.len())?;
    let request_id = Uuid::new_v4();
    let mut warnings = String::new();
    for id in ids {
        let Some(object) = region.object(id.0) else {
            warnings.push_str(&format!("no such object {id}; "));
            continue;
        };
        regs.updated.entry(id.0).or_default().push(Registration {
            request_id,
            endpoint_id: req.end_point_id.0,
        });
        regs.last_notified.insert(id.0, object.position);
    }
    Ok(Warned {
        body: RegisterUpdatedCallbackResponse {
            request_id: WireUuid(request_id),
        },
        message: warnings,
    })
}

pub fn unregister_updated_callback(
    rc: &RemoteControl,
    host: &RegionHost,
    _ctx: &RequestContext,
    req: UnregisterUpdatedCallbackRequest,
) -> Result<Done, HandlerError> {
    check_batch("ObjectIDs", req.object_ids.len(), rc.rc_limits.max_updated_ids_per_request)?;
    let request_id = req.request_id.0;
    let mut regs = host.registrations.lock();
    let mut warnings = String::new();
    let mut targets = Vec::new();
    for id in &req.object_ids {
        if !regs.has_any(id.0) {
            warnings.push_str(&format!("no handler for requested object {id}; "));
            continue;
        }
        let carries = regs
            .updated
            .get(&id.0)
            .is_some_and(|l| l.iter().any(|r| r.request_id == request_id));
        if !carries {
            return Err(HandlerError::NotFound(format!("invalid request id {}", req.request_id)));
        }
        targets.push(id.0);
    }
    for id in targets {
        if let Some(list) = regs.updated.get_mut(&id) {
            list.retain(|r| r.request_id != request_id);
            if list.is_empty() {
                regs.updated.remove(&id);
                regs.last_notified.remove(&id);
            }
        }
    }
    Ok(Done::with_message(warnings))
}
