//! The inventory request entity (§7.2–§7.7): folders, items and inline assets
//! read from a parsed XML fragment, with every default and check of the spec
//! applied. Nothing here touches the store; placement against the avatar's
//! inventory is the caller's (§6.5, §6.6).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use dispatcher_scene::{Asset, AssetType, InventoryFolder, InventoryItem, Permissions};
use uuid::Uuid;

use crate::errors::{user, RestError};
use crate::xml::Element;

/// A folder of the entity. `folder.parent_id` is nil for "the context".
pub(crate) struct EntityFolder {
    pub folder: InventoryFolder,
    pub explicit_uuid: bool,
    /// The `parent` attribute named a folder (rather than the enclosing one).
    pub explicit_parent: bool,
}

/// An item of the entity. `item.folder_id` is nil for "the context".
pub(crate) struct EntityItem {
    pub item: InventoryItem,
    pub explicit_uuid: bool,
    pub explicit_folder: bool,
}

#[derive(Default)]
pub(crate) struct Entity {
    /// In document order (start tags).
    pub folders: Vec<EntityFolder>,
    pub items: Vec<EntityItem>,
    /// Inline assets, stored before any inventory change (§7.6).
    pub assets: Vec<Asset>,
}

/// Values the entity's defaults come from.
pub(crate) struct Defaults {
    pub avatar: Uuid,
    /// Unix seconds, for `creationdate`.
    pub now: i64,
    /// `dump-line-size` when `dump-asset` is on.
    pub dump_line_bytes: Option<usize>,
}

fn bad(message: String) -> RestError {
    RestError::bad_request(message)
}

pub(crate) fn parse_uuid(text: &str) -> Option<Uuid> {
    Uuid::parse_str(text.trim()).ok()
}

fn uuid_attr(name: &str, value: &str) -> Result<Uuid, RestError> {
    parse_uuid(value).ok_or_else(|| bad(format!("invalid UUID \"{}\" in attribute {name}", user(value))))
}

fn num_attr<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, RestError> {
    value
        .trim()
        .parse()
        .map_err(|_| bad(format!("invalid number \"{}\" in attribute {name}", user(value))))
}

fn hex_attr(name: &str, value: &str) -> Result<u32, RestError> {
    let v = value.trim();
    let v = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")).unwrap_or(v);
    u32::from_str_radix(v, 16).map_err(|_| bad(format!("invalid hexadecimal \"{}\" in attribute {name}", user(value))))
}

/// `true`/`false` in any case; `0`/`1` (any non-zero integer) too (§8.3 FIX).
pub(crate) fn bool_attr(name: &str, value: &str) -> Result<bool, RestError> {
    let v = value.trim();
    if v.eq_ignore_ascii_case("true") {
        return Ok(true);
    }
    if v.eq_ignore_ascii_case("false") {
        return Ok(false);
    }
    v.parse::<i64>()
        .map(|n| n != 0)
        .map_err(|_| bad(format!("invalid boolean \"{}\" in attribute {name}", user(value))))
}

/// Base64 with whitespace and line breaks ignored (§7.6).
pub(crate) fn decode_base64(text: &str) -> Result<Vec<u8>, RestError> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    B64.decode(compact.as_bytes())
        .map_err(|e| bad(format!("invalid base64 asset data: {e}")))
}

/// §7.7: types from the name's extension, case-sensitive.
fn infer_types(name: &str) -> Option<(i8, i32)> {
    let (stem, ext) = name.rsplit_once('.')?;
    match ext {
        "jpeg2000" | "jpeg-2000" | "jpg2000" | "jpg-2000" | "jpg" | "jpeg" => Some((19, 0)),
        "tga" if stem.contains("_texture") => Some((12, 0)),
        "tga" => Some((18, 15)),
        _ => None,
    }
}

struct Parser<'d> {
    d: &'d Defaults,
    out: Entity,
    /// Enclosing folders (ids), innermost last.
    stack: Vec<Uuid>,
}

/// An item being read: its fields and the inline assets that belong to it.
struct ItemDraft {
    entity: EntityItem,
    /// Indexes into `out.assets`, with whether the asset named its own type.
    inline: Vec<(usize, bool)>,
    /// Name and description given on the inline asset.
    inline_named: Vec<(bool, bool)>,
}

pub(crate) fn parse(elements: &[Element], d: &Defaults) -> Result<Entity, RestError> {
    let mut p = Parser {
        d,
        out: Entity::default(),
        stack: Vec::new(),
    };
    for e in elements {
        p.node(e, None)?;
    }
    Ok(p.out)
}

impl Parser<'_> {
    fn node(&mut self, e: &Element, item: Option<&mut ItemDraft>) -> Result<(), RestError> {
        match (e.name.as_str(), item) {
            ("Folder", Some(_)) => Err(bad("a Folder cannot be inside an Item".into())),
            ("Folder", None) => self.folder(e),
            ("Item", Some(_)) => Err(bad("an Item cannot be inside an Item".into())),
            ("Item", None) => self.item(e),
            ("Asset", Some(draft)) => self.asset(e, Some(draft)),
            ("Asset", None) => self.asset(e, None),
            ("Permissions", Some(draft)) => permissions(e, &mut draft.entity.item.permissions),
            // Outside an item the collected values would be reset before use (§7.5).
            ("Permissions", None) => Ok(()),
            // Every other element is transparent (§7.2).
            (_, mut item) => {
                for c in &e.children {
                    self.node(c, item.as_deref_mut())?;
                }
                Ok(())
            }
        }
    }

    fn folder(&mut self, e: &Element) -> Result<(), RestError> {
        let mut f = EntityFolder {
            folder: InventoryFolder {
                id: Uuid::new_v4(),
                parent_id: self.stack.last().copied().unwrap_or_else(Uuid::nil),
                owner_id: self.d.avatar,
                name: String::new(),
                folder_type: 8,
                version: 1,
            },
            explicit_uuid: false,
            explicit_parent: false,
        };
        for (name, value) in &e.attrs {
            match name.as_str() {
                "name" => f.folder.name = value.clone(),
                "uuid" => {
                    f.folder.id = uuid_attr(name, value)?;
                    f.explicit_uuid = true;
                }
                "parent" => {
                    let parent = uuid_attr(name, value)?;
                    if !parent.is_nil() {
                        f.folder.parent_id = parent;
                        f.explicit_parent = true;
                    } else {
                        f.folder.parent_id = Uuid::nil();
                    }
                }
                "owner" => f.folder.owner_id = uuid_attr(name, value)?,
                "type" => f.folder.folder_type = num_attr(name, value)?,
                "version" => f.folder.version = num_attr(name, value)?,
                other => return Err(bad(format!("unrecognized attribute {}", user(other)))),
            }
        }
        let id = f.folder.id;
        self.out.folders.push(f);
        // A self-closing folder is a start immediately followed by an end (§7.2 FIX).
        self.stack.push(id);
        let result = e.children.iter().try_for_each(|c| self.node(c, None));
        self.stack.pop();
        result
    }

    fn item(&mut self, e: &Element) -> Result<(), RestError> {
        let d = self.d;
        let mut it = InventoryItem {
            id: Uuid::nil(),
            folder_id: self.stack.last().copied().unwrap_or_else(Uuid::nil),
            owner_id: d.avatar,
            creator_id: d.avatar.to_string(),
            name: String::new(),
            description: String::new(),
            asset_id: Uuid::nil(),
            asset_type: AssetType::Unknown,
            inv_type: -1,
            permissions: Permissions::default(),
            group_id: Uuid::nil(),
            group_owned: false,
            sale_type: 0,
            sale_price: 0,
            flags: 0,
            creation_date: d.now,
        };
        let (mut explicit_uuid, mut explicit_folder) = (false, false);
        for (name, value) in &e.attrs {
            match name.as_str() {
                "name" => it.name = value.clone(),
                "desc" => it.description = value.clone(),
                "uuid" => {
                    it.id = uuid_attr(name, value)?;
                    explicit_uuid = true;
                }
                "folder" => {
                    let folder = uuid_attr(name, value)?;
                    if !folder.is_nil() {
                        it.folder_id = folder;
                        explicit_folder = true;
                    }
                }
                "owner" => it.owner_id = uuid_attr(name, value)?,
                "creator" => it.creator_id = value.clone(),
                "creationdate" => it.creation_date = i64::from(num_attr::<i32>(name, value)?),
                "invtype" => it.inv_type = num_attr(name, value)?,
                "assettype" => {
                    let code: i32 = num_attr(name, value)?;
                    let code = i8::try_from(code).map_err(|_| bad(format!("asset type {code} out of range")))?;
                    it.asset_type = AssetType::from(code);
                }
                "groupowned" => it.group_owned = bool_attr(name, value)?,
                "groupid" => it.group_id = uuid_attr(name, value)?,
                "flags" => it.flags = num_attr(name, value)?,
                "saletype" => it.sale_type = num_attr(name, value)?,
                "saleprice" => it.sale_price = num_attr(name, value)?,
                // The original dropped the name from this message (§7.2 FIX).
                other => return Err(bad(format!("unrecognized attribute {}", user(other)))),
            }
        }
        let mut draft = ItemDraft {
            entity: EntityItem {
                item: it,
                explicit_uuid,
                explicit_folder,
            },
            inline: Vec::new(),
            inline_named: Vec::new(),
        };
        // Children in any order (§7.2 FIX): Permissions after Asset still counts.
        for c in &e.children {
            self.node(c, Some(&mut draft))?;
        }
        self.finish_item(draft)
    }

    /// §7.4's checks at the item's end tag, in order.
    fn finish_item(&mut self, mut draft: ItemDraft) -> Result<(), RestError> {
        let it = &mut draft.entity.item;
        if it.name.is_empty() {
            return Err(bad("item name required".into()));
        }
        if it.asset_id.is_nil() {
            return Err(bad("asset information required".into()));
        }
        if it.id.is_nil() {
            it.id = Uuid::new_v4();
        }
        if let Some((asset_type, inv_type)) = infer_types(&it.name) {
            if it.asset_type.code() == -1 {
                it.asset_type = AssetType::from(asset_type);
            }
            if it.inv_type == -1 {
                it.inv_type = inv_type;
            }
        }
        // TGA conversion (§7.7) is not done: the bytes are stored unchanged.
        for ((index, type_given), (named, described)) in draft.inline.iter().zip(&draft.inline_named) {
            if let Some(asset) = self.out.assets.get_mut(*index) {
                if !named {
                    asset.name = it.name.clone();
                }
                if !described {
                    asset.description = it.description.clone();
                }
                if !type_given {
                    asset.asset_type = it.asset_type;
                }
            }
        }
        self.out.items.push(draft.entity);
        Ok(())
    }

    fn asset(&mut self, e: &Element, draft: Option<&mut ItemDraft>) -> Result<(), RestError> {
        let mut inline = false;
        let mut asset = Asset::from_type(Uuid::new_v4(), AssetType::Unknown, Vec::new());
        asset.local = false;
        let (mut type_given, mut named, mut described) = (false, false, false);
        for (name, value) in &e.attrs {
            match name.as_str() {
                "inline" => inline = bool_attr(name, value)?,
                "uuid" => asset.id = uuid_attr(name, value)?,
                "name" => {
                    asset.name = value.clone();
                    named = !value.is_empty();
                }
                "description" | "desc" => {
                    asset.description = value.clone();
                    described = !value.is_empty();
                }
                "type" => {
                    asset.asset_type = AssetType::from(num_attr::<i8>(name, value)?);
                    type_given = true;
                }
                "local" => asset.local = bool_attr(name, value)?,
                "temporary" => asset.temporary = bool_attr(name, value)?,
                other => return Err(bad(format!("unrecognized attribute {}", user(other)))),
            }
        }
        if !inline {
            let Some(draft) = draft else {
                return Err(bad("no context for asset".into()));
            };
            let text = e.text.trim();
            if text.is_empty() {
                return Err(bad("asset reference required".into()));
            }
            draft.entity.item.asset_id = parse_uuid(text).ok_or_else(|| bad(format!("invalid asset reference \"{}\"", user(text))))?;
            return Ok(());
        }
        asset.data = decode_base64(&e.text)?;
        if let Some(line) = self.d.dump_line_bytes {
            dump(&asset, line);
        }
        let index = self.out.assets.len();
        if let Some(draft) = draft {
            if draft.entity.item.asset_id.is_nil() {
                draft.entity.item.asset_id = asset.id;
            }
            draft.inline.push((index, type_given));
            draft.inline_named.push((named, described));
        }
        self.out.assets.push(asset);
        Ok(())
    }
}

fn permissions(e: &Element, p: &mut Permissions) -> Result<(), RestError> {
    for (name, value) in &e.attrs {
        let mask = hex_attr(name, value);
        match name.as_str() {
            "current" => p.current = mask?,
            "next" => p.next = mask?,
            "group" => p.group = mask?,
            "everyone" => p.everyone = mask?,
            "base" => p.base = mask?,
            other => return Err(bad(format!("invalid attribute {}", user(other)))),
        }
    }
    Ok(())
}

/// `dump-asset` (§2.2): the decoded data in hex, `line` bytes a line.
fn dump(asset: &Asset, line: usize) {
    for (i, chunk) in asset.data.chunks(line.max(1)).enumerate() {
        tracing::debug!(asset = %asset.id, "{:08X}: {}", i * line, hex::encode_upper(chunk));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::{parse_fragment, XmlLimits};

    fn entity(text: &str) -> Result<Entity, RestError> {
        let els = parse_fragment(
            text.as_bytes(),
            XmlLimits {
                max_depth: 16,
                max_nodes: 1000,
                max_attributes_per_element: 64,
            },
        )
        .map_err(|e| bad(e.to_string()))?;
        parse(
            &els,
            &Defaults {
                avatar: Uuid::from_u128(1),
                now: 5,
                dump_line_bytes: None,
            },
        )
    }

    #[test]
    fn example_b_structure() {
        let e = entity(
            r#"<Folder name="Imports"><Folder name="Logos" type="0"><Item name="banner.jpg" desc="Banner">
               <Asset inline="true" type="0">aGVsbG8=</Asset><Permissions current="1f" /></Item></Folder>
               <Item name="readme" invtype="7" assettype="7"><Asset>66666666-6666-6666-6666-666666666666</Asset></Item></Folder>"#,
        )
        .expect("valid");
        assert_eq!(e.folders.len(), 2);
        assert_eq!(e.folders[1].folder.parent_id, e.folders[0].folder.id);
        assert!(e.folders[0].folder.parent_id.is_nil());
        let banner = &e.items[0].item;
        assert_eq!((banner.asset_type.code(), banner.inv_type), (19, 0));
        assert_eq!(banner.permissions.current, 0x1f);
        assert_eq!(banner.folder_id, e.folders[1].folder.id);
        assert_eq!(e.assets[0].name, "banner.jpg");
        assert_eq!(e.assets[0].data, b"hello");
        assert_eq!(e.assets[0].asset_type.code(), 0);
        assert_eq!(e.items[1].item.folder_id, e.folders[0].folder.id);
    }

    #[test]
    fn self_closing_folders_are_siblings_and_errors_are_named() {
        let e = entity(r#"<Folder name="A"><Folder name="A1"/><Folder name="A2"/></Folder>"#).expect("valid");
        assert_eq!(e.folders[1].folder.parent_id, e.folders[0].folder.id);
        assert_eq!(e.folders[2].folder.parent_id, e.folders[0].folder.id);
        let msg = |t: &str| entity(t).err().map(|e| e.message).unwrap_or_default();
        assert_eq!(
            msg(r#"<Item desc="x"><Asset>66666666-6666-6666-6666-666666666666</Asset></Item>"#),
            "item name required"
        );
        assert_eq!(msg(r#"<Item name="x"/>"#), "asset information required");
        assert_eq!(msg(r#"<Item name="x" bogus="1"/>"#), "unrecognized attribute bogus");
        assert_eq!(msg(r#"<Item name="x"><Permissions bogus="1"/></Item>"#), "invalid attribute bogus");
        assert_eq!(msg(r#"<Asset>66666666-6666-6666-6666-666666666666</Asset>"#), "no context for asset");
        assert!(msg(r#"<Item name="x"><Asset inline="true">!!!</Asset></Item>"#).contains("base64"));
        assert!(msg(r#"<Item name="x" invtype="seven"/>"#).contains("invtype"));
        let tga = entity(
            r#"<Item name="a.tga"><Asset>66666666-6666-6666-6666-666666666666</Asset></Item>
               <Item name="x_texture.tga"><Asset>66666666-6666-6666-6666-666666666666</Asset></Item>"#,
        )
        .expect("valid");
        assert_eq!((tga.items[0].item.asset_type.code(), tga.items[0].item.inv_type), (18, 15));
        assert_eq!((tga.items[1].item.asset_type.code(), tga.items[1].item.inv_type), (12, 0));
    }
}
