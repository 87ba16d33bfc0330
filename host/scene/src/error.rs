//! The errors of scene operations.
//!
//! Where the protocol has an exact text for a failure, `Display` produces that text
//! (e.g. `"no such object"`), so the wire layer can forward it unchanged; the ids
//! are carried as fields for logs and for the messages that print them.

use thiserror::Error;
use uuid::Uuid;

use crate::math::Vector3;

/// Why a scene operation was refused. A refused operation changed nothing.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SceneError {
    /// The id does not name an object (root) of the region (§2.8: child part ids
    /// and the zero id never resolve).
    #[error("no such object")]
    NoSuchObject(Uuid),
    /// The link number selects no part of the object (§4.2).
    #[error("no such part")]
    NoSuchPart { object_id: Uuid, link_num: i32 },
    /// An object with this id is already in the region (RC-24).
    #[error("failed to add the object to the scene")]
    DuplicateObject(Uuid),
    /// A part id of the new object is already used in the region or twice in
    /// the object (part ids are unique within a region, §3.3).
    #[error("failed to add the object to the scene")]
    DuplicatePart(Uuid),
    /// The zero UUID can never name an object.
    #[error("failed to add the object to the scene")]
    ZeroObjectId,
    /// The object would be placed outside the region in X/Y, or at a non-finite
    /// position (Q-46: creation fails rather than "crossing").
    #[error("failed to add the object to the scene")]
    OutsideRegion(Vector3),
    /// An object must have at least its root part.
    #[error("object has no parts")]
    NoParts,
    #[error("too many objects in the region (limit {limit})")]
    TooManyObjects { limit: usize },
    #[error("too many parts in the object ({count}, limit {limit})")]
    TooManyParts { count: usize, limit: usize },
    #[error("too many inventory items in a part ({count}, limit {limit})")]
    TooManyInventoryItems { count: usize, limit: usize },
    #[error("start parameter too large ({bytes} bytes, limit {limit})")]
    StartParameterTooLarge { bytes: usize, limit: usize },
    /// Scales must be finite and strictly positive (Q-18 allows refusing others).
    #[error("invalid scale")]
    InvalidScale(Vector3),
    /// Terrain write outside the height map (RC-64); the text follows Q-40's
    /// recommendation of a "Fatal error; " prefix.
    #[error("Fatal error; Index was outside the bounds of the array.")]
    TerrainOutOfRange { x: i64, y: i64 },
    #[error("region size {size_x} x {size_y} m is not allowed (1 to {limit} m per side)")]
    InvalidRegionSize { size_x: u32, size_y: u32, limit: u32 },
}
