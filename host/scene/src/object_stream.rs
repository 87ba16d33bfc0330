//! The streaming reader of the object XML: fills the scene types straight from
//! quick-xml's events, without the intermediate element tree of
//! [`crate::xml_tree`] (which allocated a node, a name and a text per element
//! and then serialised the unread ones again).
//!
//! It reads what [`crate::object_xml::parse_object_tree`] reads, with the same
//! rules: both layouts, elements in any order, the first `X`/`Y`/`Z` of a
//! vector, `UUID` before `Guid` before bare text in an id, unknown elements
//! kept in the canonical form [`crate::xml_tree::Element::write`] gives (empty
//! leaves self-closed, text escaped, text beside child elements dropped). The
//! depth and element caps apply to every element, read or skipped; every
//! skipped element is still checked for well-formedness by the reader.

use std::borrow::Cow;

use base64::Engine;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use uuid::Uuid;

use crate::asset::AssetType;
use crate::kept_xml::KeptXml;
use crate::limits::SceneLimits;
use crate::math::{Quaternion, Vector3};
use crate::object::SceneObject;
use crate::object_xml::ObjectXmlError;
use crate::part::{Part, TaskInventoryItem};
use crate::shape::Shape;
use crate::texture_entry::TextureEntry;
use crate::xml_tree::{XmlError, XmlLimits};

fn malformed(e: impl std::fmt::Display) -> XmlError {
    XmlError::Malformed(e.to_string())
}

fn bad(element: &str, text: &str) -> ObjectXmlError {
    ObjectXmlError::BadValue {
        element: element.to_string(),
        text: text.chars().take(64).collect(),
    }
}

/// What the parser sees: elements opening and closing, their text.
enum Ev<'a> {
    Start(BytesStart<'a>),
    End,
    Text(Cow<'a, str>),
}

/// Appends a text piece (entity references come as their own pieces).
fn append<'a>(text: &mut Cow<'a, str>, piece: Cow<'a, str>) {
    if text.is_empty() {
        *text = piece;
    } else {
        text.to_mut().push_str(&piece);
    }
}

struct Stream<'a> {
    reader: Reader<&'a [u8]>,
    limits: XmlLimits,
    /// Open elements.
    depth: usize,
    /// Elements seen so far.
    elements: usize,
    /// Scratch of the kept-element writer, reused across elements.
    names: String,
    frames: Vec<(usize, bool)>,
    text: String,
}

impl<'a> Stream<'a> {
    /// The next event that matters, under the caps. Ends inside the root
    /// element: the caller stops at the root's end.
    fn next(&mut self) -> Result<Ev<'a>, XmlError> {
        loop {
            let text = match self.reader.read_event().map_err(malformed)? {
                Event::Start(start) => {
                    if self.depth >= self.limits.max_depth {
                        return Err(XmlError::TooDeep {
                            limit: self.limits.max_depth,
                        });
                    }
                    self.elements += 1;
                    if self.elements > self.limits.max_elements {
                        return Err(XmlError::TooManyElements {
                            limit: self.limits.max_elements,
                        });
                    }
                    self.depth += 1;
                    return Ok(Ev::Start(start));
                }
                Event::End(_) => {
                    // Name matching is checked by the reader (check_end_names).
                    self.depth = self.depth.checked_sub(1).ok_or_else(|| malformed("unbalanced end tag"))?;
                    return Ok(Ev::End);
                }
                Event::Text(text) => text.xml_content().map_err(malformed)?,
                Event::CData(cdata) => cdata.decode().map_err(malformed)?,
                Event::GeneralRef(r) => {
                    let ch = match r.resolve_char_ref().map_err(malformed)? {
                        Some(c) => c,
                        None => {
                            let name = r.decode().map_err(malformed)?;
                            predefined_entity(&name).ok_or_else(|| XmlError::UnknownEntity(name.into_owned()))?
                        }
                    };
                    Cow::Owned(ch.to_string())
                }
                Event::Eof if self.depth > 0 => return Err(malformed("unexpected end of document")),
                Event::Eof => return Err(XmlError::NoRoot),
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => continue,
                Event::Empty(_) => return Err(malformed("unexpected empty element")),
            };
            if self.depth > 0 {
                return Ok(Ev::Text(text));
            }
            if !text.trim().is_empty() {
                return Err(malformed("text outside the root element"));
            }
        }
    }

    /// The root element's start.
    fn root(&mut self) -> Result<BytesStart<'a>, XmlError> {
        match self.next()? {
            Ev::Start(start) => Ok(start),
            // Text at depth 0 is refused by `next`; an end first is unbalanced.
            Ev::End | Ev::Text(_) => Err(malformed("unbalanced end tag")),
        }
    }

    /// After the root element: only comments, declarations and whitespace.
    fn finish(&mut self) -> Result<(), XmlError> {
        loop {
            match self.reader.read_event().map_err(malformed)? {
                Event::Eof => return Ok(()),
                Event::Comment(_) | Event::PI(_) => {}
                Event::Text(t) if t.xml_content().map_err(malformed)?.trim().is_empty() => {}
                _ => return Err(malformed("content after the root element")),
            }
        }
    }

    /// Skips the rest of the element just opened (still checked and counted).
    fn skip(&mut self) -> Result<(), XmlError> {
        let mut open = 1usize;
        while open > 0 {
            match self.next()? {
                Ev::Start(_) => open += 1,
                Ev::End => open -= 1,
                Ev::Text(_) => {}
            }
        }
        Ok(())
    }

    /// The text of the element just opened, up to its end. Child elements
    /// are skipped; with children, whitespace-only text is no text.
    fn text(&mut self) -> Result<Cow<'a, str>, XmlError> {
        let mut text = Cow::Borrowed("");
        let mut children = false;
        loop {
            match self.next()? {
                Ev::Text(piece) => append(&mut text, piece),
                Ev::Start(_) => {
                    children = true;
                    self.skip()?;
                }
                Ev::End => break,
            }
        }
        if children && text.trim().is_empty() {
            text = Cow::Borrowed("");
        }
        Ok(text)
    }

    fn num<T: std::str::FromStr>(&mut self, element: &str) -> Result<T, ObjectXmlError> {
        let text = self.text()?;
        text.trim().parse().map_err(|_| bad(element, &text))
    }

    /// Permission masks are unsigned, but some writers print them as signed ints.
    fn mask(&mut self, element: &str) -> Result<u32, ObjectXmlError> {
        let text = self.text()?;
        let t = text.trim();
        t.parse::<u32>()
            .or_else(|_| t.parse::<i32>().map(|v| v as u32))
            .map_err(|_| bad(element, t))
    }

    fn boolean(&mut self, element: &str) -> Result<bool, ObjectXmlError> {
        let text = self.text()?;
        match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(true),
            "false" | "0" | "" => Ok(false),
            _ => Err(bad(element, &text)),
        }
    }

    /// Components named `names` (the first of each; missing ones are 0).
    fn floats<const N: usize>(&mut self, names: [&str; N]) -> Result<[f32; N], ObjectXmlError> {
        let mut values = [None; N];
        loop {
            match self.next()? {
                Ev::Start(start) => {
                    let slot = names.iter().position(|n| n.as_bytes() == start.name().as_ref());
                    match slot {
                        Some(i) if values[i].is_none() => values[i] = Some(self.num::<f32>(names[i])?),
                        _ => self.skip()?,
                    }
                }
                Ev::Text(_) => {}
                Ev::End => break,
            }
        }
        Ok(values.map(|v| v.unwrap_or(0.0)))
    }

    fn vector(&mut self) -> Result<Vector3, ObjectXmlError> {
        let [x, y, z] = self.floats(["X", "Y", "Z"])?;
        Ok(Vector3::new(x, y, z))
    }

    fn quaternion(&mut self) -> Result<Quaternion, ObjectXmlError> {
        let [x, y, z, w] = self.floats(["X", "Y", "Z", "W"])?;
        Ok(Quaternion::new(x, y, z, w))
    }

    /// `<X><UUID>…</UUID></X>` (older files: `<Guid>`; tolerated: bare text).
    fn uuid(&mut self, element: &str) -> Result<Uuid, ObjectXmlError> {
        let mut own = Cow::Borrowed("");
        let mut children = false;
        let mut in_uuid = None;
        let mut in_guid = None;
        loop {
            match self.next()? {
                Ev::Text(piece) => append(&mut own, piece),
                Ev::Start(start) => {
                    children = true;
                    match start.name().as_ref() {
                        b"UUID" if in_uuid.is_none() => in_uuid = Some(self.text()?),
                        b"Guid" if in_guid.is_none() => in_guid = Some(self.text()?),
                        _ => self.skip()?,
                    }
                }
                Ev::End => break,
            }
        }
        if children && own.trim().is_empty() {
            own = Cow::Borrowed("");
        }
        let text = in_uuid.or(in_guid).unwrap_or(own);
        let text = text.trim();
        if text.is_empty() {
            return Ok(Uuid::nil());
        }
        Uuid::parse_str(text).map_err(|_| bad(element, text))
    }

    fn base64(&mut self, element: &str) -> Result<Vec<u8>, ObjectXmlError> {
        let text = self.text()?;
        let engine = &base64::engine::general_purpose::STANDARD;
        let decoded = if text.bytes().any(|b| b.is_ascii_whitespace()) {
            let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            engine.decode(compact)
        } else {
            engine.decode(text.as_bytes())
        };
        decoded.map_err(|_| bad(element, &text))
    }

    /// Writes the element `start` just opened, and everything in it, to `out`
    /// in canonical form.
    fn keep(&mut self, start: &BytesStart<'_>, out: &mut String) -> Result<(), XmlError> {
        let mut names = std::mem::take(&mut self.names);
        let mut frames = std::mem::take(&mut self.frames);
        let mut text = std::mem::take(&mut self.text);
        names.clear();
        frames.clear();
        text.clear();
        let result = self.keep_into(start, out, &mut names, &mut frames, &mut text);
        self.names = names;
        self.frames = frames;
        self.text = text;
        result
    }

    /// Open elements are `frames` (where the name starts in `names`, whether
    /// a child was written); `text` is the innermost element's text so far
    /// (the only one that can still be written).
    fn keep_into(
        &mut self,
        start: &BytesStart<'_>,
        out: &mut String,
        names: &mut String,
        frames: &mut Vec<(usize, bool)>,
        text: &mut String,
    ) -> Result<(), XmlError> {
        open_tag(start, out, names, frames)?;
        while !frames.is_empty() {
            match self.next()? {
                Ev::Start(child) => {
                    if let Some((_, children)) = frames.last_mut() {
                        if !*children {
                            out.push('>');
                            *children = true;
                        }
                    }
                    text.clear();
                    open_tag(&child, out, names, frames)?;
                }
                Ev::Text(piece) => {
                    if frames.last().is_some_and(|(_, children)| !children) {
                        text.push_str(&piece);
                    }
                }
                Ev::End => {
                    let Some((name_at, children)) = frames.pop() else { break };
                    let name = &names[name_at..];
                    if children {
                        close_tag(out, name);
                    } else if text.is_empty() {
                        out.push_str(" />");
                    } else {
                        out.push('>');
                        out.push_str(&quick_xml::escape::escape(text.as_str()));
                        close_tag(out, name);
                    }
                    text.clear();
                    names.truncate(name_at);
                }
            }
        }
        Ok(())
    }

    fn item(&mut self) -> Result<TaskInventoryItem, ObjectXmlError> {
        let mut item = TaskInventoryItem::new(Uuid::nil(), "", AssetType::Unknown, Uuid::nil());
        let mut kept = String::new();
        loop {
            let start = match self.next()? {
                Ev::Start(start) => start,
                Ev::Text(_) => continue,
                Ev::End => break,
            };
            match start.name().as_ref() {
                b"AssetID" => item.asset_id = self.uuid("AssetID")?,
                b"ItemID" => item.item_id = self.uuid("ItemID")?,
                b"OwnerID" => item.owner_id = self.uuid("OwnerID")?,
                b"CreatorID" => item.creator_id = self.uuid("CreatorID")?,
                b"LastOwnerID" => item.last_owner_id = self.uuid("LastOwnerID")?,
                b"GroupID" => item.group_id = self.uuid("GroupID")?,
                b"ParentPartID" => item.parent_part_id = self.uuid("ParentPartID")?,
                b"Name" => item.name = self.text()?.into_owned(),
                b"Description" => item.description = self.text()?.into_owned(),
                b"Type" => item.asset_type = AssetType::from(self.num::<i8>("Type")?),
                b"InvType" => item.inv_type = self.num("InvType")?,
                b"BasePermissions" => item.permissions.base = self.mask("BasePermissions")?,
                b"CurrentPermissions" => item.permissions.current = self.mask("CurrentPermissions")?,
                b"EveryonePermissions" => item.permissions.everyone = self.mask("EveryonePermissions")?,
                b"GroupPermissions" => item.permissions.group = self.mask("GroupPermissions")?,
                b"NextPermissions" => item.permissions.next = self.mask("NextPermissions")?,
                b"Flags" => item.flags = self.mask("Flags")?,
                b"CreationDate" => item.creation_date = self.num("CreationDate")?,
                _ => self.keep(&start, &mut kept)?,
            }
        }
        item.extra = KeptXml::from_canonical(&kept);
        Ok(item)
    }

    fn shape(&mut self) -> Result<Shape, ObjectXmlError> {
        let mut shape = Shape {
            extra: KeptXml::new(),
            ..Shape::default()
        };
        let mut kept = String::new();
        loop {
            let start = match self.next()? {
                Ev::Start(start) => start,
                Ev::Text(_) => continue,
                Ev::End => break,
            };
            match start.name().as_ref() {
                b"PCode" => shape.pcode = self.num("PCode")?,
                b"ProfileCurve" => shape.profile_curve = self.num("ProfileCurve")?,
                b"PathCurve" => shape.path_curve = self.num("PathCurve")?,
                b"TextureEntry" => shape.texture_entry = TextureEntry::from_bytes(&self.base64("TextureEntry")?)?,
                b"SculptEntry" => shape.sculpt_entry = self.boolean("SculptEntry")?,
                b"SculptTexture" => shape.sculpt_texture = self.uuid("SculptTexture")?,
                b"SculptType" => shape.sculpt_type = self.num("SculptType")?,
                _ => self.keep(&start, &mut kept)?,
            }
        }
        shape.extra = KeptXml::from_canonical(&kept);
        Ok(shape)
    }

    /// The items of a `TaskInventory` (every child element is one).
    fn inventory(&mut self, limits: &SceneLimits) -> Result<Vec<TaskInventoryItem>, ObjectXmlError> {
        let mut items = Vec::new();
        loop {
            match self.next()? {
                Ev::Start(_) => {
                    if items.len() >= limits.max_inventory_items_per_part {
                        return Err(ObjectXmlError::TooManyInventoryItems {
                            count: items.len() + 1,
                            limit: limits.max_inventory_items_per_part,
                        });
                    }
                    items.push(self.item()?);
                }
                Ev::Text(_) => {}
                Ev::End => break,
            }
        }
        Ok(items)
    }

    /// One `SceneObjectPart`, with its `GroupPosition` (the object position).
    fn part(&mut self, limits: &SceneLimits) -> Result<(Part, Option<Vector3>), ObjectXmlError> {
        let mut part = Part::new(Uuid::nil(), "");
        part.scale = Vector3::ONE;
        let mut group_position = None;
        let mut have_id = false;
        let mut kept = String::new();
        loop {
            let start = match self.next()? {
                Ev::Start(start) => start,
                Ev::Text(_) => continue,
                Ev::End => break,
            };
            match start.name().as_ref() {
                b"UUID" => {
                    part.id = self.uuid("UUID")?;
                    have_id = true;
                }
                b"CreatorID" => part.creator_id = self.uuid("CreatorID")?,
                b"OwnerID" => part.owner_id = self.uuid("OwnerID")?,
                b"LastOwnerID" => part.last_owner_id = self.uuid("LastOwnerID")?,
                b"GroupID" => part.group_id = self.uuid("GroupID")?,
                b"Name" => part.name = self.text()?.into_owned(),
                b"Description" => part.description = self.text()?.into_owned(),
                b"GroupPosition" => group_position = Some(self.vector()?),
                b"OffsetPosition" => part.offset_position = self.vector()?,
                b"RotationOffset" => part.rotation_offset = self.quaternion()?,
                b"Velocity" => part.velocity = self.vector()?,
                b"AngularVelocity" => part.angular_velocity = self.vector()?,
                b"Acceleration" => part.acceleration = self.vector()?,
                b"Scale" => part.scale = self.vector()?,
                b"LinkNum" => part.link_num = self.num("LinkNum")?,
                b"Shape" => part.shape = self.shape()?,
                b"TaskInventory" => part.inventory = self.inventory(limits)?,
                b"BaseMask" => part.permissions.base = self.mask("BaseMask")?,
                b"OwnerMask" => part.permissions.current = self.mask("OwnerMask")?,
                b"GroupMask" => part.permissions.group = self.mask("GroupMask")?,
                b"EveryoneMask" => part.permissions.everyone = self.mask("EveryoneMask")?,
                b"NextOwnerMask" => part.permissions.next = self.mask("NextOwnerMask")?,
                b"Flags" => {
                    part.flags = self
                        .text()?
                        .split(',')
                        .map(str::trim)
                        .filter(|f| !f.is_empty() && *f != "None")
                        .map(str::to_string)
                        .collect();
                }
                b"CreationDate" => part.creation_date = self.num("CreationDate")?,
                b"SalePrice" => part.sale_price = self.num("SalePrice")?,
                b"ObjectSaleType" => part.sale_type = self.num("ObjectSaleType")?,
                b"CollisionSound" => part.collision_sound = self.uuid("CollisionSound")?,
                _ => self.keep(&start, &mut kept)?,
            }
        }
        if !have_id {
            return Err(ObjectXmlError::MissingElement("UUID"));
        }
        part.extra = KeptXml::from_canonical(&kept);
        Ok((part, group_position))
    }

    /// The first `SceneObjectPart` in a wrapper (`RootPart`, `Part`); the
    /// wrapper's other elements are not read.
    fn wrapped_part(&mut self, limits: &SceneLimits) -> Result<Option<(Part, Option<Vector3>)>, ObjectXmlError> {
        let mut found = None;
        loop {
            match self.next()? {
                Ev::Start(start) if found.is_none() && start.name().as_ref() == b"SceneObjectPart" => {
                    found = Some(self.part(limits)?);
                }
                Ev::Start(_) => self.skip()?,
                Ev::Text(_) => {}
                Ev::End => break,
            }
        }
        Ok(found)
    }

    fn add_child(children: &mut Vec<Part>, part: Part, limits: &SceneLimits) -> Result<(), ObjectXmlError> {
        // The root counts too, as in the tree reader.
        let count = children.len() + 2;
        if count > limits.max_parts_per_object {
            return Err(ObjectXmlError::TooManyParts {
                count,
                limit: limits.max_parts_per_object,
            });
        }
        children.push(part);
        Ok(())
    }

    /// The content of `SceneObjectGroup`, up to its end.
    fn group(&mut self, limits: &SceneLimits) -> Result<SceneObject, ObjectXmlError> {
        let mut root = None;
        let mut children = Vec::new();
        let mut kept = String::new();
        loop {
            let start = match self.next()? {
                Ev::Start(start) => start,
                Ev::Text(_) => continue,
                Ev::End => break,
            };
            match start.name().as_ref() {
                b"RootPart" => root = self.wrapped_part(limits)?,
                b"SceneObjectPart" => root = Some(self.part(limits)?),
                b"OtherParts" => loop {
                    match self.next()? {
                        Ev::Start(p) => match p.name().as_ref() {
                            b"Part" => {
                                if let Some((part, _)) = self.wrapped_part(limits)? {
                                    Self::add_child(&mut children, part, limits)?;
                                }
                            }
                            b"SceneObjectPart" => {
                                let (part, _) = self.part(limits)?;
                                Self::add_child(&mut children, part, limits)?;
                            }
                            _ => self.skip()?,
                        },
                        Ev::Text(_) => {}
                        Ev::End => break,
                    }
                },
                _ => self.keep(&start, &mut kept)?,
            }
        }
        let (root_part, position) = root.ok_or(ObjectXmlError::MissingElement("SceneObjectPart"))?;
        let mut object = SceneObject::new(root_part, children, position.unwrap_or_default());
        object.extra = KeptXml::from_canonical(&kept);
        Ok(object)
    }
}

fn open_tag(start: &BytesStart<'_>, out: &mut String, names: &mut String, frames: &mut Vec<(usize, bool)>) -> Result<(), XmlError> {
    let qname = start.name();
    let name = std::str::from_utf8(qname.as_ref()).map_err(malformed)?;
    out.push('<');
    out.push_str(name);
    for attr in start.attributes() {
        let attr = attr.map_err(malformed)?;
        let key = std::str::from_utf8(attr.key.as_ref()).map_err(malformed)?;
        let value = attr.unescape_value().map_err(malformed)?;
        out.push(' ');
        out.push_str(key);
        out.push_str("=\"");
        out.push_str(&quick_xml::escape::escape(value.as_ref()));
        out.push('"');
    }
    frames.push((names.len(), false));
    names.push_str(name);
    Ok(())
}

fn close_tag(out: &mut String, name: &str) {
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

fn predefined_entity(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        _ => return None,
    })
}

/// Reads one object document (already checked for size and UTF-8, its NUL
/// and byte-order mark stripped).
pub(crate) fn parse(text: &str, limits: &SceneLimits) -> Result<SceneObject, ObjectXmlError> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().expand_empty_elements = true;
    let mut stream = Stream {
        reader,
        limits: XmlLimits {
            max_depth: limits.max_xml_depth,
            max_elements: limits.max_xml_elements,
        },
        depth: 0,
        elements: 0,
        names: String::new(),
        frames: Vec::new(),
        text: String::new(),
    };
    let root = stream.root()?;
    let object = match root.name().as_ref() {
        b"SceneObjectGroup" => stream.group(limits)?,
        b"CoalescedObject" => return Err(ObjectXmlError::Coalesced),
        other => return Err(ObjectXmlError::NotAnObject(String::from_utf8_lossy(other).into_owned())),
    };
    stream.finish()?;
    Ok(object)
}
