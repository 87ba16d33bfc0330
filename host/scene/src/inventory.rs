//! A per-avatar inventory: folders and items with the fields OpenSim keeps
//! (REST spec §7 and §10). The REST service and `SetAvatarAppearance` (which
//! empties the Current Outfit folder) work on this model; the store persists it.
//!
//! Invariants kept by every operation: each folder but the root has an existing
//! parent and no folder is its own ancestor; each item is in an existing folder.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

use crate::asset::AssetType;
use crate::limits::SceneLimits;
use crate::permissions::Permissions;

/// Folder type of a plain folder (REST §7.3 default).
pub const FOLDER_TYPE_PLAIN: i16 = 8;
/// Folder type of the viewer's "Current Outfit" folder.
pub const FOLDER_TYPE_CURRENT_OUTFIT: i16 = 46;

/// The standard new-user folders of that era (REST §7.8): name, type.
const STANDARD_FOLDERS: [(&str, i16); 14] = [
    ("Animations", 20),
    ("Body Parts", 13),
    ("Calling Cards", 2),
    ("Clothing", 5),
    ("Gestures", 21),
    ("Landmarks", 3),
    ("Lost And Found", 16),
    ("Notecards", 7),
    ("Objects", 6),
    ("Photo Album", 15),
    ("Scripts", 10),
    ("Sounds", 1),
    ("Textures", 0),
    ("Trash", 14),
];

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InventoryError {
    #[error("no such folder {0}")]
    NoSuchFolder(Uuid),
    #[error("no such item {0}")]
    NoSuchItem(Uuid),
    /// The parent does not exist, or would make the folder its own ancestor.
    #[error("invalid parent")]
    InvalidParent(Uuid),
    #[error("the root folder cannot be removed or moved")]
    RootFolder,
    #[error("too many folders (limit {limit})")]
    TooManyFolders { limit: usize },
    #[error("too many items (limit {limit})")]
    TooManyItems { limit: usize },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryFolder {
    pub id: Uuid,
    /// Nil for the root.
    pub parent_id: Uuid,
    pub owner_id: Uuid,
    pub name: String,
    /// An asset-type code, or −1.
    pub folder_type: i16,
    pub version: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryItem {
    pub id: Uuid,
    pub folder_id: Uuid,
    pub owner_id: Uuid,
    /// Free text, a UUID in practice.
    pub creator_id: String,
    pub name: String,
    pub description: String,
    pub asset_id: Uuid,
    pub asset_type: AssetType,
    pub inv_type: i32,
    pub permissions: Permissions,
    pub group_id: Uuid,
    pub group_owned: bool,
    /// 0 not for sale, 1 original, 2 copy, 3 contents.
    pub sale_type: u8,
    pub sale_price: i32,
    pub flags: u32,
    /// Unix seconds.
    pub creation_date: i64,
}

/// One avatar's folders and items, in store order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    pub owner_id: Uuid,
    root_id: Uuid,
    folders: IndexMap<Uuid, InventoryFolder>,
    items: IndexMap<Uuid, InventoryItem>,
}

impl Inventory {
    /// An inventory holding only its root folder.
    pub fn with_root(owner_id: Uuid, root: InventoryFolder) -> Self {
        let root = InventoryFolder {
            parent_id: Uuid::nil(),
            ..root
        };
        let root_id = root.id;
        let mut folders = IndexMap::new();
        folders.insert(root_id, root);
        Inventory {
            owner_id,
            root_id,
            folders,
            items: IndexMap::new(),
        }
    }

    /// The standard new-user inventory: `My Inventory` and its 14 folders.
    pub fn standard(owner_id: Uuid, new_id: &mut dyn FnMut() -> Uuid) -> Self {
        let folder = |id, parent_id, name: &str, folder_type| InventoryFolder {
            id,
            parent_id,
            owner_id,
            name: name.to_string(),
            folder_type,
            version: 1,
        };
        let root_id = new_id();
        let mut inv = Inventory::with_root(owner_id, folder(root_id, Uuid::nil(), "My Inventory", FOLDER_TYPE_PLAIN));
        for (name, t) in STANDARD_FOLDERS {
            let f = folder(new_id(), root_id, name, t);
            inv.folders.insert(f.id, f);
        }
        inv
    }

    /// Rebuilds an inventory read back from storage (store order kept). The root
    /// is the one folder with a nil parent; `None` when there is not exactly one.
    /// Stored rows are trusted: the store only ever wrote trees built here.
    pub fn from_parts(owner_id: Uuid, folders: Vec<InventoryFolder>, items: Vec<InventoryItem>) -> Option<Self> {
        let mut roots = folders.iter().filter(|f| f.parent_id.is_nil());
        let root_id = roots.next()?.id;
        if roots.next().is_some() {
            return None;
        }
        Some(Inventory {
            owner_id,
            root_id,
            folders: folders.into_iter().map(|f| (f.id, f)).collect(),
            items: items.into_iter().map(|i| (i.id, i)).collect(),
        })
    }

    pub fn root_id(&self) -> Uuid {
        self.root_id
    }

    /// The root folder. `None` only for a record deserialised without its root,
    /// which no operation here can produce.
    pub fn root(&self) -> Option<&InventoryFolder> {
        self.folders.get(&self.root_id)
    }

    pub fn folder(&self, id: Uuid) -> Option<&InventoryFolder> {
        self.folders.get(&id)
    }

    pub fn item(&self, id: Uuid) -> Option<&InventoryItem> {
        self.items.get(&id)
    }

    pub fn folders(&self) -> impl Iterator<Item = &InventoryFolder> {
        self.folders.values()
    }

    pub fn items(&self) -> impl Iterator<Item = &InventoryItem> {
        self.items.values()
    }

    pub fn child_folders(&self, id: Uuid) -> impl Iterator<Item = &InventoryFolder> {
        self.folders.values().filter(move |f| f.parent_id == id && f.id != self.root_id)
    }

    pub fn folder_items(&self, id: Uuid) -> impl Iterator<Item = &InventoryItem> {
        self.items.values().filter(move |i| i.folder_id == id)
    }

    /// The first folder of this type (e.g. [`FOLDER_TYPE_CURRENT_OUTFIT`]).
    pub fn folder_of_type(&self, folder_type: i16) -> Option<&InventoryFolder> {
        self.folders.values().find(|f| f.folder_type == folder_type)
    }

    fn is_ancestor_or_self(&self, candidate: Uuid, of: Uuid) -> bool {
        let mut cur = Some(of);
        // The chain is acyclic by invariant; the step bound is a second guard.
        for _ in 0..=self.folders.len() {
            match cur {
                Some(id) if id == candidate => return true,
                Some(id) => cur = self.folders.get(&id).map(|f| f.parent_id).filter(|p| !p.is_nil()),
                None => return false,
            }
        }
        true
    }

    /// Creates or replaces a folder (stores behave as upserts, REST §10).
    pub fn upsert_folder(&mut self, folder: InventoryFolder, limits: &SceneLimits) -> Result<(), InventoryError> {
        if folder.id == self.root_id {
            if !folder.parent_id.is_nil() {
                return Err(InventoryError::RootFolder);
            }
        } else {
            if !self.folders.contains_key(&folder.parent_id) || self.is_ancestor_or_self(folder.id, folder.parent_id) {
                return Err(InventoryError::InvalidParent(folder.parent_id));
            }
            if !self.folders.contains_key(&folder.id) && self.folders.len() >= limits.max_inventory_folders_per_avatar {
                return Err(InventoryError::TooManyFolders {
                    limit: limits.max_inventory_folders_per_avatar,
                });
            }
        }
        self.folders.insert(folder.id, folder);
        Ok(())
    }

    /// Creates or replaces an item; its folder must exist.
    pub fn upsert_item(&mut self, item: InventoryItem, limits: &SceneLimits) -> Result<(), InventoryError> {
        if !self.folders.contains_key(&item.folder_id) {
            return Err(InventoryError::NoSuchFolder(item.folder_id));
        }
        if !self.items.contains_key(&item.id) && self.items.len() >= limits.max_inventory_items_per_avatar {
            return Err(InventoryError::TooManyItems {
                limit: limits.max_inventory_items_per_avatar,
            });
        }
        self.items.insert(item.id, item);
        Ok(())
    }

    pub fn remove_item(&mut self, id: Uuid) -> Result<InventoryItem, InventoryError> {
        self.items.shift_remove(&id).ok_or(InventoryError::NoSuchItem(id))
    }

    /// Removes the items directly in a folder; returns them.
    pub fn clear_folder_items(&mut self, id: Uuid) -> Result<Vec<InventoryItem>, InventoryError> {
        if !self.folders.contains_key(&id) {
            return Err(InventoryError::NoSuchFolder(id));
        }
        let ids: Vec<Uuid> = self.folder_items(id).map(|i| i.id).collect();
        Ok(ids.iter().filter_map(|i| self.items.shift_remove(i)).collect())
    }

    /// `SetAvatarAppearance` step 3: empties the Current Outfit folder, if any.
    pub fn clear_current_outfit(&mut self) -> Vec<InventoryItem> {
        match self.folder_of_type(FOLDER_TYPE_CURRENT_OUTFIT).map(|f| f.id) {
            Some(id) => self.clear_folder_items(id).unwrap_or_default(),
            None => Vec::new(),
        }
    }

    /// Removes a folder with everything below it; returns the removed folder and
    /// item ids (for the store to delete).
    pub fn remove_folder(&mut self, id: Uuid) -> Result<(Vec<Uuid>, Vec<Uuid>), InventoryError> {
        if id == self.root_id {
            return Err(InventoryError::RootFolder);
        }
        if !self.folders.contains_key(&id) {
            return Err(InventoryError::NoSuchFolder(id));
        }
        let mut doomed = vec![id];
        let mut i = 0;
        while let Some(&f) = doomed.get(i) {
            doomed.extend(self.child_folders(f).map(|c| c.id));
            i += 1;
        }
        let items: Vec<Uuid> = self
            .items
            .values()
            .filter(|it| doomed.contains(&it.folder_id))
            .map(|it| it.id)
            .collect();
        for it in &items {
            self.items.shift_remove(it);
        }
        for f in &doomed {
            self.folders.shift_remove(f);
        }
        Ok((doomed, items))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> impl FnMut() -> Uuid {
        let mut n = 0u128;
        move || {
            n += 1;
            Uuid::from_u128(n)
        }
    }

    fn item(id: u128, folder: Uuid) -> InventoryItem {
        InventoryItem {
            id: Uuid::from_u128(id),
            folder_id: folder,
            owner_id: Uuid::from_u128(999),
            creator_id: Uuid::from_u128(999).to_string(),
            name: format!("item {id}"),
            description: String::new(),
            asset_id: Uuid::from_u128(id + 5000),
            asset_type: AssetType::Clothing,
            inv_type: 18,
            permissions: Permissions::default(),
            group_id: Uuid::nil(),
            group_owned: false,
            sale_type: 0,
            sale_price: 0,
            flags: 0,
            creation_date: 1_243_836_000,
        }
    }

    #[test]
    fn standard_inventory_of_rest_7_8() {
        let inv = Inventory::standard(Uuid::from_u128(999), &mut ids());
        assert_eq!(inv.root().unwrap().name, "My Inventory");
        assert_eq!(inv.root().unwrap().folder_type, 8);
        let children: Vec<&str> = inv.child_folders(inv.root_id()).map(|f| f.name.as_str()).collect();
        assert_eq!(children.len(), 14);
        assert_eq!(children[0], "Animations");
        assert_eq!(inv.folder_of_type(14).unwrap().name, "Trash");
        assert!(inv.folders().all(|f| f.version == 1));
    }

    #[test]
    fn rc_55_current_outfit_is_emptied() {
        let limits = SceneLimits::default();
        let mut inv = Inventory::standard(Uuid::from_u128(999), &mut ids());
        let root = inv.root_id();
        let cof = InventoryFolder {
            id: Uuid::from_u128(500),
            parent_id: root,
            owner_id: inv.owner_id,
            name: "Current Outfit".into(),
            folder_type: FOLDER_TYPE_CURRENT_OUTFIT,
            version: 1,
        };
        inv.upsert_folder(cof, &limits).unwrap();
        inv.upsert_item(item(600, Uuid::from_u128(500)), &limits).unwrap();
        inv.upsert_item(item(601, Uuid::from_u128(500)), &limits).unwrap();
        inv.upsert_item(item(602, root), &limits).unwrap();
        let removed = inv.clear_current_outfit();
        assert_eq!(removed.len(), 2);
        assert_eq!(inv.items().count(), 1);
    }

    #[test]
    fn parents_must_exist_and_cycles_are_refused() {
        let limits = SceneLimits::default();
        let mut inv = Inventory::standard(Uuid::from_u128(999), &mut ids());
        let root = inv.root_id();
        let f = |id: u128, parent: Uuid| InventoryFolder {
            id: Uuid::from_u128(id),
            parent_id: parent,
            owner_id: Uuid::nil(),
            name: "f".into(),
            folder_type: 8,
            version: 1,
        };
        assert_eq!(
            inv.upsert_folder(f(700, Uuid::from_u128(1234)), &limits),
            Err(InventoryError::InvalidParent(Uuid::from_u128(1234)))
        );
        inv.upsert_folder(f(700, root), &limits).unwrap();
        inv.upsert_folder(f(701, Uuid::from_u128(700)), &limits).unwrap();
        // Moving 700 under its own child would cut the tree loose.
        assert!(inv.upsert_folder(f(700, Uuid::from_u128(701)), &limits).is_err());
        assert!(inv.upsert_item(item(1, Uuid::from_u128(4321)), &limits).is_err());
        inv.upsert_item(item(1, Uuid::from_u128(701)), &limits).unwrap();
        let (folders, items) = inv.remove_folder(Uuid::from_u128(700)).unwrap();
        assert_eq!(folders.len(), 2);
        assert_eq!(items, vec![Uuid::from_u128(1)]);
        assert_eq!(inv.remove_folder(root), Err(InventoryError::RootFolder));
    }

    #[test]
    fn inventory_limits() {
        let limits = SceneLimits {
            max_inventory_items_per_avatar: 1,
            max_inventory_folders_per_avatar: 15,
            ..SceneLimits::default()
        };
        let mut inv = Inventory::standard(Uuid::from_u128(999), &mut ids());
        let root = inv.root_id();
        inv.upsert_item(item(1, root), &limits).unwrap();
        // Replacing an existing item is not growth.
        inv.upsert_item(item(1, root), &limits).unwrap();
        assert_eq!(inv.upsert_item(item(2, root), &limits), Err(InventoryError::TooManyItems { limit: 1 }));
        let extra = InventoryFolder {
            id: Uuid::from_u128(800),
            parent_id: root,
            owner_id: Uuid::nil(),
            name: "x".into(),
            folder_type: 8,
            version: 1,
        };
        assert_eq!(inv.upsert_folder(extra, &limits), Err(InventoryError::TooManyFolders { limit: 15 }));
    }
}
