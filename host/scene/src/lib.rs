//! The scene model behind the RemoteControl domain: regions, objects and parts,
//! assets, avatar appearance and inventory, and the rules the messages apply.
//!
//! Codemap:
//! - [`math`]: vectors, quaternions, colours.
//! - [`region`]: a region's objects, terrain ([`terrain`]) and sun ([`sun`]), and
//!   the object/part operations; [`object`], [`part`], [`shape`] and
//!   [`texture_entry`] are the object data.
//! - [`asset`]: asset records and the type/content-type table.
//! - [`object_xml`]: the OpenSim serialised-object format, read and written
//!   (read streaming from quick-xml's events in `object_stream`, or over the
//!   small tree of [`xml_tree`]; unread elements kept as text in [`kept_xml`]).
//! - [`dependencies`]: the asset closure of `GetDependentAssets`.
//! - [`appearance`] and [`inventory`]: per-avatar data.
//! - [`limits`], [`error`], [`change`]: caps, refusals, and what changed.
//!
//! Invariants:
//! - No I/O, no clocks, no randomness of its own, never awaits: time and fresh
//!   ids come from the caller, assets are fetched through a caller's closure.
//! - A refused operation changes nothing; an accepted one returns the
//!   [`SceneChange`]s it made, which is all a caller needs to persist and to
//!   fan out events.
//! - Input from outside (XML, JSON text, binary face data) never panics: every
//!   decode returns a typed error, bounded by [`SceneLimits`].

pub mod appearance;
pub mod asset;
pub mod change;
pub mod dependencies;
pub mod error;
pub mod inventory;
mod kept_names;
pub mod kept_xml;
pub mod limits;
pub mod math;
pub mod object;
mod object_stream;
pub mod object_xml;
pub mod part;
mod part_index;
pub mod permissions;
pub mod region;
pub mod shape;
pub mod sun;
pub mod terrain;
pub mod texture_entry;
pub mod xml_tree;
pub use appearance::{Appearance, AppearanceError};
pub use asset::{Asset, AssetError, AssetType};
pub use change::{PartField, SceneChange};
pub use dependencies::{dependent_assets, DependencyError};
pub use error::SceneError;
pub use inventory::{Inventory, InventoryError, InventoryFolder, InventoryItem};
pub use kept_xml::KeptXml;
pub use limits::SceneLimits;
pub use math::{Color, Quaternion, Vector3};
pub use object::{RezParams, SceneObject, ScriptEvent};
pub use object_xml::{parse_object, parse_object_tree, write_object, write_object_asset, write_object_xml2, ObjectXmlError};
pub use part::{Part, TaskInventoryItem};
pub use permissions::Permissions;
pub use region::{DynamicsUpdate, FindQuery, Region};
pub use shape::{PrimType, Shape};
pub use sun::{Sun, SunUpdate};
pub use terrain::Terrain;
pub use texture_entry::TextureEntry;
pub use uuid::Uuid;
