//! Avatar appearance handlers (§4.4).
//!
//! This host has no viewer connections, so every account counts as present in
//! every region (§4.4 decision): `"cannot find user <id>"` means an unknown
//! account, and the text names the id that was looked up. Appearances
//! are stored per account, so they survive leaving and re-entering (RC-53).

use dispatcher_dispatch::{HandlerError, RequestContext};
use dispatcher_protocol::{Done, WireUuid};
use dispatcher_scene::{Appearance, Uuid};
use parking_lot::Mutex;

use crate::messages::avatar::{AvatarAppearanceResponse, GetAvatarAppearanceRequest, SetAvatarAppearanceRequest};
use crate::region_host::RegionHost;
use crate::RemoteControl;

/// `serial` becomes previous + 1: two concurrent updates of one avatar
/// must not both read the same previous serial. Updates are rare; one lock.
static APPEARANCE_LOCK: Mutex<()> = Mutex::new(());

fn internal(e: impl std::fmt::Display) -> HandlerError {
    HandlerError::Internal(e.to_string())
}

/// The avatar a request names: the caller when `AvatarID` is zero.
fn resolve_avatar(rc: &RemoteControl, ctx: &RequestContext, avatar_id: WireUuid) -> Result<Uuid, HandlerError> {
    let id = match avatar_id.is_nil() {
        // Without authentication there is no caller: a clear failure.
        true => ctx.require_user()?.id,
        false => avatar_id.0,
    };
    match rc.store.account_by_id(id).map_err(internal)? {
        Some(_) => Ok(id),
        None => Err(HandlerError::NotFound(format!("cannot find user {id}"))),
    }
}

fn current_appearance(rc: &RemoteControl, avatar_id: Uuid) -> Result<Appearance, HandlerError> {
    Ok(rc.persist.load_appearance(avatar_id).map_err(internal)?.unwrap_or_default())
}

pub fn get_avatar_appearance(
    rc: &RemoteControl,
    _host: &RegionHost,
    ctx: &RequestContext,
    req: GetAvatarAppearanceRequest,
) -> Result<AvatarAppearanceResponse, HandlerError> {
    let id = resolve_avatar(rc, ctx, req.avatar_id)?;
    let appearance = current_appearance(rc, id)?;
    Ok(AvatarAppearanceResponse {
        serialized_appearance: appearance.to_json(),
    })
}

/// Validates the whole document before changing anything (Q-36 fixed), then
/// stores the appearance and empties the Current Outfit folder. Attachments are
/// not region objects in this model, so there is nothing to detach or re-attach.
pub fn set_avatar_appearance(
    rc: &RemoteControl,
    _host: &RegionHost,
    ctx: &RequestContext,
    req: SetAvatarAppearanceRequest,
) -> Result<Done, HandlerError> {
    let id = resolve_avatar(rc, ctx, req.avatar_id)?;
    let _one_writer = APPEARANCE_LOCK.lock();
    let next = current_appearance(rc, id)?
        .replaced_by(&req.serialized_appearance, &rc.limits)
        .map_err(|e| HandlerError::Invalid(format!("Fatal error; {e}")))?;
    rc.persist.save_appearance(id, &next).map_err(internal)?;
    rc.persist.clear_current_outfit(id).map_err(internal)?;
    Ok(Done::ok())
}
