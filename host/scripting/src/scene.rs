//! What the runtime needs to know about objects, behind a trait so the
//! RemoteControl domain (which owns the live scene) can answer directly. The
//! default, [`MessagePathScene`], asks through the message path like any
//! client would.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use dispatcher_dispatch::{Caller, Dispatcher, Transport};
use dispatcher_messages::remote_control::object::GetObjectDataRequest;
use dispatcher_protocol::WireUuid;
use parking_lot::Mutex;
use uuid::Uuid;

/// Facts about one object.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectFacts {
    pub owner_id: Uuid,
    pub position: [f32; 3],
}

/// The inventory entry of an uploaded script.
#[derive(Clone, Debug, PartialEq)]
pub struct ScriptItem {
    /// The item's id: the script's id, so that removing one script removes
    /// its own item even when other scripts of the object share the component.
    pub item_id: Uuid,
    pub name: String,
    pub asset_id: Uuid,
    pub owner_id: Uuid,
    pub creator_id: Uuid,
}

/// Scene access for the runtime.
pub trait SceneHooks: Send + Sync {
    /// The object with this root id, if the region has it.
    fn object(&self, region: &str, object_id: Uuid) -> Option<ObjectFacts>;

    /// The owner of an object.
    fn object_owner(&self, region: &str, object_id: Uuid) -> Option<Uuid> {
        self.object(region, object_id).map(|o| o.owner_id)
    }

    /// List an uploaded script in the object's root inventory. The default
    /// cannot reach the live scene and does nothing.
    fn add_script_item(&self, _region: &str, _object_id: Uuid, _item: &ScriptItem) {}

    /// Remove a script's item again: the item `item_id`, or (items listed
    /// before item ids were script ids) those holding `asset_id`.
    fn remove_script_item(&self, _region: &str, _object_id: Uuid, _item_id: Uuid, _asset_id: Uuid) {}
}

/// Answers through `RemoteControl.Messages.GetObjectDataRequest` (the typed
/// entry, `Dispatcher::call`), carrying an internal capability of the
/// region's estate owner per region.
pub struct MessagePathScene {
    dispatcher: Dispatcher,
    capabilities: Mutex<HashMap<String, Uuid>>,
}

impl MessagePathScene {
    pub fn new(dispatcher: Dispatcher) -> Self {
        MessagePathScene {
            dispatcher,
            capabilities: Mutex::new(HashMap::new()),
        }
    }

    fn capability(&self, region: &str) -> Option<Uuid> {
        let mut caps = self.capabilities.lock();
        if let Some(c) = caps.get(region) {
            return Some(*c);
        }
        let services = self.dispatcher.services();
        let scene = services.directory.scene(region).ok().flatten()?;
        let cap = services.capabilities.create(
            scene.estate_owner,
            "script host".into(),
            region.to_owned(),
            vec![crate::grants::REMOTE_CONTROL.to_owned()],
            Duration::ZERO,
        );
        caps.insert(region.to_owned(), cap.id);
        Some(cap.id)
    }
}

impl SceneHooks for MessagePathScene {
    fn object(&self, region: &str, object_id: Uuid) -> Option<ObjectFacts> {
        let caller = Caller {
            scene: region.to_owned(),
            capability: self.capability(region).unwrap_or_default(),
            source: IpAddr::V4(Ipv4Addr::LOCALHOST),
            transport: Transport::Script,
        };
        let data = self
            .dispatcher
            .call(
                caller,
                GetObjectDataRequest {
                    object_id: WireUuid(object_id),
                },
            )
            .ok()?;
        let p = data.position.0;
        Some(ObjectFacts {
            owner_id: data.owner_id.0,
            position: [p.x, p.y, p.z],
        })
    }
}
