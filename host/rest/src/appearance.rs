//! `{prefix}/appearance/{avatar}` (§9.1): the avatar's stored appearance as
//! `<Appearance>` XML. POST applies a body onto a default appearance, PUT onto
//! the stored one (the FIX of §9.1), DELETE resets it. Segments after the
//! avatar are ignored.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use dispatcher_scene::appearance::{
    height_from_params, AttachmentRef, WearableRef, DEFAULT_AVATAR_TEXTURE, MIN_VISUAL_PARAMS, TEXTURE_SLOTS,
};
use dispatcher_scene::Appearance;
use uuid::Uuid;

use crate::entity::{decode_base64, parse_uuid};
use crate::errors::{user, RestError};
use crate::inventory::resolve_avatar;
use crate::response::RestResponse;
use crate::uri::encode_segment;
use crate::xml::{Element, Writer};
use crate::Ctx;

const ALLOW: &str = "GET, HEAD, PUT, POST, DELETE";

/// The wearable elements in output order, with their slot in the model
/// (0 shape … 12 skirt: OpenSim's wearable indexes).
const PARTS: [(&str, usize); 13] = [
    ("Body", 0),
    ("Skin", 1),
    ("Hair", 2),
    ("Eyes", 3),
    ("Shirt", 4),
    ("Pants", 5),
    ("Skirt", 12),
    ("Shoes", 6),
    ("Socks", 7),
    ("Jacket", 8),
    ("Gloves", 9),
    ("UnderShirt", 10),
    ("UnderPants", 11),
];

pub(crate) fn handle(ctx: &Ctx<'_>) -> Result<RestResponse, RestError> {
    let account = resolve_avatar(ctx)?;
    let method = ctx.method.as_str();
    if !matches!(method, "GET" | "HEAD" | "PUT" | "POST" | "DELETE") {
        return Err(RestError::method_not_allowed(&ctx.req.method, ALLOW));
    }
    let store = &ctx.svc.store;
    let _guard = if method == "GET" || method == "HEAD" { None } else { Some(ctx.svc.write_guard()?) };
    let stored = store
        .load_appearance(account.id)
        .map_err(|e| RestError::storage("appearance retrieval failed", &e))?;
    let save = |a: &Appearance| {
        store
            .save_appearance(account.id, a)
            .map_err(|e| RestError::storage("appearance update failed", &e))
    };
    let page = |status: u16, line: &str| RestResponse::page(&ctx.req.method, status, &[line.to_owned()]);
    match (method, stored) {
        ("GET" | "HEAD", Some(a)) => Ok(RestResponse::xml(200, write(&a, account.id))),
        ("POST", _) => {
            let mut a = Appearance::default();
            let supplied = apply(ctx, &mut a)?;
            save(&a)?;
            if supplied {
                return Ok(page(200, "<p> Appearance stored <p>"));
            }
            let location = format!("{}{}/{}", ctx.req.origin(), ctx.routed.service_prefix, encode_segment(&ctx.routed.params[0]));
            Ok(page(201, "<p> Default appearance stored <p>").with_header("Location", location))
        }
        ("PUT", Some(mut a)) => {
            // Only the values the body supplies change (§9.1 FIX).
            apply(ctx, &mut a)?;
            save(&a)?;
            Ok(page(200, "<p> Appearance updated <p>"))
        }
        ("DELETE", Some(_)) => {
            save(&Appearance::default())?;
            Ok(page(200, "<p> Appearance reset <p>"))
        }
        // No stored appearance: GET, HEAD, PUT and DELETE have nothing to act on.
        _ => Ok(RestResponse::page(&ctx.req.method, 204, &[])),
    }
}

fn opt_uuid(attrs: &mut Vec<(&'static str, String)>, name: &'static str, id: Uuid) {
    if !id.is_nil() {
        attrs.push((name, id.to_string()));
    }
}

fn write(a: &Appearance, owner: Uuid) -> String {
    let mut w = Writer::default();
    let mut attrs = vec![("Height", a.height.to_string())];
    opt_uuid(&mut attrs, "Owner", owner);
    attrs.push(("Serial", a.serial.to_string()));
    w.start("Appearance", &attrs);
    for (name, slot) in PARTS {
        let Some(layer) = a.wearables.get(slot).and_then(|layers| layers.first()) else {
            continue;
        };
        if layer.item.is_nil() && layer.asset.is_nil() {
            continue;
        }
        let mut attrs = Vec::new();
        opt_uuid(&mut attrs, "Item", layer.item);
        opt_uuid(&mut attrs, "Asset", layer.asset);
        w.empty(name, &attrs);
    }
    if !a.attachments.is_empty() {
        w.start("Attachments", &[]);
        for at in &a.attachments {
            // The real attachment point, not the loop index (§9.1 original bug).
            let mut attrs = vec![("AtPoint", at.point.to_string())];
            opt_uuid(&mut attrs, "Item", at.item);
            opt_uuid(&mut attrs, "Asset", at.asset);
            w.empty("Attachment", &attrs);
        }
        w.end("Attachments");
    }
    w.start("Texture", &[("Default", DEFAULT_AVATAR_TEXTURE.to_string())]);
    for (index, id) in a.textures.iter().enumerate().filter(|(_, id)| **id != DEFAULT_AVATAR_TEXTURE) {
        w.empty("Face", &[("Index", index.to_string()), ("Id", id.to_string())]);
    }
    w.end("Texture");
    w.text_element("VisualParameters", &[], &B64.encode(&a.visual_params));
    w.end("Appearance");
    w.finish()
}

fn uuid_attr(e: &Element, name: &str) -> Result<Option<Uuid>, RestError> {
    e.attr(name)
        .map(|v| parse_uuid(v).ok_or_else(|| RestError::bad_request(format!("invalid UUID \"{}\" in attribute {name}", user(v)))))
        .transpose()
}

fn unknown_attrs(e: &Element, known: &[&str]) -> Result<(), RestError> {
    match e.attrs.iter().find(|(n, _)| !known.contains(&n.as_str())) {
        Some((n, _)) => Err(RestError::bad_request(format!("unrecognized attribute {}", user(n)))),
        None => Ok(()),
    }
}

/// Apply a request body onto `a`, validating everything first (work is done
/// on a copy). Returns whether the body supplied anything.
fn apply(ctx: &Ctx<'_>, a: &mut Appearance) -> Result<bool, RestError> {
    let elements = ctx.body_xml()?;
    let Some(root) = elements.iter().find_map(|e| e.find("Appearance")) else {
        return Ok(false);
    };
    let mut next = a.clone();
    let mut supplied = false;
    unknown_attrs(root, &["Height", "Owner", "Serial"])?;
    if let Some(v) = root.attr("Serial") {
        next.serial = v
            .trim()
            .parse()
            .map_err(|_| RestError::bad_request(format!("invalid Serial \"{}\"", user(v))))?;
        supplied = true;
    }
    let height = match root.attr("Height") {
        Some(v) => Some(
            v.trim()
                .parse::<f64>()
                .map_err(|_| RestError::bad_request(format!("invalid Height \"{}\"", user(v))))?,
        ),
        None => None,
    };
    for child in &root.children {
        supplied |= apply_child(ctx, &mut next, child)?;
    }
    if let Some(h) = height {
        next.height = h;
        supplied = true;
    }
    *a = next;
    Ok(supplied)
}

fn apply_child(ctx: &Ctx<'_>, next: &mut Appearance, child: &Element) -> Result<bool, RestError> {
    if let Some((_, slot)) = PARTS.iter().find(|(n, _)| *n == child.name) {
        unknown_attrs(child, &["Item", "Asset"])?;
        let layer = WearableRef {
            item: uuid_attr(child, "Item")?.unwrap_or_default(),
            asset: uuid_attr(child, "Asset")?.unwrap_or_default(),
        };
        if let Some(layers) = next.wearables.get_mut(*slot) {
            *layers = vec![layer];
        }
        return Ok(true);
    }
    match child.name.as_str() {
        "Attachments" => {
            let scene = &ctx.svc.scene_limits;
            if child.children.len() > scene.max_attachments {
                return Err(RestError::bad_request(format!("too many attachments (limit {})", scene.max_attachments)));
            }
            let mut list = Vec::new();
            for at in child.children.iter().filter(|c| c.name == "Attachment") {
                unknown_attrs(at, &["AtPoint", "Item", "Asset"])?;
                let point = at.attr("AtPoint").unwrap_or("0");
                list.push(AttachmentRef {
                    point: point
                        .trim()
                        .parse()
                        .map_err(|_| RestError::bad_request(format!("invalid AtPoint \"{}\"", user(point))))?,
                    // The item comes from `Item` (the original read `Asset`: §9.1 bug).
                    item: uuid_attr(at, "Item")?.unwrap_or_default(),
                    asset: uuid_attr(at, "Asset")?.unwrap_or_default(),
                });
            }
            next.attachments = list;
            Ok(true)
        }
        "Texture" => {
            unknown_attrs(child, &["Default"])?;
            if let Some(default) = uuid_attr(child, "Default")? {
                next.textures = vec![default; TEXTURE_SLOTS];
            }
            for face in child.children.iter().filter(|c| c.name == "Face") {
                unknown_attrs(face, &["Index", "Id"])?;
                let index: usize = face
                    .attr("Index")
                    .and_then(|v| v.trim().parse().ok())
                    .filter(|i| *i < TEXTURE_SLOTS)
                    .ok_or_else(|| RestError::bad_request(format!("Face Index must be 0..{}", TEXTURE_SLOTS - 1)))?;
                let id = uuid_attr(face, "Id")?.ok_or_else(|| RestError::bad_request("Face Id required"))?;
                next.textures[index] = id;
            }
            Ok(true)
        }
        "VisualParameters" => {
            let params = decode_base64(&child.text)?;
            let max = ctx.svc.scene_limits.max_visual_params;
            if params.len() < MIN_VISUAL_PARAMS || params.len() > max {
                return Err(RestError::bad_request(format!("VisualParameters must hold {MIN_VISUAL_PARAMS} to {max} values")));
            }
            next.height = height_from_params(&params).unwrap_or(next.height);
            next.visual_params = params;
            Ok(true)
        }
        _ => Ok(false),
    }
}
