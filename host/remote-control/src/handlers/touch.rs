//! `TouchObjectRequest` (scripting.md §3): a touch without a viewer.

use dispatcher_dispatch::{HandlerError, RequestContext};
use dispatcher_protocol::Done;
use dispatcher_scene::Uuid;

use super::object::scene_failure;
use crate::callbacks;
use crate::messages::event::TouchObjectRequest;
use crate::region_host::RegionHost;
use crate::RemoteControl;

/// Fires the same touch event and callbacks as a viewer's touch start. A zero
/// `AvatarID` stands for the caller.
pub fn touch_object(rc: &RemoteControl, host: &RegionHost, ctx: &RequestContext, req: TouchObjectRequest) -> Result<Done, HandlerError> {
    let avatar = match req.avatar_id.is_nil() {
        true => ctx.user.as_ref().map_or(Uuid::nil(), |u| u.id),
        false => req.avatar_id.0,
    };
    let region = host.region.read();
    callbacks::touch(rc, host, &region, req.object_id.0, avatar, req.link_num, req.touch_position()).map_err(scene_failure)?;
    Ok(Done::ok())
}
