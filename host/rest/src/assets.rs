//! `{prefix}/assets[/{uuid}]` (§8): one asset as `<Asset ...>BASE64</Asset>`.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use dispatcher_scene::{Asset, AssetType};
use uuid::Uuid;

use crate::entity::{bool_attr, decode_base64, parse_uuid};
use crate::errors::{user, RestError};
use crate::response::RestResponse;
use crate::xml::{escape, Element};
use crate::Ctx;

const ALLOW: &str = "GET, HEAD, PUT, POST";

pub(crate) fn handle(ctx: &Ctx<'_>) -> Result<RestResponse, RestError> {
    let method = ctx.method.as_str();
    if !matches!(method, "GET" | "HEAD" | "PUT" | "POST") {
        // DELETE included: 405 with Allow, not the original's 400 (§8.1 FIX).
        return Err(RestError::method_not_allowed(&ctx.req.method, ALLOW));
    }
    let params = &ctx.routed.params;
    if method == "POST" {
        return store(ctx, None);
    }
    let id = match params.as_slice() {
        [] => return Err(RestError::bad_request("no agent information provided")),
        [one] => parse_uuid(one).ok_or_else(|| RestError::bad_request("invalid asset id"))?,
        _ => return Err(RestError::not_found("invalid parameters")),
    };
    if method == "PUT" {
        return store(ctx, Some(id));
    }
    let asset = ctx
        .svc
        .store
        .get_asset(id)
        .map_err(|e| RestError::storage("asset retrieval failed", &e))?
        .ok_or_else(|| RestError::not_found("invalid parameters"))?;
    Ok(RestResponse::xml(200, write_asset(&asset)))
}

/// §8.2's one-line form.
fn write_asset(a: &Asset) -> String {
    let flag = |b: bool| if b { "True" } else { "False" };
    format!(
        "<Asset id=\"{}\" name=\"{}\" desc=\"{}\" type=\"{}\" local=\"{}\" temporary=\"{}\">{}</Asset>",
        a.id,
        escape(&a.name),
        escape(&a.description),
        a.asset_type.code(),
        flag(a.local),
        flag(a.temporary),
        B64.encode(&a.data)
    )
}

fn first_asset(ctx: &Ctx<'_>) -> Result<Element, RestError> {
    let elements = ctx.body_xml()?;
    elements
        .iter()
        .find_map(|e| e.find("Asset"))
        .cloned()
        .ok_or_else(|| RestError::bad_request("invalid request data"))
}

/// The attributes of `<Asset>` (§8.2–8.4): what GET writes, all accepted back.
const ASSET_ATTRIBUTES: [&str; 6] = ["id", "name", "desc", "type", "local", "temporary"];

/// PUT (id from the URI; any `id` in the body is ignored) and POST (id from
/// the body's `id`, §8.4).
fn store(ctx: &Ctx<'_>, uri_id: Option<Uuid>) -> Result<RestResponse, RestError> {
    let e = first_asset(ctx)?;
    let id = match uri_id {
        Some(id) => id,
        None => e
            .attr("id")
            .and_then(parse_uuid)
            .ok_or_else(|| RestError::bad_request("invalid request data"))?,
    };
    // docs/rest.md promises 400 for an unknown attribute; the asset service
    // used to ignore them.
    if let Some((name, _)) = e.attrs.iter().find(|(n, _)| !ASSET_ATTRIBUTES.contains(&n.as_str())) {
        return Err(RestError::bad_request(format!("unrecognized attribute {}", user(name))));
    }
    let type_text = e.attr("type").ok_or_else(|| RestError::bad_request("asset type required"))?;
    let code: i8 = type_text
        .trim()
        .parse()
        .map_err(|_| RestError::bad_request(format!("invalid asset type \"{}\"", user(type_text))))?;
    let mut asset = Asset::from_type(id, AssetType::from(code), decode_base64(&e.text)?);
    asset.name = e.attr("name").unwrap_or("").to_owned();
    asset.description = e.attr("desc").unwrap_or("").to_owned();
    asset.local = e.attr("local").map(|v| bool_attr("local", v)).transpose()?.unwrap_or(false);
    asset.temporary = e.attr("temporary").map(|v| bool_attr("temporary", v)).transpose()?.unwrap_or(false);
    asset
        .check_limits(&ctx.svc.scene_limits)
        .map_err(|err| RestError::bad_request(err.to_string()))?;
    let _guard = ctx.svc.write_guard()?;
    let store = &ctx.svc.store;
    let existed = store
        .asset_exists(id)
        .map_err(|err| RestError::storage("asset storage failed", &err))?;
    store
        .put_asset(&asset)
        .map_err(|err| RestError::storage("asset storage failed", &err))?;
    let verb = if existed { "Modified" } else { "Created" };
    let line = format!("<p> {verb} asset {}, UUID {id} <p>", escape(&asset.name));
    if existed {
        return Ok(RestResponse::page(&ctx.req.method, 200, &[line]));
    }
    let mut r = RestResponse::page(&ctx.req.method, 201, &[line]);
    if uri_id.is_none() {
        r = r.with_header("Location", format!("{}{}/assets/{id}", ctx.req.origin(), ctx.svc.prefix));
    }
    Ok(r)
}
