//! A region: its terrain, sun and objects, and the rules of the object messages.
//!
//! Every mutation checks first and changes second, so a refused operation leaves
//! the region untouched, and returns the [`SceneChange`]s it made for the caller
//! to persist and to turn into callbacks.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::change::{PartField, SceneChange};
use crate::error::SceneError;
use crate::limits::SceneLimits;
use crate::math::{Color, Quaternion, Vector3};
use crate::object::{RezParams, SceneObject, ScriptEvent};
use crate::part::TaskInventoryItem;
use crate::part_index::PartIndex;
use crate::sun::{Sun, SunUpdate};
use crate::terrain::{Terrain, DEFAULT_TERRAIN_HEIGHT_M};

/// Default region side, in metres.
pub const DEFAULT_REGION_SIDE_M: u32 = 256;

/// `FindObjects` filters other than the name pattern (§4.1.1). The defaults
/// select everything.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FindQuery {
    pub corner_a: Vector3,
    pub corner_b: Vector3,
    /// Nil = any owner.
    pub owner_id: Uuid,
}

impl Default for FindQuery {
    fn default() -> Self {
        FindQuery {
            corner_a: Vector3::new(-f32::MAX, -f32::MAX, -f32::MAX),
            corner_b: Vector3::new(f32::MAX, f32::MAX, f32::MAX),
            owner_id: Uuid::nil(),
        }
    }
}

/// One entry of `BulkDynamics`: absent members leave the value unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct DynamicsUpdate {
    pub object_id: Uuid,
    pub position: Option<Vector3>,
    pub velocity: Option<Vector3>,
    pub acceleration: Option<Vector3>,
    pub rotation: Option<Quaternion>,
}

/// OpenSim's default water level, in metres.
pub const DEFAULT_WATER_HEIGHT_M: f32 = 20.0;

fn default_water_height_m() -> f32 {
    DEFAULT_WATER_HEIGHT_M
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Region {
    pub id: Uuid,
    /// Matched exactly against `_Scene`.
    pub name: String,
    size_x: u32,
    size_y: u32,
    pub terrain: Terrain,
    pub sun: Sun,
    /// Water level in metres (OpenSim's region setting; archives carry it).
    #[serde(default = "default_water_height_m")]
    pub water_height_m: f32,
    /// In creation order (stable listings, Q-22).
    objects: IndexMap<Uuid, SceneObject>,
    /// Configuration, not state: not persisted with the region.
    #[serde(skip)]
    limits: SceneLimits,
    /// Part ids in use, built on first need.
    #[serde(skip)]
    part_index: PartIndex,
}

impl Region {
    /// A 256 × 256 region of flat land at OpenSim's usual 21 m.
    pub fn new(id: Uuid, name: impl Into<String>) -> Self {
        let (x, y) = (DEFAULT_REGION_SIDE_M, DEFAULT_REGION_SIDE_M);
        Region {
            id,
            name: name.into(),
            size_x: x,
            size_y: y,
            terrain: Terrain::flat(x, y, DEFAULT_TERRAIN_HEIGHT_M),
            sun: Sun::default(),
            water_height_m: DEFAULT_WATER_HEIGHT_M,
            objects: IndexMap::new(),
            limits: SceneLimits::default(),
            part_index: PartIndex::default(),
        }
    }

    /// A region of another size, checked against `limits.max_region_side_m`.
    pub fn with_size(id: Uuid, name: impl Into<String>, size_x: u32, size_y: u32, limits: SceneLimits) -> Result<Self, SceneError> {
        let limit = limits.max_region_side_m;
        if size_x == 0 || size_y == 0 || size_x > limit || size_y > limit {
            return Err(SceneError::InvalidRegionSize { size_x, size_y, limit });
        }
        let mut region = Region::new(id, name);
        region.size_x = size_x;
        region.size_y = size_y;
        region.terrain = Terrain::flat(size_x, size_y, DEFAULT_TERRAIN_HEIGHT_M);
        region.limits = limits;
        Ok(region)
    }

    /// Limits are configuration; a region restored from storage gets them here.
    pub fn set_limits(&mut self, limits: SceneLimits) {
        self.limits = limits;
    }

    pub fn limits(&self) -> &SceneLimits {
        &self.limits
    }

    pub fn size(&self) -> (u32, u32) {
        (self.size_x, self.size_y)
    }

    /// Inside the region in X/Y (`0 <= v < size`); Z is not limited but must be
    /// finite. Anything else would be a region crossing, which this host does
    /// not do.
    pub fn contains(&self, p: Vector3) -> bool {
        p.is_finite() && p.x >= 0.0 && p.y >= 0.0 && p.x < self.size_x as f32 && p.y < self.size_y as f32
    }

    // ----- lookups -------------------------------------------------------------

    /// The object whose root id is `id` (§2.8: child ids and nil never resolve).
    pub fn object(&self, id: Uuid) -> Option<&SceneObject> {
        self.objects.get(&id)
    }

    pub fn objects(&self) -> impl Iterator<Item = &SceneObject> {
        self.objects.values()
    }

    pub fn object_count(&self) -> usize {
        self.objects.len()
    }

    fn object_mut(&mut self, id: Uuid) -> Result<&mut SceneObject, SceneError> {
        self.objects.get_mut(&id).ok_or(SceneError::NoSuchObject(id))
    }

    /// `FindObjects`: box (inclusive, corners in any order), owner and a name
    /// predicate (the caller compiles the pattern), ANDed, in creation order.
    pub fn find_objects(&self, query: &FindQuery, name_matches: impl Fn(&str) -> bool) -> Vec<Uuid> {
        let lo = query.corner_a.min(query.corner_b);
        let hi = query.corner_a.max(query.corner_b);
        self.objects
            .values()
            .filter(|o| {
                let p = o.position;
                let in_box = lo.x <= p.x && p.x <= hi.x && lo.y <= p.y && p.y <= hi.y && lo.z <= p.z && p.z <= hi.z;
                in_box && (query.owner_id.is_nil() || o.owner_id() == query.owner_id) && name_matches(o.name())
            })
            .map(|o| o.id())
            .collect()
    }

    // ----- creation and deletion -----------------------------------------------

    /// Adds an object after checking its id, parts, limits and placement.
    pub fn add_object(&mut self, object: SceneObject) -> Result<Vec<SceneChange>, SceneError> {
        let id = object.id();
        if id.is_nil() {
            return Err(SceneError::ZeroObjectId);
        }
        if self.objects.contains_key(&id) {
            return Err(SceneError::DuplicateObject(id));
        }
        if self.objects.len() >= self.limits.max_objects_per_region {
            return Err(SceneError::TooManyObjects {
                limit: self.limits.max_objects_per_region,
            });
        }
        let count = object.part_count();
        if count > self.limits.max_parts_per_object {
            return Err(SceneError::TooManyParts {
                count,
                limit: self.limits.max_parts_per_object,
            });
        }
        for part in object.parts() {
            let items = part.inventory.len();
            if items > self.limits.max_inventory_items_per_part {
                return Err(SceneError::TooManyInventoryItems {
                    count: items,
                    limit: self.limits.max_inventory_items_per_part,
                });
            }
        }
        if let Some(sp) = &object.start_parameter {
            if sp.len() > self.limits.max_start_parameter_bytes {
                return Err(SceneError::StartParameterTooLarge {
                    bytes: sp.len(),
                    limit: self.limits.max_start_parameter_bytes,
                });
            }
        }
        if !self.contains(object.position) {
            return Err(SceneError::OutsideRegion(object.position));
        }
        let new_ids: Vec<Uuid> = object.part_ids().collect();
        for (i, pid) in new_ids.iter().enumerate() {
            if pid.is_nil() || new_ids[..i].contains(pid) || self.part_index.contains(self.objects.values(), *pid) {
                return Err(SceneError::DuplicatePart(*pid));
            }
        }
        self.part_index.insert(&object);
        self.objects.insert(id, object);
        Ok(vec![SceneChange::ObjectAdded { object_id: id }])
    }

    /// `CreateObject` from a decoded object asset: a fresh copy placed per
    /// `params` (§5.2.5). Returns the new object's id with the changes.
    pub fn rez_object(
        &mut self,
        template: &SceneObject,
        params: &RezParams,
        new_id: &mut dyn FnMut() -> Uuid,
    ) -> Result<(Uuid, Vec<SceneChange>), SceneError> {
        if let Some(id) = params.object_id.filter(|id| !id.is_nil()) {
            if self.objects.contains_key(&id) {
                return Err(SceneError::DuplicateObject(id));
            }
        }
        let copy = template.rezzed_copy(params, new_id);
        let id = copy.id();
        let changes = self.add_object(copy)?;
        Ok((id, changes))
    }

    /// `DeleteObject`: callers drop the object's registrations on the change.
    pub fn remove_object(&mut self, id: Uuid) -> Result<Vec<SceneChange>, SceneError> {
        // shift_remove keeps the creation order of the others.
        let removed = self.objects.shift_remove(&id).ok_or(SceneError::NoSuchObject(id))?;
        self.part_index.remove(&removed);
        Ok(vec![SceneChange::ObjectRemoved { object_id: id }])
    }

    /// `DeleteAllObjects`: whoever owns them; fine on an empty region.
    pub fn remove_all_objects(&mut self) -> Vec<SceneChange> {
        self.part_index.clear();
        self.objects
            .drain(..)
            .map(|(id, _)| SceneChange::ObjectRemoved { object_id: id })
            .collect()
    }

    // ----- placement and motion --------------------------------------------------

    /// `SetObjectPosition`: the whole object moves; outside the region in X/Y the
    /// position stays and the call still succeeds. No change, no event.
    pub fn set_object_position(&mut self, id: Uuid, position: Vector3) -> Result<Vec<SceneChange>, SceneError> {
        let inside = self.contains(position);
        let obj = self.object_mut(id)?;
        if !inside || obj.position == position {
            return Ok(Vec::new());
        }
        let from = obj.position;
        obj.position = position;
        Ok(vec![SceneChange::ObjectMoved {
            object_id: id,
            from,
            to: position,
        }])
    }

    /// `SetObjectRotation`: stored exactly as given.
    pub fn set_object_rotation(&mut self, id: Uuid, rotation: Quaternion) -> Result<Vec<SceneChange>, SceneError> {
        let obj = self.object_mut(id)?;
        if obj.rotation() == rotation {
            return Ok(Vec::new());
        }
        obj.root_mut().rotation_offset = rotation;
        Ok(vec![SceneChange::ObjectRotated { object_id: id }])
    }

    /// One `BulkDynamics` entry: present members are applied, absent ones kept.
    pub fn apply_dynamics(&mut self, update: &DynamicsUpdate) -> Result<Vec<SceneChange>, SceneError> {
        let id = update.object_id;
        self.object_mut(id)?;
        let mut changes = Vec::new();
        if let Some(p) = update.position {
            changes.extend(self.set_object_position(id, p)?);
        }
        if let Some(r) = update.rotation {
            changes.extend(self.set_object_rotation(id, r)?);
        }
        let obj = self.object_mut(id)?;
        let root = obj.root_mut();
        let before = (root.velocity, root.acceleration);
        if let Some(v) = update.velocity {
            root.velocity = v;
        }
        if let Some(a) = update.acceleration {
            root.acceleration = a;
        }
        if before != (root.velocity, root.acceleration) {
            changes.push(SceneChange::ObjectMotionChanged { object_id: id });
        }
        Ok(changes)
    }

    /// Advances every moving object by `dt_seconds` of constant-acceleration
    /// motion (position by velocity, velocity by acceleration).
    ///
    /// Opt-in: the RemoteControl messages only store motion (§3.2, no physics);
    /// a host that wants simple kinematics calls this from its own tick. An object
    /// whose step would leave the region in X/Y stays where it is and stops, since
    /// crossing is not supported and a stuck object should not be
    /// re-integrated forever. Non-finite or negative `dt_seconds` does nothing.
    /// The ids that moved are those of the `ObjectMoved` changes.
    pub fn integrate(&mut self, dt_seconds: f32) -> Vec<SceneChange> {
        let mut changes = Vec::new();
        if !dt_seconds.is_finite() || dt_seconds <= 0.0 {
            return changes;
        }
        let (sx, sy) = (self.size_x as f32, self.size_y as f32);
        let inside = |p: Vector3| p.is_finite() && p.x >= 0.0 && p.y >= 0.0 && p.x < sx && p.y < sy;
        for obj in self.objects.values_mut().filter(|o| o.is_moving()) {
            let id = obj.id();
            let (v, a) = (obj.velocity(), obj.acceleration());
            let to = obj
                .position
                .plus(v.scaled(dt_seconds))
                .plus(a.scaled(0.5 * dt_seconds * dt_seconds));
            if !inside(to) {
                obj.root_mut().velocity = Vector3::ZERO;
                obj.root_mut().acceleration = Vector3::ZERO;
                changes.push(SceneChange::ObjectMotionChanged { object_id: id });
                continue;
            }
            let from = obj.position;
            obj.position = to;
            let new_v = v.plus(a.scaled(dt_seconds));
            if new_v != v {
                obj.root_mut().velocity = new_v;
                changes.push(SceneChange::ObjectMotionChanged { object_id: id });
            }
            if from != to {
                changes.push(SceneChange::ObjectMoved { object_id: id, from, to });
            }
        }
        changes
    }

    // ----- parts -----------------------------------------------------------------

    fn part_mut(&mut self, id: Uuid, link_num: i32) -> Result<&mut crate::part::Part, SceneError> {
        self.object_mut(id)?
            .part_by_link_mut(link_num)
            .ok_or(SceneError::NoSuchPart { object_id: id, link_num })
    }

    fn part_change(id: Uuid, link_num: i32, field: PartField) -> Vec<SceneChange> {
        vec![SceneChange::PartChanged {
            object_id: id,
            link_num,
            field,
        }]
    }

    /// `SetPartPosition`: the part's offset; on the root it moves nothing.
    pub fn set_part_position(&mut self, id: Uuid, link_num: i32, offset: Vector3) -> Result<Vec<SceneChange>, SceneError> {
        self.part_mut(id, link_num)?.offset_position = offset;
        Ok(Self::part_change(id, link_num, PartField::OffsetPosition))
    }

    /// `SetPartRotation`: on the root this is the object's rotation (RC-36).
    pub fn set_part_rotation(&mut self, id: Uuid, link_num: i32, rotation: Quaternion) -> Result<Vec<SceneChange>, SceneError> {
        self.part_mut(id, link_num)?.rotation_offset = rotation;
        Ok(Self::part_change(id, link_num, PartField::Rotation))
    }

    /// `SetPartScale`: non-finite or non-positive sizes are refused.
    pub fn set_part_scale(&mut self, id: Uuid, link_num: i32, scale: Vector3) -> Result<Vec<SceneChange>, SceneError> {
        let part = self.part_mut(id, link_num)?;
        if !scale.is_finite() || scale.x <= 0.0 || scale.y <= 0.0 || scale.z <= 0.0 {
            return Err(SceneError::InvalidScale(scale));
        }
        part.scale = scale;
        Ok(Self::part_change(id, link_num, PartField::Scale))
    }

    /// `SetPartColor`: clamped colour and alpha on every face (RC-38).
    pub fn set_part_color(&mut self, id: Uuid, link_num: i32, rgb: Vector3, alpha: f32) -> Result<Vec<SceneChange>, SceneError> {
        let color = Color::new(rgb.x, rgb.y, rgb.z, alpha);
        self.part_mut(id, link_num)?.shape.texture_entry.set_all_colors(color);
        Ok(Self::part_change(id, link_num, PartField::Color))
    }

    // ----- scripts, terrain, sun ---------------------------------------------------

    /// Put an item into the object's root inventory (an uploaded script). The
    /// item's part id is set to the root's.
    pub fn add_root_item(&mut self, id: Uuid, mut item: TaskInventoryItem) -> Result<(), SceneError> {
        let root = self.object_mut(id)?.root_mut();
        item.parent_part_id = root.id;
        root.inventory.push(item);
        Ok(())
    }

    /// Remove the root inventory item `item_id`, or when there is none the
    /// items that hold `asset_id`; how many went.
    pub fn remove_root_items(&mut self, id: Uuid, item_id: Uuid, asset_id: Uuid) -> Result<usize, SceneError> {
        let root = self.object_mut(id)?.root_mut();
        let before = root.inventory.len();
        if root.inventory.iter().any(|item| item.item_id == item_id) {
            root.inventory.retain(|item| item.item_id != item_id);
        } else {
            root.inventory.retain(|item| item.asset_id != asset_id);
        }
        Ok(before - root.inventory.len())
    }

    /// `MessageObject`: a `dataserver` event with the caller's id as key. The
    /// oldest event is dropped when the queue is full, so the queue stays bounded.
    pub fn message_object(&mut self, id: Uuid, caller: Uuid, message: &str) -> Result<Vec<SceneChange>, SceneError> {
        let cap = self.limits.max_script_events_per_object;
        let obj = self.object_mut(id)?;
        if cap == 0 {
            return Ok(Vec::new());
        }
        if obj.script_events.len() >= cap {
            obj.script_events.remove(0);
        }
        obj.script_events.push(ScriptEvent {
            event: "dataserver".to_string(),
            key: caller.to_string(),
            data: message.to_string(),
        });
        Ok(vec![SceneChange::ScriptEventQueued { object_id: id }])
    }

    pub fn set_terrain_height(&mut self, x: i64, y: i64, height_m: f32) -> Result<Vec<SceneChange>, SceneError> {
        self.terrain.set_height(x, y, height_m)
    }

    pub fn apply_sun(&mut self, update: SunUpdate, unix_seconds: i64) -> Vec<SceneChange> {
        self.sun.apply(update, unix_seconds)
    }
}
