//! The OpenSim serialised-object format (§5.2): object assets and archive objects.
//!
//! Reading accepts both layouts OpenSim writes: the inventory ("original") layout
//! `SceneObjectGroup/RootPart/SceneObjectPart` + `OtherParts/Part/SceneObjectPart`,
//! and the archive ("xml2") layout with `SceneObjectPart` directly under the group
//! and under `OtherParts`. Elements may come in any order; unknown ones are kept
//! verbatim (so a rezzed copy written back still carries script states, sit targets,
//! path cuts…). Writing always produces the inventory layout, with the elements of
//! the spec's table first, in its order.

use base64::Engine;
use thiserror::Error;
use uuid::Uuid;

use crate::asset::AssetType;
use crate::limits::SceneLimits;
use crate::math::{Quaternion, Vector3};
use crate::object::SceneObject;
use crate::part::{Part, TaskInventoryItem};
use crate::shape::Shape;
use crate::texture_entry::{TextureEntry, TextureEntryError};
use crate::xml_tree::{Element, XmlError, XmlLimits};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ObjectXmlError {
    #[error("object XML too large ({bytes} bytes, limit {limit})")]
    TooLarge { bytes: usize, limit: usize },
    #[error("object XML is not UTF-8")]
    NotUtf8,
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("not a serialised object (root element <{0}>)")]
    NotAnObject(String),
    /// Several objects in one asset: not supported by `CreateObject` (§5.2.1).
    #[error("coalesced objects are not supported")]
    Coalesced,
    #[error("missing element <{0}>")]
    MissingElement(&'static str),
    #[error("bad value in <{element}>: {text:?}")]
    BadValue { element: String, text: String },
    #[error("bad texture entry: {0}")]
    BadTextureEntry(#[from] TextureEntryError),
    #[error("too many parts ({count}, limit {limit})")]
    TooManyParts { count: usize, limit: usize },
    #[error("too many inventory items in a part ({count}, limit {limit})")]
    TooManyInventoryItems { count: usize, limit: usize },
}

// ----- reading ------------------------------------------------------------------

fn bad(el: &Element) -> ObjectXmlError {
    ObjectXmlError::BadValue {
        element: el.name.clone(),
        text: el.text.chars().take(64).collect(),
    }
}

fn num<T: std::str::FromStr>(el: &Element) -> Result<T, ObjectXmlError> {
    el.text.trim().parse().map_err(|_| bad(el))
}

/// Permission masks are unsigned, but some writers print them as signed ints.
fn mask(el: &Element) -> Result<u32, ObjectXmlError> {
    let t = el.text.trim();
    t.parse::<u32>()
        .or_else(|_| t.parse::<i32>().map(|v| v as u32))
        .map_err(|_| bad(el))
}

fn boolean(el: &Element) -> Result<bool, ObjectXmlError> {
    match el.text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" | "" => Ok(false),
        _ => Err(bad(el)),
    }
}

fn float(el: Option<&Element>) -> Result<f32, ObjectXmlError> {
    el.map_or(Ok(0.0), num::<f32>)
}

fn vector(el: &Element) -> Result<Vector3, ObjectXmlError> {
    Ok(Vector3::new(
        float(el.child("X"))?,
        float(el.child("Y"))?,
        float(el.child("Z"))?,
    ))
}

fn quaternion(el: &Element) -> Result<Quaternion, ObjectXmlError> {
    Ok(Quaternion::new(
        float(el.child("X"))?,
        float(el.child("Y"))?,
        float(el.child("Z"))?,
        float(el.child("W"))?,
    ))
}

/// `<X><UUID>…</UUID></X>` (older files: `<Guid>`; tolerated: bare text).
fn uuid(el: &Element) -> Result<Uuid, ObjectXmlError> {
    let inner = el.child("UUID").or_else(|| el.child("Guid")).unwrap_or(el);
    let text = inner.text.trim();
    if text.is_empty() {
        return Ok(Uuid::nil());
    }
    Uuid::parse_str(text).map_err(|_| bad(el))
}

fn base64_bytes(el: &Element) -> Result<Vec<u8>, ObjectXmlError> {
    let compact: String = el
        .text
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| bad(el))
}

fn parse_item(el: &Element) -> Result<TaskInventoryItem, ObjectXmlError> {
    let mut item = TaskInventoryItem::new(Uuid::nil(), "", AssetType::Unknown, Uuid::nil());
    for c in &el.children {
        match c.name.as_str() {
            "AssetID" => item.asset_id = uuid(c)?,
            "ItemID" => item.item_id = uuid(c)?,
            "OwnerID" => item.owner_id = uuid(c)?,
            "CreatorID" => item.creator_id = uuid(c)?,
            "LastOwnerID" => item.last_owner_id = uuid(c)?,
            "GroupID" => item.group_id = uuid(c)?,
            "ParentPartID" => item.parent_part_id = uuid(c)?,
            "Name" => item.name = c.text.clone(),
            "Description" => item.description = c.text.clone(),
            "Type" => item.asset_type = AssetType::from(num::<i8>(c)?),
            "InvType" => item.inv_type = num(c)?,
            "BasePermissions" => item.permissions.base = mask(c)?,
            "CurrentPermissions" => item.permissions.current = mask(c)?,
            "EveryonePermissions" => item.permissions.everyone = mask(c)?,
            "GroupPermissions" => item.permissions.group = mask(c)?,
            "NextPermissions" => item.permissions.next = mask(c)?,
            "Flags" => item.flags = mask(c)?,
            "CreationDate" => item.creation_date = num(c)?,
            _ => item.extra.push(c.clone()),
        }
    }
    Ok(item)
}

fn parse_shape(el: &Element) -> Result<Shape, ObjectXmlError> {
    let mut shape = Shape {
        extra: Vec::new(),
        ..Shape::default()
    };
    for c in &el.children {
        match c.name.as_str() {
            "PCode" => shape.pcode = num(c)?,
            "ProfileCurve" => shape.profile_curve = num(c)?,
            "PathCurve" => shape.path_curve = num(c)?,
            "TextureEntry" => shape.texture_entry = TextureEntry::from_bytes(&base64_bytes(c)?)?,
            "SculptEntry" => shape.sculpt_entry = boolean(c)?,
            "SculptTexture" => shape.sculpt_texture = uuid(c)?,
            "SculptType" => shape.sculpt_type = num(c)?,
            _ => shape.extra.push(c.clone()),
        }
    }
    Ok(shape)
}

/// One `SceneObjectPart`, with its `GroupPosition` (the object position).
fn parse_part(
    el: &Element,
    limits: &SceneLimits,
) -> Result<(Part, Option<Vector3>), ObjectXmlError> {
    let mut part = Part::new(Uuid::nil(), "");
    part.scale = Vector3::ONE;
    let mut group_position = None;
    let mut have_id = false;
    for c in &el.children {
        match c.name.as_str() {
            "UUID" => {
                part.id = uuid(c)?;
                have_id = true;
            }
            "CreatorID" => part.creator_id = uuid(c)?,
            "OwnerID" => part.owner_id = uuid(c)?,
            "LastOwnerID" => part.last_owner_id = uuid(c)?,
            "GroupID" => part.group_id = uuid(c)?,
            "Name" => part.name = c.text.clone(),
            "Description" => part.description = c.text.clone(),
            "GroupPosition" => group_position = Some(vector(c)?),
            "OffsetPosition" => part.offset_position = vector(c)?,
            "RotationOffset" => part.rotation_offset = quaternion(c)?,
            "Velocity" => part.velocity = vector(c)?,
            "AngularVelocity" => part.angular_velocity = vector(c)?,
            "Acceleration" => part.acceleration = vector(c)?,
            "Scale" => part.scale = vector(c)?,
            "LinkNum" => part.link_num = num(c)?,
            "Shape" => part.shape = parse_shape(c)?,
            "TaskInventory" => {
                let count = c.children.len();
                if count > limits.max_inventory_items_per_part {
                    return Err(ObjectXmlError::TooManyInventoryItems {
                        count,
                        limit: limits.max_inventory_items_per_part,
                    });
                }
                part.inventory = c
                    .children
                    .iter()
                    .map(parse_item)
                    .collect::<Result<_, _>>()?;
            }
            "BaseMask" => part.permissions.base = mask(c)?,
            "OwnerMask" => part.permissions.current = mask(c)?,
            "GroupMask" => part.permissions.group = mask(c)?,
            "EveryoneMask" => part.permissions.everyone = mask(c)?,
            "NextOwnerMask" => part.permissions.next = mask(c)?,
            "Flags" => {
                part.flags = c
                    .text
                    .split(',')
                    .map(str::trim)
                    .filter(|f| !f.is_empty() && *f != "None")
                    .map(str::to_string)
                    .collect();
            }
            "CreationDate" => part.creation_date = num(c)?,
            "SalePrice" => part.sale_price = num(c)?,
            "ObjectSaleType" => part.sale_type = num(c)?,
            "CollisionSound" => part.collision_sound = uuid(c)?,
            _ => part.extra.push(c.clone()),
        }
    }
    if !have_id {
        return Err(ObjectXmlError::MissingElement("UUID"));
    }
    Ok((part, group_position))
}

/// Strips what OpenSim and editors put around the document: one trailing NUL
/// (§5.1), a byte-order mark, surrounding whitespace.
fn document_text(data: &[u8]) -> Result<&str, ObjectXmlError> {
    let data = data.strip_suffix(&[0]).unwrap_or(data);
    let text = std::str::from_utf8(data).map_err(|_| ObjectXmlError::NotUtf8)?;
    Ok(text.trim_start_matches('\u{feff}').trim())
}

/// Decodes an object asset or archive object.
pub fn parse_object(data: &[u8], limits: &SceneLimits) -> Result<SceneObject, ObjectXmlError> {
    if data.len() > limits.max_object_xml_bytes {
        return Err(ObjectXmlError::TooLarge {
            bytes: data.len(),
            limit: limits.max_object_xml_bytes,
        });
    }
    let xml_limits = XmlLimits {
        max_depth: limits.max_xml_depth,
        max_elements: limits.max_xml_elements,
    };
    let root = Element::parse(document_text(data)?, xml_limits)?;
    match root.name.as_str() {
        "SceneObjectGroup" => {}
        "CoalescedObject" => return Err(ObjectXmlError::Coalesced),
        other => return Err(ObjectXmlError::NotAnObject(other.to_string())),
    }
    let mut root_el = None;
    let mut child_els = Vec::new();
    let mut extra = Vec::new();
    for c in &root.children {
        match c.name.as_str() {
            "RootPart" => root_el = c.child("SceneObjectPart"),
            "SceneObjectPart" => root_el = Some(c),
            "OtherParts" => {
                for p in &c.children {
                    match p.name.as_str() {
                        "Part" => child_els.extend(p.child("SceneObjectPart")),
                        "SceneObjectPart" => child_els.push(p),
                        _ => {}
                    }
                }
            }
            _ => extra.push(c.clone()),
        }
    }
    let root_el = root_el.ok_or(ObjectXmlError::MissingElement("SceneObjectPart"))?;
    let count = 1 + child_els.len();
    if count > limits.max_parts_per_object {
        return Err(ObjectXmlError::TooManyParts {
            count,
            limit: limits.max_parts_per_object,
        });
    }
    let (root_part, position) = parse_part(root_el, limits)?;
    let children = child_els
        .into_iter()
        .map(|el| parse_part(el, limits).map(|(p, _)| p))
        .collect::<Result<_, _>>()?;
    let mut object = SceneObject::new(root_part, children, position.unwrap_or_default());
    object.extra = extra;
    Ok(object)
}

// ----- writing ------------------------------------------------------------------

/// .NET-compatible float text: shortest round-trip digits, .NET's names for
/// the non-finite values.
fn float_text(v: f32) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "Infinity" } else { "-Infinity" }.to_string()
    } else {
        v.to_string()
    }
}

fn vector_el(name: &str, v: Vector3) -> Element {
    Element::new(name)
        .with_child(Element::leaf("X", float_text(v.x)))
        .with_child(Element::leaf("Y", float_text(v.y)))
        .with_child(Element::leaf("Z", float_text(v.z)))
}

fn quaternion_el(name: &str, q: Quaternion) -> Element {
    Element::new(name)
        .with_child(Element::leaf("X", float_text(q.x)))
        .with_child(Element::leaf("Y", float_text(q.y)))
        .with_child(Element::leaf("Z", float_text(q.z)))
        .with_child(Element::leaf("W", float_text(q.w)))
}

fn uuid_el(name: &str, id: Uuid) -> Element {
    Element::new(name).with_child(Element::leaf("UUID", id.to_string()))
}

fn item_el(item: &TaskInventoryItem) -> Element {
    let p = &item.permissions;
    let mut el = Element::new("TaskInventoryItem");
    el.children = vec![
        uuid_el("AssetID", item.asset_id),
        Element::leaf("BasePermissions", p.base.to_string()),
        Element::leaf("CreationDate", item.creation_date.to_string()),
        uuid_el("CreatorID", item.creator_id),
        Element::leaf("Description", item.description.clone()),
        Element::leaf("EveryonePermissions", p.everyone.to_string()),
        Element::leaf("Flags", item.flags.to_string()),
        uuid_el("GroupID", item.group_id),
        Element::leaf("GroupPermissions", p.group.to_string()),
        Element::leaf("InvType", item.inv_type.to_string()),
        uuid_el("ItemID", item.item_id),
        uuid_el("LastOwnerID", item.last_owner_id),
        Element::leaf("Name", item.name.clone()),
        Element::leaf("NextPermissions", p.next.to_string()),
        uuid_el("OwnerID", item.owner_id),
        Element::leaf("CurrentPermissions", p.current.to_string()),
        uuid_el("ParentPartID", item.parent_part_id),
        Element::leaf("Type", item.asset_type.code().to_string()),
    ];
    el.children.extend(item.extra.iter().cloned());
    el
}

fn shape_el(shape: &Shape) -> Element {
    let te = base64::engine::general_purpose::STANDARD.encode(shape.texture_entry.to_bytes());
    let mut el = Element::new("Shape");
    el.children = vec![
        Element::leaf("ProfileCurve", shape.profile_curve.to_string()),
        Element::leaf("TextureEntry", te),
        Element::leaf("PathCurve", shape.path_curve.to_string()),
        Element::leaf("PCode", shape.pcode.to_string()),
        uuid_el("SculptTexture", shape.sculpt_texture),
        Element::leaf("SculptType", shape.sculpt_type.to_string()),
        Element::leaf(
            "SculptEntry",
            if shape.sculpt_entry { "true" } else { "false" },
        ),
    ];
    el.children.extend(shape.extra.iter().cloned());
    el
}

fn part_el(part: &Part, group_position: Vector3) -> Element {
    let mut el = Element::new("SceneObjectPart");
    el.attrs = vec![
        (
            "xmlns:xsi".to_string(),
            "http://www.w3.org/2001/XMLSchema-instance".to_string(),
        ),
        (
            "xmlns:xsd".to_string(),
            "http://www.w3.org/2001/XMLSchema".to_string(),
        ),
    ];
    el.children.push(uuid_el("CreatorID", part.creator_id));
    if !part.inventory.is_empty() {
        let mut inv = Element::new("TaskInventory");
        inv.children = part.inventory.iter().map(item_el).collect();
        el.children.push(inv);
    }
    let p = &part.permissions;
    let flags = if part.flags.is_empty() {
        "None".to_string()
    } else {
        part.flags.join(", ")
    };
    el.children.extend([
        uuid_el("UUID", part.id),
        Element::leaf("Name", part.name.clone()),
        vector_el("GroupPosition", group_position),
        vector_el("OffsetPosition", part.offset_position),
        quaternion_el("RotationOffset", part.rotation_offset),
        vector_el("Velocity", part.velocity),
        vector_el("AngularVelocity", part.angular_velocity),
        vector_el("Acceleration", part.acceleration),
        Element::leaf("Description", part.description.clone()),
        Element::leaf("LinkNum", part.link_num.to_string()),
        shape_el(&part.shape),
        vector_el("Scale", part.scale),
        Element::leaf("CreationDate", part.creation_date.to_string()),
        Element::leaf("SalePrice", part.sale_price.to_string()),
        Element::leaf("ObjectSaleType", part.sale_type.to_string()),
        uuid_el("GroupID", part.group_id),
        uuid_el("OwnerID", part.owner_id),
        uuid_el("LastOwnerID", part.last_owner_id),
        Element::leaf("BaseMask", p.base.to_string()),
        Element::leaf("OwnerMask", p.current.to_string()),
        Element::leaf("GroupMask", p.group.to_string()),
        Element::leaf("EveryoneMask", p.everyone.to_string()),
        Element::leaf("NextOwnerMask", p.next.to_string()),
        Element::leaf("Flags", flags),
        uuid_el("CollisionSound", part.collision_sound),
    ]);
    el.children.extend(part.extra.iter().cloned());
    el
}

/// Serialises the object in the inventory layout (what `GetAssetFromObject`
/// stores). Every part carries the object position as its `GroupPosition`.
pub fn write_object(object: &SceneObject) -> String {
    let mut group = Element::new("SceneObjectGroup");
    group
        .children
        .push(Element::new("RootPart").with_child(part_el(object.root(), object.position)));
    let mut others = Element::new("OtherParts");
    others.children = object
        .children()
        .iter()
        .map(|p| Element::new("Part").with_child(part_el(p, object.position)))
        .collect();
    group.children.push(others);
    group.children.extend(object.extra.iter().cloned());
    let mut out = String::with_capacity(4096 * object.part_count());
    group.write(&mut out);
    out
}

/// Asset bytes of an object: the XML with the trailing NUL OpenSim's own assets
/// carry (§5.1), so files round-trip with OpenSim-produced ones.
pub fn write_object_asset(object: &SceneObject) -> Vec<u8> {
    let mut bytes = write_object(object).into_bytes();
    bytes.push(0);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::Color;
    use crate::texture_entry::FaceOverride;

    fn limits() -> SceneLimits {
        SceneLimits::default()
    }

    fn sample() -> SceneObject {
        let mut root = Part::new(Uuid::from_u128(1), "Table & <chairs>");
        root.description = "a \"nice\" one".into();
        root.shape.texture_entry = TextureEntry::with_texture(Uuid::from_u128(0xabc));
        root.shape.texture_entry.face_colors.push(FaceOverride {
            faces: 3,
            value: Color::new(1.0, 0.0, 0.0, 1.0),
        });
        root.flags = vec!["Scripted".into(), "Touch".into()];
        let mut item = TaskInventoryItem::new(
            Uuid::from_u128(5),
            "tile",
            AssetType::Object,
            Uuid::from_u128(6),
        );
        item.parent_part_id = root.id;
        root.inventory.push(item);
        let mut leg = Part::new(Uuid::from_u128(2), "Leg");
        leg.offset_position = Vector3::new(-0.9, -0.4, -0.5);
        leg.rotation_offset = Quaternion::new(0.0, 0.382_683_4, 0.0, 0.923_879_5);
        leg.shape.sculpt_entry = true;
        leg.shape.sculpt_texture = Uuid::from_u128(0xdef);
        let mut obj = SceneObject::linked(root, vec![leg], Vector3::new(128.0, 128.0, 25.1));
        obj.root_mut().velocity = Vector3::new(1.0, 0.0, 0.0);
        obj
    }

    #[test]
    fn write_then_parse_is_identity() {
        let obj = sample();
        let xml = write_object(&obj);
        assert!(xml.starts_with("<SceneObjectGroup><RootPart><SceneObjectPart"));
        let back = parse_object(xml.as_bytes(), &limits()).unwrap();
        assert_eq!(back, obj);
        // And with the asset NUL.
        assert_eq!(
            parse_object(&write_object_asset(&obj), &limits()).unwrap(),
            obj
        );
    }

    #[test]
    fn rc_50_tolerates_nul_unknown_elements_guid_and_xml2_layout() {
        let xml = "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<SceneObjectGroup>\n  <SceneObjectPart>\n    \
            <Mystery><Deep>1</Deep></Mystery>\n    <UUID><Guid>{C0FFEE00-1111-4A2B-8C3D-0123456789AB}</Guid></UUID>\n    \
            <Name>x</Name><GroupPosition><X>1.5</X><Y>2</Y><Z>3E1</Z></GroupPosition>\n  </SceneObjectPart>\n  \
            <OtherParts><SceneObjectPart><UUID><UUID>00000000-0000-0000-0000-000000000002</UUID></UUID><LinkNum>2</LinkNum></SceneObjectPart></OtherParts>\n\
            </SceneObjectGroup>\0";
        let obj = parse_object(xml.as_bytes(), &limits()).unwrap();
        assert_eq!(obj.id().to_string(), "c0ffee00-1111-4a2b-8c3d-0123456789ab");
        assert_eq!(obj.position, Vector3::new(1.5, 2.0, 30.0));
        assert_eq!(obj.part_count(), 2);
        assert_eq!(obj.root().extra[0].name, "Mystery");
        let again = parse_object(write_object(&obj).as_bytes(), &limits()).unwrap();
        assert_eq!(again, obj);
    }

    #[test]
    fn refusals_are_typed() {
        let l = limits();
        assert_eq!(
            parse_object(b"<Notecard/>", &l),
            Err(ObjectXmlError::NotAnObject("Notecard".into()))
        );
        assert_eq!(
            parse_object(b"<CoalescedObject/>", &l),
            Err(ObjectXmlError::Coalesced)
        );
        assert_eq!(
            parse_object(b"<SceneObjectGroup/>", &l),
            Err(ObjectXmlError::MissingElement("SceneObjectPart"))
        );
        assert!(matches!(
            parse_object(b"Hello, world!\0", &l),
            Err(ObjectXmlError::Xml(_))
        ));
        assert_eq!(
            parse_object(&[0xff, 0xfe, 0x3c], &l),
            Err(ObjectXmlError::NotUtf8)
        );
        let no_id = b"<SceneObjectGroup><SceneObjectPart><Name>x</Name></SceneObjectPart></SceneObjectGroup>";
        assert_eq!(
            parse_object(no_id, &l),
            Err(ObjectXmlError::MissingElement("UUID"))
        );
        let bad_num = b"<SceneObjectGroup><SceneObjectPart><UUID><UUID>00000000-0000-0000-0000-000000000001</UUID></UUID><LinkNum>x</LinkNum></SceneObjectPart></SceneObjectGroup>";
        assert!(matches!(
            parse_object(bad_num, &l),
            Err(ObjectXmlError::BadValue { .. })
        ));
    }

    #[test]
    fn limits_are_enforced_while_parsing() {
        let obj = sample();
        let xml = write_object(&obj);
        let small = SceneLimits {
            max_object_xml_bytes: 10,
            ..limits()
        };
        assert!(matches!(
            parse_object(xml.as_bytes(), &small),
            Err(ObjectXmlError::TooLarge { .. })
        ));
        let one_part = SceneLimits {
            max_parts_per_object: 1,
            ..limits()
        };
        assert_eq!(
            parse_object(xml.as_bytes(), &one_part),
            Err(ObjectXmlError::TooManyParts { count: 2, limit: 1 })
        );
        let no_items = SceneLimits {
            max_inventory_items_per_part: 0,
            ..limits()
        };
        assert!(matches!(
            parse_object(xml.as_bytes(), &no_items),
            Err(ObjectXmlError::TooManyInventoryItems { .. })
        ));
        let shallow = SceneLimits {
            max_xml_depth: 3,
            ..limits()
        };
        assert!(matches!(
            parse_object(xml.as_bytes(), &shallow),
            Err(ObjectXmlError::Xml(XmlError::TooDeep { .. }))
        ));
    }
}
