//! Parts (prims) and their task inventory (§3.3, §5.2.2).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::asset::AssetType;
use crate::kept_xml::KeptXml;
use crate::math::{Quaternion, Vector3};
use crate::permissions::Permissions;
use crate::shape::{PrimType, Shape};

/// Inventory type code of an object item; the default when none is known.
pub const INV_TYPE_OBJECT: i32 = 6;

/// One item in a part's inventory (scripts, notecards, nested objects, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskInventoryItem {
    pub item_id: Uuid,
    pub asset_id: Uuid,
    pub name: String,
    pub description: String,
    /// Asset type code (`ItemType` in `GetObjectInventory`).
    pub asset_type: AssetType,
    pub inv_type: i32,
    pub owner_id: Uuid,
    pub creator_id: Uuid,
    pub last_owner_id: Uuid,
    pub group_id: Uuid,
    /// The part holding the item; kept in step with the part's id.
    pub parent_part_id: Uuid,
    pub permissions: Permissions,
    pub flags: u32,
    /// Unix seconds.
    pub creation_date: i64,
    /// Other `TaskInventoryItem` children, verbatim.
    #[serde(default)]
    pub extra: KeptXml,
}

impl TaskInventoryItem {
    pub fn new(item_id: Uuid, name: impl Into<String>, asset_type: AssetType, asset_id: Uuid) -> Self {
        TaskInventoryItem {
            item_id,
            asset_id,
            name: name.into(),
            description: String::new(),
            asset_type,
            inv_type: INV_TYPE_OBJECT,
            owner_id: Uuid::nil(),
            creator_id: Uuid::nil(),
            last_owner_id: Uuid::nil(),
            group_id: Uuid::nil(),
            parent_part_id: Uuid::nil(),
            permissions: Permissions::default(),
            flags: 0,
            creation_date: 0,
            extra: KeptXml::new(),
        }
    }
}

/// One prim of an object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Part {
    pub id: Uuid,
    /// 0 for the only part of a single-part object; 1 (root) and 2..N in a linkset.
    pub link_num: i32,
    pub name: String,
    pub description: String,
    pub creator_id: Uuid,
    pub owner_id: Uuid,
    pub last_owner_id: Uuid,
    pub group_id: Uuid,
    /// Offset from the root, in the root's frame (root: normally zero).
    pub offset_position: Vector3,
    /// Child: rotation relative to the root. Root: the object's rotation.
    pub rotation_offset: Quaternion,
    /// Motion is meaningful on the root only (§3.2); children carry what files hold.
    pub velocity: Vector3,
    pub angular_velocity: Vector3,
    pub acceleration: Vector3,
    /// Size in metres.
    pub scale: Vector3,
    pub shape: Shape,
    pub inventory: Vec<TaskInventoryItem>,
    /// `BaseMask`, `OwnerMask`, `NextOwnerMask`, `EveryoneMask`, `GroupMask`.
    pub permissions: Permissions,
    /// Prim flag names as OpenSim writes them (`Scripted`, `Touch`, …).
    pub flags: Vec<String>,
    pub creation_date: i64,
    pub sale_price: i32,
    pub sale_type: u8,
    pub collision_sound: Uuid,
    /// Other `SceneObjectPart` children, verbatim.
    #[serde(default)]
    pub extra: KeptXml,
}

impl Part {
    /// A 0.5 m box with no inventory.
    pub fn new(id: Uuid, name: impl Into<String>) -> Self {
        Part {
            id,
            link_num: 0,
            name: name.into(),
            description: String::new(),
            creator_id: Uuid::nil(),
            owner_id: Uuid::nil(),
            last_owner_id: Uuid::nil(),
            group_id: Uuid::nil(),
            offset_position: Vector3::ZERO,
            rotation_offset: Quaternion::IDENTITY,
            velocity: Vector3::ZERO,
            angular_velocity: Vector3::ZERO,
            acceleration: Vector3::ZERO,
            scale: Vector3::new(0.5, 0.5, 0.5),
            shape: Shape::default(),
            inventory: Vec::new(),
            permissions: Permissions::default(),
            flags: Vec::new(),
            creation_date: 0,
            sale_price: 0,
            sale_type: 0,
            collision_sound: Uuid::nil(),
            extra: KeptXml::new(),
        }
    }

    pub fn prim_type(&self) -> PrimType {
        self.shape.prim_type()
    }
}
