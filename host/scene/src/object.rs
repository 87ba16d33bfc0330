//! Objects (linksets): a root part plus children, placed in a region (§3.2).
//!
//! The object's id, name, description, owner, rotation and motion are the root
//! part's: they are stored once, on the root, and read through accessors, so the
//! "object" and "root part" views can never disagree.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::kept_xml::KeptXml;
use crate::math::{Quaternion, Vector3};
use crate::part::Part;

/// Defaults of `CreateObject` (§4.1.10).
pub const DEFAULT_OBJECT_NAME: &str = "RemoteControl Object";
pub const DEFAULT_OBJECT_DESCRIPTION: &str = "RemoteControl Generated Object";

/// An event queued for the object's scripts (e.g. `dataserver` from `MessageObject`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptEvent {
    pub event: String,
    pub key: String,
    pub data: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SceneObject {
    root: Part,
    /// Children in ascending link number (the order `GetObjectParts` reports).
    children: Vec<Part>,
    /// Absolute region position of the root ("group position").
    pub position: Vector3,
    /// JSON text given at creation; readable by scripts, not by this domain.
    pub start_parameter: Option<String>,
    pub script_events: Vec<ScriptEvent>,
    /// Group-level elements of the object XML the model does not read
    /// (e.g. `GroupScriptStates`), kept for writing back.
    #[serde(default)]
    pub extra: KeptXml,
}

/// What `CreateObject` decides about the new copy (§5.2.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RezParams {
    /// Desired id; `None` or nil = a fresh one.
    pub object_id: Option<Uuid>,
    pub name: String,
    pub description: String,
    pub owner_id: Uuid,
    pub position: Vector3,
    pub rotation: Quaternion,
    pub velocity: Vector3,
    /// Stored when non-empty.
    pub start_parameter: String,
}

impl Default for RezParams {
    /// The message defaults of `CreateObject`.
    fn default() -> Self {
        RezParams {
            object_id: None,
            name: DEFAULT_OBJECT_NAME.to_string(),
            description: DEFAULT_OBJECT_DESCRIPTION.to_string(),
            owner_id: Uuid::nil(),
            position: Vector3::new(128.0, 128.0, 20.0),
            rotation: Quaternion::IDENTITY,
            velocity: Vector3::ZERO,
            start_parameter: "{}".to_string(),
        }
    }
}

impl SceneObject {
    /// An object of `root` and `children`. Children are put in ascending link
    /// order; link numbers themselves are kept as given (assets carry them).
    pub fn new(root: Part, mut children: Vec<Part>, position: Vector3) -> Self {
        children.sort_by_key(|p| p.link_num);
        SceneObject {
            root,
            children,
            position,
            start_parameter: None,
            script_events: Vec::new(),
            extra: KeptXml::new(),
        }
    }

    /// Builds a linkset from parts with consistent numbering: a single part gets
    /// link 0; otherwise the root 1 and children 2..N in the given order.
    pub fn linked(root: Part, children: Vec<Part>, position: Vector3) -> Self {
        let mut obj = SceneObject::new(root, Vec::new(), position);
        obj.children = children;
        obj.renumber_links();
        obj
    }

    fn renumber_links(&mut self) {
        if self.children.is_empty() {
            self.root.link_num = 0;
            return;
        }
        self.root.link_num = 1;
        for (i, c) in self.children.iter_mut().enumerate() {
            c.link_num = i32::try_from(i).unwrap_or(i32::MAX - 2).saturating_add(2);
        }
    }

    pub fn id(&self) -> Uuid {
        self.root.id
    }

    pub fn root(&self) -> &Part {
        &self.root
    }

    pub fn root_mut(&mut self) -> &mut Part {
        &mut self.root
    }

    pub fn children(&self) -> &[Part] {
        &self.children
    }

    /// Root first, then children in ascending link number.
    pub fn parts(&self) -> impl Iterator<Item = &Part> {
        std::iter::once(&self.root).chain(self.children.iter())
    }

    pub fn parts_mut(&mut self) -> impl Iterator<Item = &mut Part> {
        std::iter::once(&mut self.root).chain(self.children.iter_mut())
    }

    pub fn part_count(&self) -> usize {
        1 + self.children.len()
    }

    pub fn name(&self) -> &str {
        &self.root.name
    }

    pub fn description(&self) -> &str {
        &self.root.description
    }

    pub fn owner_id(&self) -> Uuid {
        self.root.owner_id
    }

    pub fn rotation(&self) -> Quaternion {
        self.root.rotation_offset
    }

    pub fn velocity(&self) -> Vector3 {
        self.root.velocity
    }

    pub fn acceleration(&self) -> Vector3 {
        self.root.acceleration
    }

    /// The part a `LinkNum` selects (§4.2): 0 is always the root; any other
    /// value is matched against link numbers, so in a single-part object (root
    /// link 0) the value 1 selects nothing.
    pub fn part_by_link(&self, link_num: i32) -> Option<&Part> {
        if link_num == 0 {
            return Some(&self.root);
        }
        self.parts().find(|p| p.link_num == link_num)
    }

    pub fn part_by_link_mut(&mut self, link_num: i32) -> Option<&mut Part> {
        if link_num == 0 {
            return Some(&mut self.root);
        }
        self.parts_mut().find(|p| p.link_num == link_num)
    }

    /// The copy `CreateObject` places in the region (§4.1.10 steps 3–8, §5.2.5):
    /// fresh ids for every part and inventory item, the root renamed, every owner
    /// set to the caller, groups cleared, placement and motion from `params`.
    /// `new_id` supplies ids so that callers (and tests) control randomness.
    pub fn rezzed_copy(&self, params: &RezParams, new_id: &mut dyn FnMut() -> Uuid) -> SceneObject {
        let mut copy = self.clone();
        copy.script_events.clear();
        let mut first = true;
        for part in copy.parts_mut() {
            part.id = match params.object_id {
                Some(id) if first && !id.is_nil() => id,
                _ => new_id(),
            };
            first = false;
            part.owner_id = params.owner_id;
            part.last_owner_id = params.owner_id;
            part.group_id = Uuid::nil();
            for item in &mut part.inventory {
                item.item_id = new_id();
                item.parent_part_id = part.id;
                item.owner_id = params.owner_id;
                item.last_owner_id = params.owner_id;
                item.group_id = Uuid::nil();
            }
        }
        copy.root.name = params.name.clone();
        copy.root.description = params.description.clone();
        copy.root.rotation_offset = params.rotation;
        copy.root.velocity = params.velocity;
        copy.position = params.position;
        copy.start_parameter = (!params.start_parameter.is_empty()).then(|| params.start_parameter.clone());
        copy
    }

    /// True when the root has velocity or acceleration to integrate.
    pub fn is_moving(&self) -> bool {
        !self.root.velocity.is_zero() || !self.root.acceleration.is_zero()
    }

    /// Every asset-bearing id the object owns, for uniqueness checks: part ids.
    pub fn part_ids(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.parts().map(|p| p.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asset::AssetType;
    use crate::part::TaskInventoryItem;

    fn two_part() -> SceneObject {
        let mut root = Part::new(Uuid::from_u128(1), "Table");
        root.inventory
            .push(TaskInventoryItem::new(Uuid::from_u128(10), "tile", AssetType::Object, Uuid::from_u128(20)));
        let mut leg = Part::new(Uuid::from_u128(2), "Leg");
        leg.offset_position = Vector3::new(-0.9, -0.4, -0.5);
        leg.inventory
            .push(TaskInventoryItem::new(Uuid::from_u128(11), "s", AssetType::LslText, Uuid::from_u128(21)));
        SceneObject::linked(root, vec![leg], Vector3::new(10.0, 10.0, 20.0))
    }

    #[test]
    fn link_numbers_follow_3_3() {
        let single = SceneObject::linked(Part::new(Uuid::from_u128(1), "a"), vec![], Vector3::ZERO);
        assert_eq!(single.root().link_num, 0);
        let obj = two_part();
        let links: Vec<i32> = obj.parts().map(|p| p.link_num).collect();
        assert_eq!(links, vec![1, 2]);
    }

    #[test]
    fn rc_35_part_selection_by_link_number() {
        let obj = two_part();
        assert_eq!(obj.part_by_link(0).unwrap().name, "Table");
        assert_eq!(obj.part_by_link(1).unwrap().name, "Table");
        assert_eq!(obj.part_by_link(2).unwrap().name, "Leg");
        assert!(obj.part_by_link(3).is_none());
        let single = SceneObject::linked(Part::new(Uuid::from_u128(1), "a"), vec![], Vector3::ZERO);
        assert!(single.part_by_link(1).is_none());
        assert!(single.part_by_link(0).is_some());
    }

    #[test]
    fn children_are_kept_in_ascending_link_order() {
        let mut c3 = Part::new(Uuid::from_u128(3), "c3");
        c3.link_num = 3;
        let mut c2 = Part::new(Uuid::from_u128(2), "c2");
        c2.link_num = 2;
        let mut root = Part::new(Uuid::from_u128(1), "r");
        root.link_num = 1;
        let obj = SceneObject::new(root, vec![c3, c2], Vector3::ZERO);
        let names: Vec<&str> = obj.parts().map(|p| p.name.as_str()).collect();
        assert_eq!(names, vec!["r", "c2", "c3"]);
    }

    #[test]
    fn rc_23_rc_28_rezzed_copy_rules() {
        let template = two_part();
        let mut next = 100u128;
        let mut ids = || {
            next += 1;
            Uuid::from_u128(next)
        };
        let caller = Uuid::from_u128(7);
        let params = RezParams {
            owner_id: caller,
            object_id: Some(Uuid::from_u128(99)),
            ..RezParams::default()
        };
        let a = template.rezzed_copy(&params, &mut ids);
        let b = template.rezzed_copy(
            &RezParams {
                object_id: None,
                ..params.clone()
            },
            &mut ids,
        );
        assert_eq!(a.id(), Uuid::from_u128(99));
        assert_eq!(a.name(), DEFAULT_OBJECT_NAME);
        assert_eq!(a.description(), DEFAULT_OBJECT_DESCRIPTION);
        assert_eq!(a.position, Vector3::new(128.0, 128.0, 20.0));
        assert_eq!(a.start_parameter.as_deref(), Some("{}"));
        assert_eq!(a.part_count(), 2);
        for p in a.parts() {
            assert_eq!((p.owner_id, p.last_owner_id, p.group_id), (caller, caller, Uuid::nil()));
            for i in &p.inventory {
                assert_eq!(i.owner_id, caller);
                assert_eq!(i.parent_part_id, p.id);
            }
        }
        // Offsets, names of children and link numbers are kept.
        assert_eq!(a.children()[0].offset_position, template.children()[0].offset_position);
        assert_eq!(a.children()[0].link_num, 2);
        // RC-28: disjoint part and item ids between two copies and the template.
        let ids_of = |o: &SceneObject| -> Vec<Uuid> {
            o.parts()
                .flat_map(|p| std::iter::once(p.id).chain(p.inventory.iter().map(|i| i.item_id)))
                .collect()
        };
        let (ia, ib, it) = (ids_of(&a), ids_of(&b), ids_of(&template));
        assert!(ia.iter().all(|i| !ib.contains(i) && !it.contains(i)));
        assert!(ib.iter().all(|i| !it.contains(i)));
    }
}
