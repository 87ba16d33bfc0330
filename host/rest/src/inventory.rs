//! `{prefix}/inventory/{avatar}[/{seg}...]` (§6): avatar resolution, path
//! resolution, and GET/HEAD, POST, PUT and DELETE. Writes are computed on a
//! copy of the loaded inventory, validated completely, then stored with their
//! inline assets in one transaction.

use std::collections::{HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use dispatcher_scene::{Asset, Inventory, InventoryError, InventoryFolder, InventoryItem};
use dispatcher_store::Account;
use uuid::Uuid;

use crate::entity::{self, parse_uuid, Defaults, Entity};
use crate::errors::{user, RestError};
use crate::response::RestResponse;
use crate::uri::encode_segment;
use crate::xml::{self, Writer};
use crate::Ctx;

const ALLOW: &str = "GET, HEAD, PUT, POST, DELETE";

/// What a path names (§6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    /// The bare `{avatar}`: the root, for GET, HEAD and POST only.
    Bare,
    Folder(Uuid),
    Item(Uuid),
}

/// §6.1: a UUID segment is looked up by id only; otherwise exactly "First Last".
pub(crate) fn resolve_avatar(ctx: &Ctx<'_>) -> Result<Account, RestError> {
    let Some(identity) = ctx.routed.params.first() else {
        return Err(RestError::bad_request("no user identity specified"));
    };
    let store = &ctx.svc.store;
    let found = if let Some(id) = parse_uuid(identity) {
        store.account_by_id(id)
    } else {
        let parts: Vec<&str> = identity.split(' ').collect();
        match parts.as_slice() {
            [first, last] if !first.is_empty() && !last.is_empty() => store.account_by_name(first, last),
            _ => return Err(RestError::bad_request("invalid user identity")),
        }
    };
    found
        .map_err(|e| RestError::storage("inventory retrieval failed", &e))?
        .ok_or_else(|| RestError::not_found("unrecognized user identity"))
}

fn load(ctx: &Ctx<'_>, avatar: Uuid) -> Result<Inventory, RestError> {
    ctx.svc
        .store
        .inventory(avatar)
        .map_err(|e| RestError::storage("inventory retrieval failed", &e))?
        .ok_or_else(|| RestError::not_found("no local inventory for user"))
}

pub(crate) fn handle(ctx: &Ctx<'_>) -> Result<RestResponse, RestError> {
    let account = resolve_avatar(ctx)?;
    let writing = matches!(ctx.method.as_str(), "PUT" | "POST" | "DELETE");
    // Writers hold the lock from load to commit, so their differences never
    // overlap; readers see committed states only.
    let _guard = if writing { Some(ctx.svc.write_guard()?) } else { None };
    let inv = load(ctx, account.id)?;
    if !matches!(ctx.method.as_str(), "GET" | "HEAD") && !writing {
        return Err(RestError::method_not_allowed(&ctx.req.method, ALLOW));
    }
    let target = resolve_path(ctx, &inv)?;
    match ctx.method.as_str() {
        "GET" | "HEAD" => get(ctx, &inv, target),
        "POST" => post(ctx, &inv, target),
        "PUT" => put(ctx, &inv, target),
        _ => delete(ctx, &inv, target),
    }
}

fn segment_matches(segment: &str, name: &str, id: Uuid) -> bool {
    // Names exactly; UUIDs as values, in any accepted text form (§3.3 FIX).
    segment == name || parse_uuid(segment) == Some(id)
}

/// The decoded request path, escaped for the status page.
fn decoded_path(ctx: &Ctx<'_>) -> String {
    let mut p = ctx.routed.service_prefix.clone();
    for s in &ctx.routed.params {
        p.push('/');
        p.push_str(s);
    }
    user(&p)
}

/// §6.3 with one rule for every method.
fn resolve_path(ctx: &Ctx<'_>, inv: &Inventory) -> Result<Target, RestError> {
    let reading = matches!(ctx.method.as_str(), "GET" | "HEAD");
    let params = &ctx.routed.params;
    let Some(root) = inv.root() else {
        return Err(RestError::new(500, "inventory retrieval failed"));
    };
    let mut index = 1;
    if params.len() == 1 {
        return Ok(Target::Bare);
    }
    // Root absorption, for every method (§6.3 step 1 FIX).
    if segment_matches(&params[1], &root.name, root.id) {
        index = 2;
    }
    let mut current = root.id;
    if index == params.len() {
        return Ok(Target::Folder(current));
    }
    let ambiguous = |i: usize| {
        if reading {
            RestError::new(409, format!("ambiguous element ({i}) in path specified: <{}>", decoded_path(ctx)))
        } else {
            RestError::new(409, "request is ambiguous")
        }
    };
    let missing = |segment: &str| {
        if reading {
            RestError::not_found(format!("no such item/folder : {}", user(segment)))
        } else {
            RestError::not_found(format!("resource {}:{} not found", ctx.method.to_ascii_lowercase(), decoded_path(ctx)))
        }
    };
    while index < params.len() {
        let segment = &params[index];
        let last = index + 1 == params.len();
        let folders: Vec<Uuid> = inv
            .child_folders(current)
            .filter(|f| segment_matches(segment, &f.name, f.id))
            .map(|f| f.id)
            .collect();
        let items: Vec<Uuid> = if last {
            inv.folder_items(current)
                .filter(|i| segment_matches(segment, &i.name, i.id))
                .map(|i| i.id)
                .collect()
        } else {
            Vec::new()
        };
        match (folders.as_slice(), items.as_slice()) {
            ([], []) => return Err(missing(segment)),
            ([f], []) if last => return Ok(Target::Folder(*f)),
            ([], [i]) => return Ok(Target::Item(*i)),
            ([f], []) => current = *f,
            _ => return Err(ambiguous(index)),
        }
        index += 1;
    }
    Ok(Target::Folder(current))
}

fn folder_attrs(f: &InventoryFolder) -> Vec<(&'static str, String)> {
    vec![
        ("name", f.name.clone()),
        ("uuid", f.id.to_string()),
        ("parent", f.parent_id.to_string()),
        ("owner", f.owner_id.to_string()),
        ("type", f.folder_type.to_string()),
        ("version", f.version.to_string()),
    ]
}

fn write_item(w: &mut Writer, i: &InventoryItem) {
    let attrs = [
        ("name", i.name.clone()),
        ("desc", i.description.clone()),
        ("uuid", i.id.to_string()),
        ("folder", i.folder_id.to_string()),
        ("owner", i.owner_id.to_string()),
        ("creator", i.creator_id.clone()),
        ("creationdate", i.creation_date.to_string()),
        ("invtype", i.inv_type.to_string()),
        ("assettype", i.asset_type.code().to_string()),
        ("groupowned", if i.group_owned { "True" } else { "False" }.to_string()),
        ("groupid", i.group_id.to_string()),
        ("saletype", i.sale_type.to_string()),
        ("saleprice", i.sale_price.to_string()),
        ("flags", i.flags.to_string()),
    ];
    let p = &i.permissions;
    w.start("Item", &attrs);
    w.empty(
        "Permissions",
        &[
            ("current", format!("{:X}", p.current)),
            ("next", format!("{:X}", p.next)),
            ("group", format!("{:X}", p.group)),
            ("everyone", format!("{:X}", p.everyone)),
            ("base", format!("{:X}", p.base)),
        ],
    );
    w.text_element("Asset", &[], &i.asset_id.to_string());
    w.end("Item");
}

/// §7.1: `<Inventory>` holding the folder, child folders first, then items.
/// Iterative, so a deep folder chain cannot exhaust the thread's stack.
pub(crate) fn write_inventory(inv: &Inventory, top: Uuid) -> String {
    let mut folders: HashMap<Uuid, Vec<&InventoryFolder>> = HashMap::new();
    for f in inv.folders().filter(|f| !f.parent_id.is_nil()) {
        folders.entry(f.parent_id).or_default().push(f);
    }
    let mut items: HashMap<Uuid, Vec<&InventoryItem>> = HashMap::new();
    for i in inv.items() {
        items.entry(i.folder_id).or_default().push(i);
    }
    enum Step<'a> {
        Open(&'a InventoryFolder),
        /// The items of a folder, written after its child folders.
        Items(Uuid),
        Close,
    }
    let mut w = Writer::default();
    w.start("Inventory", &[]);
    let mut todo: Vec<Step<'_>> = inv.folder(top).map(Step::Open).into_iter().collect();
    while let Some(step) = todo.pop() {
        match step {
            Step::Close => w.end("Folder"),
            Step::Items(id) => {
                for i in items.get(&id).map(Vec::as_slice).unwrap_or(&[]) {
                    write_item(&mut w, i);
                }
            }
            Step::Open(f) => {
                let subfolders = folders.get(&f.id).map(Vec::as_slice).unwrap_or(&[]);
                if subfolders.is_empty() && !items.contains_key(&f.id) {
                    w.empty("Folder", &folder_attrs(f));
                    continue;
                }
                w.start("Folder", &folder_attrs(f));
                todo.push(Step::Close);
                todo.push(Step::Items(f.id));
                todo.extend(subfolders.iter().rev().map(|sub| Step::Open(sub)));
            }
        }
    }
    w.end("Inventory");
    w.finish()
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn parse_entity(ctx: &Ctx<'_>, avatar: Uuid) -> Result<Entity, RestError> {
    let elements = ctx.body_xml()?;
    let config = ctx.svc.config();
    let entity = entity::parse(
        &elements,
        &Defaults {
            avatar,
            now: now_secs(),
            dump_line_bytes: config.dump_asset.then(|| config.dump_line_size.max(1) as usize),
        },
    )?;
    for a in &entity.assets {
        a.check_limits(&ctx.svc.scene_limits)
            .map_err(|e| RestError::bad_request(format!("asset {}: {e}", a.id)))?;
    }
    Ok(entity)
}

/// §10 SHOULD: a UUID of another avatar's folder or item is refused, not taken over.
fn refuse_foreign(ctx: &Ctx<'_>, avatar: Uuid, entity: &Entity) -> Result<(), RestError> {
    let ids: Vec<Uuid> = entity
        .folders
        .iter()
        .map(|f| f.folder.id)
        .chain(entity.items.iter().map(|i| i.item.id))
        .collect();
    let taken = ctx
        .svc
        .store
        .inventory_ids_of_others(avatar, &ids)
        .map_err(|e| RestError::storage("inventory retrieval failed", &e))?;
    match taken.first() {
        Some(id) => Err(RestError::new(409, format!("uuid in use: {id}"))),
        None => Ok(()),
    }
}

fn model_error(e: InventoryError) -> RestError {
    match e {
        InventoryError::InvalidParent(_) | InventoryError::RootFolder => RestError::bad_request("invalid parent"),
        InventoryError::NoSuchFolder(_) => RestError::bad_request("parent information required"),
        other => RestError::bad_request(other.to_string()),
    }
}

fn save(ctx: &Ctx<'_>, old: &Inventory, new: &Inventory, assets: &[Asset]) -> Result<(), RestError> {
    ctx.svc
        .store
        .save_inventory_and_assets(old, new, assets)
        .map_err(|e| RestError::storage("inventory update failed", &e))
}

fn esc(text: &str) -> String {
    xml::escape(text)
}

fn asset_lines(assets: &[Asset]) -> Vec<String> {
    assets
        .iter()
        .map(|a| format!("<p> Created asset {}, UUID {} <p>", esc(&a.name), a.id))
        .collect()
}

fn get(ctx: &Ctx<'_>, inv: &Inventory, target: Target) -> Result<RestResponse, RestError> {
    match target {
        Target::Bare => Ok(RestResponse::xml(200, write_inventory(inv, inv.root_id()))),
        Target::Folder(id) => Ok(RestResponse::xml(200, write_inventory(inv, id))),
        Target::Item(id) => {
            let asset = inv.item(id).map(|i| i.asset_id).unwrap_or_default();
            // The configured prefix, not a hard-coded /admin (§6.4 FIX).
            let location = format!("{}{}/assets/{asset}", ctx.req.origin(), ctx.svc.prefix);
            Ok(RestResponse::page(&ctx.req.method, 301, &[format!("({}) : PERMANENT REDIRECT", 301)]).with_header("Location", location))
        }
    }
}

/// §6.5: add content below a folder.
fn post(ctx: &Ctx<'_>, inv: &Inventory, target: Target) -> Result<RestResponse, RestError> {
    let context = match target {
        Target::Bare => inv.root_id(),
        Target::Folder(id) => id,
        Target::Item(_) => return Err(RestError::bad_request("invalid resource context")),
    };
    let entity = parse_entity(ctx, inv.owner_id)?;
    let top_level = |f: &InventoryFolder| f.parent_id.is_nil() || f.parent_id == context;
    if entity.folders.iter().filter(|f| top_level(&f.folder)).count() > 1 {
        return Err(RestError::bad_request("only one root entity is allowed"));
    }
    refuse_foreign(ctx, inv.owner_id, &entity)?;
    let limits = &ctx.svc.scene_limits;
    let mut next = inv.clone();
    let mut lines = asset_lines(&entity.assets);
    let mut created = !entity.assets.is_empty();
    let mut modified = false;
    let mut newnode = String::new();
    for ef in &entity.folders {
        let mut f = ef.folder.clone();
        if top_level(&f) {
            f.parent_id = context;
            newnode = f.name.clone();
        } else if next.folder(f.parent_id).is_none() {
            return Err(RestError::bad_request("invalid parent"));
        }
        let verb = match next.folder(f.id) {
            Some(old) if *old == f => continue,
            Some(_) => "Modified",
            None => "Created",
        };
        lines.push(format!("<p> {verb} folder {}, UUID {} <p>", esc(&f.name), f.id));
        created |= verb == "Created";
        modified |= verb == "Modified";
        next.upsert_folder(f, limits).map_err(model_error)?;
    }
    for ei in &entity.items {
        let mut it = ei.item.clone();
        if it.folder_id.is_nil() {
            it.folder_id = context;
        } else if next.folder(it.folder_id).is_none() {
            return Err(RestError::bad_request("parent information required"));
        }
        let verb = match next.item(it.id) {
            Some(old) if *old == it => continue,
            Some(_) => "Modified",
            None => "Created",
        };
        lines.push(format!("<p> {verb} item {}, UUID {} <p>", esc(&it.name), it.id));
        created |= verb == "Created";
        modified |= verb == "Modified";
        next.upsert_item(it, limits).map_err(model_error)?;
    }
    if !(created || modified) {
        return Ok(RestResponse::page(&ctx.req.method, 204, &[]));
    }
    save(ctx, inv, &next, &entity.assets)?;
    if created {
        let mut location = format!("{}{}", ctx.req.origin(), ctx.routed.service_prefix);
        for p in &ctx.routed.params {
            location.push('/');
            location.push_str(&encode_segment(p));
        }
        location.push('/');
        location.push_str(&encode_segment(&newnode));
        return Ok(RestResponse::page(&ctx.req.method, 201, &lines).with_header("Location", location));
    }
    Ok(RestResponse::page(&ctx.req.method, 200, &lines))
}

/// §6.6: replace the element the URI names.
fn put(ctx: &Ctx<'_>, inv: &Inventory, target: Target) -> Result<RestResponse, RestError> {
    if target == Target::Bare {
        return Err(RestError::bad_request("explicit resource path required"));
    }
    let entity = parse_entity(ctx, inv.owner_id)?;
    let (next, lines, modified) = match target {
        Target::Item(id) => put_item(ctx, inv, id, &entity)?,
        Target::Folder(id) => put_folder(ctx, inv, id, &entity)?,
        Target::Bare => return Err(RestError::bad_request("explicit resource path required")),
    };
    let mut all = asset_lines(&entity.assets);
    all.extend(lines);
    // An inline asset makes it 201, as in the original (§6.6 step 5).
    let status = match (entity.assets.is_empty(), modified) {
        (false, _) => 201,
        (true, true) => 200,
        (true, false) => return Ok(RestResponse::page(&ctx.req.method, 204, &[])),
    };
    save(ctx, inv, &next, &entity.assets)?;
    Ok(RestResponse::page(&ctx.req.method, status, &all))
}

fn put_item(ctx: &Ctx<'_>, inv: &Inventory, target: Uuid, entity: &Entity) -> Result<(Inventory, Vec<String>, bool), RestError> {
    if !entity.folders.is_empty() {
        return Err(RestError::bad_request("folder is not allowed"));
    }
    let ei = match entity.items.as_slice() {
        [] => return Err(RestError::bad_request("item required")),
        [one] => one,
        _ => return Err(RestError::bad_request("too many items")),
    };
    let Some(old) = inv.item(target) else {
        return Err(RestError::not_found("no such item"));
    };
    let mut it = ei.item.clone();
    // The replacement keeps the target's UUID and folder unless told otherwise (§6.6 FIX).
    if !ei.explicit_uuid {
        it.id = target;
    }
    if !ei.explicit_folder {
        it.folder_id = old.folder_id;
    } else if inv.folder(it.folder_id).is_none() {
        return Err(RestError::bad_request("parent information required"));
    }
    refuse_foreign(ctx, inv.owner_id, entity)?;
    let mut next = inv.clone();
    next.remove_item(target).map_err(model_error)?;
    let line = format!("<p>Storing item {} UUID {} <p>", esc(&it.name), it.id);
    next.upsert_item(it, &ctx.svc.scene_limits).map_err(model_error)?;
    Ok((next, vec![line], true))
}

fn put_folder(ctx: &Ctx<'_>, inv: &Inventory, target: Uuid, entity: &Entity) -> Result<(Inventory, Vec<String>, bool), RestError> {
    let Some(t) = inv.folder(target) else {
        return Err(RestError::not_found("no such folder"));
    };
    let parent = t.parent_id;
    let is_root = target == inv.root_id();
    let candidates: Vec<usize> = entity
        .folders
        .iter()
        .enumerate()
        .filter(|(_, f)| f.folder.parent_id.is_nil() || f.folder.parent_id == parent)
        .map(|(i, _)| i)
        .collect();
    if is_root
        && !candidates
            .iter()
            .any(|&i| entity.folders[i].folder.name == t.name && entity.folders[i].folder.parent_id.is_nil())
    {
        return Err(RestError::bad_request("invalid inventory structure"));
    }
    if candidates.len() > 1 {
        return Err(RestError::new(409, "context is ambiguous"));
    }
    refuse_foreign(ctx, inv.owner_id, entity)?;
    let limits = &ctx.svc.scene_limits;
    let mut next = inv.clone();
    // The folder that occupies T's place afterwards, and the entity id that
    // turns into it.
    let mut position = target;
    let mut replaced: Option<(Uuid, usize)> = None;
    if let Some(&c) = candidates.first() {
        let f = &entity.folders[c];
        let final_id = if is_root || !f.explicit_uuid { target } else { f.folder.id };
        next = without_subtree(&next, target, final_id == target)?;
        position = final_id;
        replaced = Some((final_id, c));
    }
    let remap = |id: Uuid| match replaced {
        Some((final_id, c)) if id == entity.folders[c].folder.id => final_id,
        _ => id,
    };
    let mut lines = Vec::new();
    let mut modified = replaced.is_some();
    for (i, ef) in entity.folders.iter().enumerate() {
        let mut f = ef.folder.clone();
        f.id = remap(f.id);
        f.parent_id = remap(f.parent_id);
        if candidates.contains(&i) {
            f.parent_id = parent;
        } else if next.folder(f.parent_id).is_none() {
            // Includes folders of T's old subtree the entity did not re-create.
            return Err(RestError::bad_request("invalid parent"));
        }
        lines.push(format!("<p>Moving folder {} UUID {} <p>", esc(&f.name), f.id));
        modified = true;
        next.upsert_folder(f, limits).map_err(model_error)?;
    }
    for ei in &entity.items {
        let mut it = ei.item.clone();
        it.folder_id = if it.folder_id.is_nil() { position } else { remap(it.folder_id) };
        if next.folder(it.folder_id).is_none() {
            return Err(RestError::bad_request("parent information required"));
        }
        lines.push(format!("<p>Storing item {} UUID {} <p>", esc(&it.name), it.id));
        modified = true;
        next.upsert_item(it, limits).map_err(model_error)?;
    }
    Ok((next, lines, modified))
}

/// `inv` without everything below `top` (its items included), and without
/// `top` itself unless `keep_top`. One pass over the tree, so deleting or
/// replacing a large folder stays linear in the inventory's size.
fn without_subtree(inv: &Inventory, top: Uuid, keep_top: bool) -> Result<Inventory, RestError> {
    let mut children: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for f in inv.folders().filter(|f| !f.parent_id.is_nil()) {
        children.entry(f.parent_id).or_default().push(f.id);
    }
    let mut emptied: HashSet<Uuid> = HashSet::from([top]);
    let mut todo = vec![top];
    while let Some(id) = todo.pop() {
        for child in children.get(&id).map(Vec::as_slice).unwrap_or(&[]) {
            if emptied.insert(*child) {
                todo.push(*child);
            }
        }
    }
    let gone = |id: &Uuid| emptied.contains(id) && !(keep_top && *id == top);
    let folders = inv.folders().filter(|f| !gone(&f.id)).cloned().collect();
    let items = inv.items().filter(|i| !emptied.contains(&i.folder_id)).cloned().collect();
    Inventory::from_parts(inv.owner_id, folders, items).ok_or_else(|| RestError::bad_request("root folder cannot be removed"))
}

/// §6.7: the element and its whole subtree, never by folder names (FIX).
fn delete(ctx: &Ctx<'_>, inv: &Inventory, target: Target) -> Result<RestResponse, RestError> {
    let mut next = inv.clone();
    let line = match target {
        Target::Bare => return Err(RestError::bad_request("explicit resource path required")),
        Target::Folder(id) if id == inv.root_id() => return Err(RestError::bad_request("root folder cannot be deleted")),
        Target::Folder(id) => {
            let name = inv.folder(id).map(|f| f.name.clone()).unwrap_or_default();
            next = without_subtree(inv, id, false)?;
            format!("<p>Deleted folder {} UUID {id} <p>", esc(&name))
        }
        Target::Item(id) => {
            let removed = next.remove_item(id).map_err(model_error)?;
            format!("<p>Deleted item {} UUID {id} <p>", esc(&removed.name))
        }
    };
    save(ctx, inv, &next, &[])?;
    Ok(RestResponse::page(&ctx.req.method, 200, &[line]))
}
