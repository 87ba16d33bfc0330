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
use crate::kept_xml::KeptXml;
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
    Ok(Vector3::new(float(el.child("X"))?, float(el.child("Y"))?, float(el.child("Z"))?))
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
    let compact: String = el.text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(compact).map_err(|_| bad(el))
}

fn parse_item(el: &Element) -> Result<TaskInventoryItem, ObjectXmlError> {
    let mut item = TaskInventoryItem::new(Uuid::nil(), "", AssetType::Unknown, Uuid::nil());
    let mut kept = Vec::new();
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
            _ => kept.push(c),
        }
    }
    item.extra = KeptXml::from_elements(kept);
    Ok(item)
}

fn parse_shape(el: &Element) -> Result<Shape, ObjectXmlError> {
    let mut shape = Shape {
        extra: KeptXml::new(),
        ..Shape::default()
    };
    let mut kept = Vec::new();
    for c in &el.children {
        match c.name.as_str() {
            "PCode" => shape.pcode = num(c)?,
            "ProfileCurve" => shape.profile_curve = num(c)?,
            "PathCurve" => shape.path_curve = num(c)?,
            "TextureEntry" => shape.texture_entry = TextureEntry::from_bytes(&base64_bytes(c)?)?,
            "SculptEntry" => shape.sculpt_entry = boolean(c)?,
            "SculptTexture" => shape.sculpt_texture = uuid(c)?,
            "SculptType" => shape.sculpt_type = num(c)?,
            _ => kept.push(c),
        }
    }
    shape.extra = KeptXml::from_elements(kept);
    Ok(shape)
}

/// One `SceneObjectPart`, with its `GroupPosition` (the object position).
fn parse_part(el: &Element, limits: &SceneLimits) -> Result<(Part, Option<Vector3>), ObjectXmlError> {
    let mut part = Part::new(Uuid::nil(), "");
    part.scale = Vector3::ONE;
    let mut group_position = None;
    let mut have_id = false;
    let mut kept = Vec::new();
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
                part.inventory = c.children.iter().map(parse_item).collect::<Result<_, _>>()?;
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
            _ => kept.push(c),
        }
    }
    if !have_id {
        return Err(ObjectXmlError::MissingElement("UUID"));
    }
    part.extra = KeptXml::from_elements(kept);
    Ok((part, group_position))
}

/// Strips what OpenSim and editors put around the document: one trailing NUL
/// (§5.1), a byte-order mark, surrounding whitespace.
fn document_text(data: &[u8]) -> Result<&str, ObjectXmlError> {
    let data = data.strip_suffix(&[0]).unwrap_or(data);
    let text = std::str::from_utf8(data).map_err(|_| ObjectXmlError::NotUtf8)?;
    Ok(text.trim_start_matches('\u{feff}').trim())
}

fn check_size(data: &[u8], limits: &SceneLimits) -> Result<(), ObjectXmlError> {
    if data.len() > limits.max_object_xml_bytes {
        return Err(ObjectXmlError::TooLarge {
            bytes: data.len(),
            limit: limits.max_object_xml_bytes,
        });
    }
    Ok(())
}

/// Decodes an object asset or archive object, streaming (no element tree:
/// see [`crate::object_stream`]).
pub fn parse_object(data: &[u8], limits: &SceneLimits) -> Result<SceneObject, ObjectXmlError> {
    check_size(data, limits)?;
    crate::object_stream::parse(document_text(data)?, limits)
}

/// Decodes an object asset or archive object over the element tree of
/// [`crate::xml_tree`]: the reference [`parse_object`] is checked against
/// (tests) and measured against (the OAR benchmark).
pub fn parse_object_tree(data: &[u8], limits: &SceneLimits) -> Result<SceneObject, ObjectXmlError> {
    check_size(data, limits)?;
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
            _ => extra.push(c),
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
    object.extra = KeptXml::from_elements(extra);
    Ok(object)
}

// ----- writing ------------------------------------------------------------------
//
// Written straight into one String (no intermediate tree), in exactly the form
// `Element::write` gives: empty leaves self-closed, text escaped. Kept elements
// are already in that form and are appended as they are.

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

/// The object document being written.
struct XmlOut(String);

impl XmlOut {
    fn open(&mut self, name: &str) {
        self.0.push('<');
        self.0.push_str(name);
        self.0.push('>');
    }

    fn close(&mut self, name: &str) {
        self.0.push_str("</");
        self.0.push_str(name);
        self.0.push('>');
    }

    /// A text element; empty text is written self-closed.
    fn leaf(&mut self, name: &str, text: &str) {
        if text.is_empty() {
            self.0.push('<');
            self.0.push_str(name);
            self.0.push_str(" />");
            return;
        }
        self.open(name);
        self.0.push_str(&quick_xml::escape::escape(text));
        self.close(name);
    }

    fn number(&mut self, name: &str, value: impl std::fmt::Display) {
        self.leaf(name, &value.to_string());
    }

    fn vector(&mut self, name: &str, v: Vector3) {
        self.open(name);
        self.leaf("X", &float_text(v.x));
        self.leaf("Y", &float_text(v.y));
        self.leaf("Z", &float_text(v.z));
        self.close(name);
    }

    fn quaternion(&mut self, name: &str, q: Quaternion) {
        self.open(name);
        self.leaf("X", &float_text(q.x));
        self.leaf("Y", &float_text(q.y));
        self.leaf("Z", &float_text(q.z));
        self.leaf("W", &float_text(q.w));
        self.close(name);
    }

    fn uuid(&mut self, name: &str, id: Uuid) {
        self.open(name);
        self.leaf("UUID", &id.to_string());
        self.close(name);
    }

    fn kept(&mut self, kept: &KeptXml) {
        kept.write_to(&mut self.0);
    }
}

fn write_item(out: &mut XmlOut, item: &TaskInventoryItem) {
    let p = &item.permissions;
    out.open("TaskInventoryItem");
    out.uuid("AssetID", item.asset_id);
    out.number("BasePermissions", p.base);
    out.number("CreationDate", item.creation_date);
    out.uuid("CreatorID", item.creator_id);
    out.leaf("Description", &item.description);
    out.number("EveryonePermissions", p.everyone);
    out.number("Flags", item.flags);
    out.uuid("GroupID", item.group_id);
    out.number("GroupPermissions", p.group);
    out.number("InvType", item.inv_type);
    out.uuid("ItemID", item.item_id);
    out.uuid("LastOwnerID", item.last_owner_id);
    out.leaf("Name", &item.name);
    out.number("NextPermissions", p.next);
    out.uuid("OwnerID", item.owner_id);
    out.number("CurrentPermissions", p.current);
    out.uuid("ParentPartID", item.parent_part_id);
    out.number("Type", item.asset_type.code());
    out.kept(&item.extra);
    out.close("TaskInventoryItem");
}

fn write_shape(out: &mut XmlOut, shape: &Shape) {
    let te = base64::engine::general_purpose::STANDARD.encode(shape.texture_entry.to_bytes());
    out.open("Shape");
    out.number("ProfileCurve", shape.profile_curve);
    out.leaf("TextureEntry", &te);
    out.number("PathCurve", shape.path_curve);
    out.number("PCode", shape.pcode);
    out.uuid("SculptTexture", shape.sculpt_texture);
    out.number("SculptType", shape.sculpt_type);
    out.leaf("SculptEntry", if shape.sculpt_entry { "true" } else { "false" });
    out.kept(&shape.extra);
    out.close("Shape");
}

fn write_part(out: &mut XmlOut, part: &Part, group_position: Vector3) {
    out.0.push_str(
        "<SceneObjectPart xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\">",
    );
    out.uuid("CreatorID", part.creator_id);
    if !part.inventory.is_empty() {
        out.open("TaskInventory");
        for item in &part.inventory {
            write_item(out, item);
        }
        out.close("TaskInventory");
    }
    let p = &part.permissions;
    let flags = if part.flags.is_empty() { "None".to_string() } else { part.flags.join(", ") };
    out.uuid("UUID", part.id);
    out.leaf("Name", &part.name);
    out.vector("GroupPosition", group_position);
    out.vector("OffsetPosition", part.offset_position);
    out.quaternion("RotationOffset", part.rotation_offset);
    out.vector("Velocity", part.velocity);
    out.vector("AngularVelocity", part.angular_velocity);
    out.vector("Acceleration", part.acceleration);
    out.leaf("Description", &part.description);
    out.number("LinkNum", part.link_num);
    write_shape(out, &part.shape);
    out.vector("Scale", part.scale);
    out.number("CreationDate", part.creation_date);
    out.number("SalePrice", part.sale_price);
    out.number("ObjectSaleType", part.sale_type);
    out.uuid("GroupID", part.group_id);
    out.uuid("OwnerID", part.owner_id);
    out.uuid("LastOwnerID", part.last_owner_id);
    out.number("BaseMask", p.base);
    out.number("OwnerMask", p.current);
    out.number("GroupMask", p.group);
    out.number("EveryoneMask", p.everyone);
    out.number("NextOwnerMask", p.next);
    out.leaf("Flags", &flags);
    out.uuid("CollisionSound", part.collision_sound);
    out.kept(&part.extra);
    out.close("SceneObjectPart");
}

/// Serialises the object in the inventory layout (what `GetAssetFromObject`
/// stores). Every part carries the object position as its `GroupPosition`.
pub fn write_object(object: &SceneObject) -> String {
    let mut out = XmlOut(String::with_capacity(4096 * object.part_count()));
    out.open("SceneObjectGroup");
    out.open("RootPart");
    write_part(&mut out, object.root(), object.position);
    out.close("RootPart");
    if object.children().is_empty() {
        out.leaf("OtherParts", "");
    } else {
        out.open("OtherParts");
        for p in object.children() {
            out.open("Part");
            write_part(&mut out, p, object.position);
            out.close("Part");
        }
        out.close("OtherParts");
    }
    out.kept(&object.extra);
    out.close("SceneObjectGroup");
    out.0
}

/// Serialises the object in the archive ("xml2") layout OpenSim's region
/// archives use: the root `SceneObjectPart` directly under the group, the
/// children's under `OtherParts`. [`parse_object`] reads it back.
pub fn write_object_xml2(object: &SceneObject) -> String {
    let mut out = XmlOut(String::with_capacity(4096 * object.part_count()));
    out.open("SceneObjectGroup");
    write_part(&mut out, object.root(), object.position);
    if object.children().is_empty() {
        out.leaf("OtherParts", "");
    } else {
        out.open("OtherParts");
        for p in object.children() {
            write_part(&mut out, p, object.position);
        }
        out.close("OtherParts");
    }
    out.kept(&object.extra);
    out.close("SceneObjectGroup");
    out.0
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
        let mut item = TaskInventoryItem::new(Uuid::from_u128(5), "tile", AssetType::Object, Uuid::from_u128(6));
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
        assert_eq!(parse_object(&write_object_asset(&obj), &limits()).unwrap(), obj);
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
        assert_eq!(obj.root().extra.names(), vec!["Mystery"]);
        let again = parse_object(write_object(&obj).as_bytes(), &limits()).unwrap();
        assert_eq!(again, obj);
    }

    /// The streaming reader and the element-tree reader agree, on odd but
    /// valid documents (same object) and on broken ones (both refuse).
    #[test]
    fn streaming_and_tree_readers_agree() {
        let l = limits();
        let part = |inner: &str| {
            format!(
                "<SceneObjectGroup><SceneObjectPart xmlns:xsi=\"x\"><UUID><UUID>00000000-0000-0000-0000-000000000001</UUID></UUID>{inner}</SceneObjectPart></SceneObjectGroup>"
            )
        };
        let same = [
            part("<Name>a &amp; b &#x41;<![CDATA[<c>]]></Name>"),
            part("<Mystery k=\"1 &lt; 2\" j='q'><A>x&gt;</A>\n  <B />  <C>  </C>text beside<D><E>deep</E></D></Mystery>"),
            part("<Empty></Empty><Spaces>  </Spaces><!-- note --><?pi x?>"),
            part("<GroupPosition><Y>2</Y><X>1</X><X>bad but unread</X><Q>9</Q></GroupPosition><Scale><Z>3</Z></Scale>"),
            part("<OwnerID><Guid>00000000-0000-0000-0000-000000000003</Guid><UUID>00000000-0000-0000-0000-000000000004</UUID></OwnerID>"),
            part("<GroupID> 00000000-0000-0000-0000-000000000005 </GroupID><CreatorID />"),
            part("<Name>one</Name><Name>two</Name><Description><Inner>x</Inner>  </Description>"),
            part("<Flags>Scripted, Touch,None</Flags><BaseMask>-1</BaseMask><Shape><PCode>9</PCode><TextureEntry>\n</TextureEntry><Odd><X/></Odd></Shape>"),
            part("<TaskInventory><TaskInventoryItem><Name>n</Name><Extra>e</Extra></TaskInventoryItem><Other><Type>7</Type></Other></TaskInventory>"),
            "<SceneObjectGroup><RootPart><Junk/><SceneObjectPart><UUID>00000000-0000-0000-0000-000000000009</UUID></SceneObjectPart></RootPart>\
             <OtherParts>ws<Part><SceneObjectPart><UUID /><LinkNum>3</LinkNum></SceneObjectPart></Part><SceneObjectPart><UUID /><LinkNum>2</LinkNum></SceneObjectPart><Zzz/></OtherParts>\
             <KeptAtGroup a=\"&quot;\">v</KeptAtGroup></SceneObjectGroup>\n<!-- after -->\n"
                .to_string(),
        ];
        for doc in &same {
            let streamed = parse_object(doc.as_bytes(), &l).unwrap_or_else(|e| panic!("{doc}: {e}"));
            assert_eq!(parse_object_tree(doc.as_bytes(), &l), Ok(streamed.clone()), "{doc}");
        }
        let refused = [
            part("<Name>x</Nome>"),
            part("<Name>&bogus;</Name>"),
            part("<LinkNum>x</LinkNum>"),
            part("<GroupPosition><X>nan?</X></GroupPosition>"),
            part("<OwnerID><UUID>not-a-uuid</UUID></OwnerID>"),
            part("<Shape><TextureEntry>***</TextureEntry></Shape>"),
            part("<Mystery a=\"1\" a=\"2\" />"),
            format!("{}<Second/>", part("")),
            format!("{}trailing text", part("")),
            "<SceneObjectGroup><SceneObjectPart><UUID><UUID>00000000-0000-0000-0000-000000000001</UUID></UUID>".to_string(),
            "<SceneObjectGroup><OtherParts><SceneObjectPart><UUID /></SceneObjectPart></OtherParts></SceneObjectGroup>".to_string(),
        ];
        for doc in &refused {
            assert!(parse_object(doc.as_bytes(), &l).is_err(), "streamed accepted {doc}");
            assert!(parse_object_tree(doc.as_bytes(), &l).is_err(), "tree accepted {doc}");
        }
        // The caps hold for skipped elements too.
        let few = SceneLimits {
            max_xml_elements: 6,
            ..limits()
        };
        let doc = part("<GroupPosition><X>1</X><Unread/><Unread/><Unread/></GroupPosition>");
        assert!(matches!(
            parse_object(doc.as_bytes(), &few),
            Err(ObjectXmlError::Xml(XmlError::TooManyElements { .. }))
        ));
        assert!(matches!(
            parse_object_tree(doc.as_bytes(), &few),
            Err(ObjectXmlError::Xml(XmlError::TooManyElements { .. }))
        ));
    }

    #[test]
    fn refusals_are_typed() {
        let l = limits();
        assert_eq!(parse_object(b"<Notecard/>", &l), Err(ObjectXmlError::NotAnObject("Notecard".into())));
        assert_eq!(parse_object(b"<CoalescedObject/>", &l), Err(ObjectXmlError::Coalesced));
        assert_eq!(parse_object(b"<SceneObjectGroup/>", &l), Err(ObjectXmlError::MissingElement("SceneObjectPart")));
        assert!(matches!(parse_object(b"Hello, world!\0", &l), Err(ObjectXmlError::Xml(_))));
        assert_eq!(parse_object(&[0xff, 0xfe, 0x3c], &l), Err(ObjectXmlError::NotUtf8));
        let no_id = b"<SceneObjectGroup><SceneObjectPart><Name>x</Name></SceneObjectPart></SceneObjectGroup>";
        assert_eq!(parse_object(no_id, &l), Err(ObjectXmlError::MissingElement("UUID")));
        let bad_num = b"<SceneObjectGroup><SceneObjectPart><UUID><UUID>00000000-0000-0000-0000-000000000001</UUID></UUID><LinkNum>x</LinkNum></SceneObjectPart></SceneObjectGroup>";
        assert!(matches!(parse_object(bad_num, &l), Err(ObjectXmlError::BadValue { .. })));
    }

    #[test]
    fn limits_are_enforced_while_parsing() {
        let obj = sample();
        let xml = write_object(&obj);
        let small = SceneLimits {
            max_object_xml_bytes: 10,
            ..limits()
        };
        assert!(matches!(parse_object(xml.as_bytes(), &small), Err(ObjectXmlError::TooLarge { .. })));
        let one_part = SceneLimits {
            max_parts_per_object: 1,
            ..limits()
        };
        assert_eq!(parse_object(xml.as_bytes(), &one_part), Err(ObjectXmlError::TooManyParts { count: 2, limit: 1 }));
        let no_items = SceneLimits {
            max_inventory_items_per_part: 0,
            ..limits()
        };
        assert!(matches!(parse_object(xml.as_bytes(), &no_items), Err(ObjectXmlError::TooManyInventoryItems { .. })));
        let shallow = SceneLimits {
            max_xml_depth: 3,
            ..limits()
        };
        assert!(matches!(parse_object(xml.as_bytes(), &shallow), Err(ObjectXmlError::Xml(XmlError::TooDeep { .. }))));
    }
}
