//! The element names [`crate::kept_xml`] writes as two-byte tokens.
//!
//! Stored objects refer to these by position, so the list is append-only: never
//! reorder or remove a name. At most [`MAX_KEPT_NAMES`] entries. The first ones
//! are the OpenSim `SceneObjectPart`, `Shape` and `TaskInventoryItem` elements
//! (as in the Penrose archive), then other elements newer OpenSim versions write.

/// Two pages of 95 printable index bytes.
pub(crate) const MAX_KEPT_NAMES: usize = 190;

#[rustfmt::skip]
pub(crate) const KEPT_NAMES: &[&str] = &[
    // Nested values.
    "UUID", "X", "Y", "Z", "W", "R", "G", "B", "A", "Guid",
    // SceneObjectPart.
    "AllowedDrop", "CreatorID", "FolderID", "InventorySerial", "TaskInventory", "LocalId",
    "Name", "Material", "PassTouches", "PassCollisions", "RegionHandle", "ScriptAccessPin",
    "GroupPosition", "OffsetPosition", "RotationOffset", "Velocity", "AngularVelocity",
    "Acceleration", "Description", "Color", "Text", "SitName", "TouchName", "LinkNum",
    "ClickAction", "Shape", "Scale", "SitTargetOrientation", "SitTargetPosition",
    "SitTargetPositionLL", "SitTargetOrientationLL", "ParentID", "CreationDate", "Category",
    "SalePrice", "ObjectSaleType", "OwnershipCost", "GroupID", "OwnerID", "LastOwnerID",
    "BaseMask", "OwnerMask", "GroupMask", "EveryoneMask", "NextOwnerMask", "Flags",
    "CollisionSound", "CollisionSoundVolume", "AttachedPos", "TextureAnimation",
    "ParticleSystem", "PayPrice0", "PayPrice1", "PayPrice2", "PayPrice3", "PayPrice4",
    // Shape.
    "ProfileCurve", "TextureEntry", "ExtraParams", "PathBegin", "PathCurve", "PathEnd",
    "PathRadiusOffset", "PathRevolutions", "PathScaleX", "PathScaleY", "PathShearX",
    "PathShearY", "PathSkew", "PathTaperX", "PathTaperY", "PathTwist", "PathTwistBegin",
    "PCode", "ProfileBegin", "ProfileEnd", "ProfileHollow", "State", "LastAttachPoint",
    "ProfileShape", "HollowShape", "SculptTexture", "SculptType", "FlexiSoftness",
    "FlexiTension", "FlexiDrag", "FlexiGravity", "FlexiWind", "FlexiForceX", "FlexiForceY",
    "FlexiForceZ", "LightColorR", "LightColorG", "LightColorB", "LightColorA", "LightRadius",
    "LightCutoff", "LightFalloff", "LightIntensity", "FlexiEntry", "LightEntry",
    "SculptEntry",
    // TaskInventoryItem.
    "TaskInventoryItem", "AssetID", "BasePermissions", "EveryonePermissions",
    "GroupPermissions", "InvType", "ItemID", "OldItemID", "NextPermissions",
    "CurrentPermissions", "ParentPartID", "PermsGranter", "PermsMask", "Type", "OwnerChanged",
    // Group level: script states.
    "GroupScriptStates", "SavedScriptState", "ScriptState", "Running", "Variables",
    "Variable", "Queue", "Plugins", "LineMap", "Assembly",
    // Newer OpenSim part and shape elements.
    "Buoyancy", "Force", "Torque", "VolumeDetectActive", "PhysicsShapeType", "Density",
    "Friction", "Bounce", "GravityModifier", "CameraEyeOffset", "CameraAtOffset", "SoundID",
    "SoundGain", "SoundFlags", "SoundRadius", "SoundQueueing", "MediaUrl", "DynAttrs",
    "KeyframeMotion", "PhysicsInertia", "Vehicle", "RotationAxisLocks", "SitActRange",
    "ProjectionEntry", "ProjectionTexture", "ProjectionFOV", "ProjectionFocus",
    "ProjectionAmbiance", "SculptData", "Media", "APIDTarget", "APIDDamp", "APIDStrength",
    "PseudoCRC", "Animations", "PrimMediaURLs",
];
