//! `avatars`: appearance get and set. `none` means the script's owner.

use dispatcher_messages::remote_control::avatar::{GetAvatarAppearanceRequest, SetAvatarAppearanceRequest};
use dispatcher_protocol::WireUuid;

use crate::bindings::opensim::dispatcher::avatars::Host;
use crate::call::parse_id;
use crate::error::HostError;
use crate::instance::HostState;

impl HostState {
    fn avatar(&self, avatar_id: Option<String>) -> Result<WireUuid, HostError> {
        match avatar_id {
            Some(id) => Ok(WireUuid(parse_id(&id)?)),
            None => Ok(WireUuid(self.acting.owner_id)),
        }
    }
}

impl Host for HostState {
    fn get_appearance(&mut self, avatar_id: Option<String>) -> Result<String, HostError> {
        let avatar_id = self.avatar(avatar_id)?;
        Ok(self.call(GetAvatarAppearanceRequest { avatar_id })?.serialized_appearance)
    }

    fn set_appearance(&mut self, avatar_id: Option<String>, serialized_appearance: String) -> Result<(), HostError> {
        let avatar_id = self.avatar(avatar_id)?;
        self.call(SetAvatarAppearanceRequest {
            avatar_id,
            serialized_appearance,
        })
        .map(drop)
    }
}
