//! The script runtime's view of the live scene ([`SceneHooks`]), answered by
//! the RemoteControl domain directly: object facts without a message round
//! trip, and an uploaded script listed in its object's root inventory
//! (scripting spec §6: GetObjectInventory shows it).

use std::sync::Arc;

use dispatcher_remote_control::RemoteControl;
use dispatcher_scene::{AssetType, TaskInventoryItem};
use dispatcher_scripting::{ObjectFacts, SceneHooks, ScriptItem};
use uuid::Uuid;

pub struct RemoteControlScene(pub Arc<RemoteControl>);

impl SceneHooks for RemoteControlScene {
    fn object(&self, region: &str, object_id: Uuid) -> Option<ObjectFacts> {
        let (owner_id, position) = self.0.object_facts(region, object_id)?;
        Some(ObjectFacts { owner_id, position })
    }

    fn add_script_item(&self, region: &str, object_id: Uuid, item: &ScriptItem) {
        let mut entry = TaskInventoryItem::new(item.item_id, item.name.clone(), AssetType::WasmComponent, item.asset_id);
        entry.description = "WebAssembly script".into();
        entry.owner_id = item.owner_id;
        entry.last_owner_id = item.owner_id;
        entry.creator_id = item.creator_id;
        entry.creation_date = unix_now();
        if let Err(e) = self.0.add_root_item(region, object_id, entry) {
            tracing::error!(%region, object = %object_id, error = %e, "cannot list the script in the object's inventory");
        }
    }

    fn remove_script_item(&self, region: &str, object_id: Uuid, item_id: Uuid, asset_id: Uuid) {
        if let Err(e) = self.0.remove_root_items(region, object_id, item_id, asset_id) {
            tracing::error!(%region, object = %object_id, error = %e, "cannot remove the script from the object's inventory");
        }
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
