//! Every cap the scene model enforces, in one place, each with its unit in its name.
//!
//! The model refuses an operation that would exceed a cap with a typed error
//! ([`crate::SceneError`], [`crate::ObjectXmlError`], …) instead of growing without
//! bound: the callers are network clients and guest scripts, so every allocation
//! they can ask for needs a ceiling. Defaults belong in docs/limits.md.

use serde::{Deserialize, Serialize};

/// Caps of one region's scene. `Default` gives the documented defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SceneLimits {
    /// Objects (linksets) in one region. Default 100 000: the region size the
    /// host is benchmarked to restore in under a second (docs/performance.md,
    /// about 3.5 KiB resident per one-part object); OpenSim's usual prim budget
    /// for a 256 m region is 15 000. Each object costs at least one part.
    pub max_objects_per_region: usize,
    /// Parts in one object (root included). Default 256, the linkset size viewers
    /// of that era could edit; larger linksets only come from crafted assets.
    pub max_parts_per_object: usize,
    /// Task-inventory items in one part. Default 1 000: far above real objects,
    /// low enough that a crafted asset cannot multiply work on every rez.
    pub max_inventory_items_per_part: usize,
    /// Bytes of one asset's data. Default 16 MiB, equal to the scripting spec's
    /// `MaxComponentBytes`, since WebAssembly components are the largest assets.
    pub max_asset_bytes: usize,
    /// Bytes of one serialised object (object XML). Default 8 MiB; the largest
    /// OpenSim linksets serialise to a few MiB.
    pub max_object_xml_bytes: usize,
    /// Element nesting depth accepted in object XML. Default 32: real files nest
    /// about 7 deep, and the tree code recurses once per level.
    pub max_xml_depth: usize,
    /// Elements in one object XML document. Default 200 000 (about 300 per part of
    /// a 256-part object with a full inventory), so memory per parse is bounded.
    pub max_xml_elements: usize,
    /// Assets one dependency walk may list. Default 10 000; a walk can follow
    /// nested objects arbitrarily deep, so it must stop somewhere.
    pub max_dependent_assets: usize,
    /// Bytes of the start parameter stored with a created object. Default 64 KiB:
    /// it is a small JSON document for scripts, not a data store.
    pub max_start_parameter_bytes: usize,
    /// Script events queued on one object before the oldest are dropped.
    /// Default 1 000, so an object without a consumer cannot grow without bound.
    pub max_script_events_per_object: usize,
    /// Visual parameters accepted in an appearance. Default 512: the 2016 viewers
    /// send 218, newer ones a few more; anything longer is not an appearance.
    pub max_visual_params: usize,
    /// Attachments listed in one appearance. Default 64 (viewers allow 38).
    pub max_attachments: usize,
    /// Folders in one avatar inventory. Default 10 000.
    pub max_inventory_folders_per_avatar: usize,
    /// Items in one avatar inventory. Default 100 000.
    pub max_inventory_items_per_avatar: usize,
    /// Largest region side, in metres. Default 8 192 (OpenSim var-regions stop
    /// there); the height map is `size_x × size_y` f32s, 256 MiB at this cap.
    pub max_region_side_m: u32,
}

impl Default for SceneLimits {
    fn default() -> Self {
        SceneLimits {
            max_objects_per_region: 100_000,
            max_parts_per_object: 256,
            max_inventory_items_per_part: 1_000,
            max_asset_bytes: 16 * 1024 * 1024,
            max_object_xml_bytes: 8 * 1024 * 1024,
            max_xml_depth: 32,
            max_xml_elements: 200_000,
            max_dependent_assets: 10_000,
            max_start_parameter_bytes: 64 * 1024,
            max_script_events_per_object: 1_000,
            max_visual_params: 512,
            max_attachments: 64,
            max_inventory_folders_per_avatar: 10_000,
            max_inventory_items_per_avatar: 100_000,
            max_region_side_m: 8_192,
        }
    }
}
