//! `avatars`: appearance get and set. `none` means the script's owner.

use serde::Deserialize;
use serde_json::json;

use crate::bindings::opensim::dispatcher::avatars::Host;
use crate::call::{parse_id, RC};
use crate::error::HostError;
use crate::instance::HostState;

#[derive(Deserialize, Default)]
#[serde(default)]
struct AppearanceReply {
    #[serde(rename = "SerializedAppearance")]
    appearance: String,
}

impl HostState {
    fn avatar(&self, avatar_id: Option<String>) -> Result<String, HostError> {
        match avatar_id {
            Some(id) => Ok(parse_id(&id)?.to_string()),
            None => Ok(self.script.info.owner_id.to_string()),
        }
    }
}

impl Host for HostState {
    fn get_appearance(&mut self, avatar_id: Option<String>) -> Result<String, HostError> {
        let body = json!({ "AvatarID": self.avatar(avatar_id)? });
        let r: AppearanceReply = self.call_as(&format!("{RC}GetAvatarAppearanceRequest"), body)?;
        Ok(r.appearance)
    }

    fn set_appearance(&mut self, avatar_id: Option<String>, serialized_appearance: String) -> Result<(), HostError> {
        let body = json!({ "AvatarID": self.avatar(avatar_id)?, "SerializedAppearance": serialized_appearance });
        self.call(&format!("{RC}SetAvatarAppearanceRequest"), body).map(drop)
    }
}
