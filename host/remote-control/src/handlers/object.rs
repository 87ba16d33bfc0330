//! Object handlers (§4.1). Reads take the region's read lock; mutations take
//! the write lock once, check before they change, persist, then fan out.

use std::collections::{HashMap, HashSet};

use dispatcher_dispatch::{HandlerError, RequestContext};
use dispatcher_protocol::reply::Typed;
use dispatcher_protocol::{Done, WireUuid};
use dispatcher_scene::{AssetType, Region, RezParams, SceneError, SceneObject, Uuid};

use crate::callbacks::fan_out;
use crate::messages::object::*;
use crate::messages::wire::{WireQuat, WireVec3};
use crate::region_host::RegionHost;
use crate::RemoteControl;

/// A refused scene operation, with the kind of its cause.
pub(crate) fn scene_failure(e: SceneError) -> HandlerError {
    let text = e.to_string();
    match e {
        SceneError::NoSuchObject(_) | SceneError::NoSuchPart { .. } => HandlerError::NotFound(text),
        SceneError::TooManyObjects { .. }
        | SceneError::TooManyParts { .. }
        | SceneError::TooManyInventoryItems { .. }
        | SceneError::StartParameterTooLarge { .. } => HandlerError::Limited(text),
        SceneError::DuplicateObject(_)
        | SceneError::DuplicatePart(_)
        | SceneError::ZeroObjectId
        | SceneError::OutsideRegion(_)
        | SceneError::NoParts
        | SceneError::InvalidScale(_)
        | SceneError::TerrainOutOfRange { .. }
        | SceneError::InvalidRegionSize { .. } => HandlerError::Invalid(text),
    }
}

pub(crate) fn internal(e: impl std::fmt::Display) -> HandlerError {
    HandlerError::Internal(e.to_string())
}

fn object(region: &Region, id: WireUuid) -> Result<&SceneObject, HandlerError> {
    region.object(id.0).ok_or_else(|| scene_failure(SceneError::NoSuchObject(id.0)))
}

/// A count over a named limit fails the whole request before anything changes.
pub(crate) fn check_batch(what: &str, count: usize, limit: usize) -> Result<(), HandlerError> {
    if count > limit {
        return Err(HandlerError::Limited(format!("too many {what} in one request ({count}, limit {limit})")));
    }
    Ok(())
}

// ----- reads -------------------------------------------------------------------------

pub fn find_objects(
    rc: &RemoteControl,
    host: &RegionHost,
    _ctx: &RequestContext,
    req: FindObjectsRequest,
) -> Result<FindObjectsResponse, HandlerError> {
    let limits = &rc.rc_limits;
    check_batch("pattern bytes", req.pattern.len(), limits.max_pattern_bytes)?;
    let pattern = match req.pattern.is_empty() {
        true => None,
        false => Some(
            regex::RegexBuilder::new(&req.pattern)
                .size_limit(limits.max_pattern_compiled_bytes)
                .build()
                .map_err(|e| HandlerError::Invalid(format!("Fatal error; {e}")))?,
        ),
    };
    let (corner_a, corner_b) = req.corners();
    let query = dispatcher_scene::FindQuery {
        corner_a,
        corner_b,
        owner_id: req.owner_id.0,
    };
    let ids = host
        .region
        .read()
        .find_objects(&query, |name| pattern.as_ref().is_none_or(|re| re.is_match(name)));
    Ok(FindObjectsResponse {
        objects: ids.into_iter().map(WireUuid).collect(),
    })
}

pub fn get_object_data(
    _rc: &RemoteControl,
    host: &RegionHost,
    _ctx: &RequestContext,
    req: GetObjectDataRequest,
) -> Result<GetObjectDataResponse, HandlerError> {
    let region = host.region.read();
    let o = object(&region, req.object_id)?;
    Ok(GetObjectDataResponse {
        object_id: WireUuid(o.id()),
        name: o.name().to_string(),
        position: WireVec3(o.position),
        rotation: WireQuat(o.rotation()),
        owner_id: WireUuid(o.owner_id()),
    })
}

pub fn get_object_parts(
    _rc: &RemoteControl,
    host: &RegionHost,
    _ctx: &RequestContext,
    req: GetObjectPartsRequest,
) -> Result<GetObjectPartsResponse, HandlerError> {
    let region = host.region.read();
    let parts = object(&region, req.object_id)?
        .parts()
        .map(|p| {
            Typed(PartInformation {
                link_num: p.link_num,
                name: p.name.clone(),
                description: p.description.clone(),
                prim_type: p.prim_type().code(),
                offset_position: WireVec3(p.offset_position),
                offset_rotation: WireQuat(p.rotation_offset),
            })
        })
        .collect();
    Ok(GetObjectPartsResponse { parts })
}

pub fn get_object_inventory(
    _rc: &RemoteControl,
    host: &RegionHost,
    _ctx: &RequestContext,
    req: GetObjectInventoryRequest,
) -> Result<GetObjectInventoryResponse, HandlerError> {
    let region = host.region.read();
    // The root part's inventory only.
    let inventory = object(&region, req.object_id)?
        .root()
        .inventory
        .iter()
        .map(|item| {
            Typed(ObjectInventoryInformation {
                name: item.name.clone(),
                description: item.description.clone(),
                asset_id: WireUuid(item.asset_id),
                item_type: i32::from(item.asset_type.code()),
            })
        })
        .collect();
    Ok(GetObjectInventoryResponse { inventory })
}

pub fn get_object_position(
    _rc: &RemoteControl,
    host: &RegionHost,
    _ctx: &RequestContext,
    req: GetObjectPositionRequest,
) -> Result<ObjectPositionResponse, HandlerError> {
    let region = host.region.read();
    let position = object(&region, req.object_id)?.position;
    Ok(ObjectPositionResponse {
        object_id: req.object_id,
        position: WireVec3(position),
    })
}

pub fn get_object_rotation(
    _rc: &RemoteControl,
    host: &RegionHost,
    _ctx: &RequestContext,
    req: GetObjectRotationRequest,
) -> Result<ObjectRotationResponse, HandlerError> {
    let region = host.region.read();
    let rotation = object(&region, req.object_id)?.rotation();
    Ok(ObjectRotationResponse {
        object_id: req.object_id,
        rotation: WireQuat(rotation),
    })
}

// ----- motion (write-behind) ------------------------------------------------------------

/// Out-of-region X/Y leaves the position unchanged and still succeeds.
pub fn set_object_position(
    rc: &RemoteControl,
    host: &RegionHost,
    _ctx: &RequestContext,
    req: SetObjectPositionRequest,
) -> Result<ObjectPositionResponse, HandlerError> {
    let mut region = host.region.write();
    let changes = region.set_object_position(req.object_id.0, req.position()).map_err(scene_failure)?;
    fan_out(rc, host, &region, &changes);
    let position = object(&region, req.object_id)?.position;
    Ok(ObjectPositionResponse {
        object_id: req.object_id,
        position: WireVec3(position),
    })
}

pub fn set_object_rotation(
    rc: &RemoteControl,
    host: &RegionHost,
    _ctx: &RequestContext,
    req: SetObjectRotationRequest,
) -> Result<ObjectRotationResponse, HandlerError> {
    let mut region = host.region.write();
    let changes = region.set_object_rotation(req.object_id.0, req.rotation()).map_err(scene_failure)?;
    fan_out(rc, host, &region, &changes);
    let rotation = object(&region, req.object_id)?.rotation();
    Ok(ObjectRotationResponse {
        object_id: req.object_id,
        rotation: WireQuat(rotation),
    })
}

/// Entries for unknown objects are skipped with a `"no such object <id>; "`
/// warning (Q-14, the MAY of §4.1.9); every other entry is applied whole.
pub fn bulk_dynamics(rc: &RemoteControl, host: &RegionHost, _ctx: &RequestContext, req: BulkDynamicsRequest) -> Result<Done, HandlerError> {
    check_batch("BulkDynamics updates", req.updates.len(), rc.rc_limits.max_bulk_dynamics_entries)?;
    let mut warnings = String::new();
    let mut changes = Vec::with_capacity(req.updates.len());
    let mut region = host.region.write();
    for entry in &req.updates {
        match region.apply_dynamics(&entry.update()) {
            Ok(c) => changes.extend(c),
            Err(_) => warnings.push_str(&format!("no such object {}; ", entry.object_id)),
        }
    }
    fan_out(rc, host, &region, &changes);
    Ok(Done::with_message(warnings))
}

// ----- creation (committed before the reply) ---------------------------------------------

/// Why one object could not be rezzed; each maps to a CreateObject error text
/// and a CreateBulkObjects warning.
enum RezFailure {
    MissingAsset,
    /// The asset is not in the store.
    UnknownAsset,
    /// The asset is not an object the scene can read.
    Unusable,
    Add(SceneError),
}

/// What an object asset of a request turned out to be.
enum Template {
    Unknown,
    Unusable,
    Object(Box<SceneObject>),
}

/// Decoded object assets of one request, each fetched and parsed once.
type Templates = HashMap<Uuid, Template>;

/// Fetch and parse the object assets (outside the region lock: disk and XML).
fn load_templates(rc: &RemoteControl, asset_ids: impl IntoIterator<Item = Uuid>) -> Result<Templates, HandlerError> {
    let mut templates = Templates::new();
    for id in asset_ids {
        if id.is_nil() || templates.contains_key(&id) {
            continue;
        }
        let template = match rc.persist.get_asset(id).map_err(internal)? {
            Some(a) if matches!(a.asset_type, AssetType::Object | AssetType::Unknown) => {
                dispatcher_scene::parse_object(&a.data, &rc.limits).map_or(Template::Unusable, |o| Template::Object(Box::new(o)))
            }
            Some(_) => Template::Unusable,
            None => Template::Unknown,
        };
        templates.insert(id, template);
    }
    Ok(templates)
}

/// Text that is not JSON is not stored (§4.1.10 step 7, as the original ignored it).
fn start_parameter(text: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(_) => text.to_string(),
        Err(_) => String::new(),
    }
}

fn rez_one(region: &mut Region, templates: &Templates, spec: &RezSpec, owner: Uuid) -> Result<Uuid, RezFailure> {
    if spec.asset_id.is_nil() {
        return Err(RezFailure::MissingAsset);
    }
    let template = match templates.get(&spec.asset_id.0) {
        Some(Template::Object(template)) => template,
        Some(Template::Unknown) | None => return Err(RezFailure::UnknownAsset),
        Some(Template::Unusable) => return Err(RezFailure::Unusable),
    };
    let params = RezParams {
        object_id: Some(spec.object_id.0).filter(|id| !id.is_nil()),
        name: spec.name.clone(),
        description: spec.description.clone(),
        owner_id: owner,
        position: spec.position,
        rotation: spec.rotation,
        velocity: spec.velocity,
        start_parameter: start_parameter(&spec.start_parameter),
    };
    region
        .rez_object(template, &params, &mut Uuid::new_v4)
        .map(|(id, _)| id)
        .map_err(RezFailure::Add)
}

/// Persist freshly added objects; on failure take them out again so nothing
/// unacknowledged stays in the scene.
fn commit_added(rc: &RemoteControl, host: &RegionHost, region: &mut Region, ids: &[Uuid]) -> Result<(), String> {
    if ids.is_empty() {
        return Ok(());
    }
    let objects: Vec<SceneObject> = ids.iter().filter_map(|id| region.object(*id).cloned()).collect();
    if let Err(e) = rc.persist.save_objects(host.id, &objects) {
        for id in ids {
            let _ = region.remove_object(*id);
        }
        return Err(e.to_string());
    }
    // Committed: the creations go out on the event stream.
    let changes: Vec<dispatcher_scene::SceneChange> = ids
        .iter()
        .map(|id| dispatcher_scene::SceneChange::ObjectAdded { object_id: *id })
        .collect();
    fan_out(rc, host, region, &changes);
    Ok(())
}

pub fn create_object(
    rc: &RemoteControl,
    host: &RegionHost,
    ctx: &RequestContext,
    req: CreateObjectRequest,
) -> Result<CreateObjectResponse, HandlerError> {
    let owner = ctx.require_user()?.id;
    let spec = req.spec();
    let templates = load_templates(rc, [spec.asset_id.0])?;
    let mut region = host.region.write();
    let id = rez_one(&mut region, &templates, &spec, owner).map_err(|f| match f {
        RezFailure::MissingAsset => HandlerError::Invalid("missing asset id".into()),
        RezFailure::UnknownAsset => HandlerError::NotFound("unable to create object from asset".into()),
        RezFailure::Unusable => HandlerError::Invalid("unable to create object from asset".into()),
        // The scene's own texts, bare, without "Fatal error; ".
        RezFailure::Add(e) => scene_failure(e),
    })?;
    commit_added(rc, host, &mut region, &[id]).map_err(HandlerError::Failure)?;
    Ok(CreateObjectResponse { object_id: WireUuid(id) })
}

fn bulk_warning(entry: &ObjectSpecification, failure: RezFailure) -> String {
    let object_id = entry.object_data.map(|d| d.object_id).unwrap_or_default();
    match failure {
        RezFailure::MissingAsset => format!("missing asset for object {object_id}; "),
        RezFailure::UnknownAsset | RezFailure::Unusable => format!("unable to create object from asset {}; ", entry.asset_id),
        RezFailure::Add(_) => format!("failed to add the object {object_id} to the scene; "),
    }
}

/// Entries that cannot be created become warnings (Q-12 fixed: never abort);
/// the created objects are committed in one transaction before the reply.
pub fn create_bulk_objects(
    rc: &RemoteControl,
    host: &RegionHost,
    ctx: &RequestContext,
    req: CreateBulkObjectsRequest,
) -> Result<Done, HandlerError> {
    let owner = ctx.require_user()?.id;
    check_batch("CreateBulkObjects entries", req.objects.len(), rc.rc_limits.max_bulk_create_entries)?;
    let templates = load_templates(rc, req.objects.iter().map(|o| o.asset_id.0))?;
    let mut warnings = String::new();
    let mut created = Vec::new();
    let mut region = host.region.write();
    for entry in &req.objects {
        let Some(spec) = entry.spec() else {
            warnings.push_str(&format!("missing object specification for asset {}; ", entry.asset_id));
            continue;
        };
        match rez_one(&mut region, &templates, &spec, owner) {
            Ok(id) => created.push(id),
            Err(f) => warnings.push_str(&bulk_warning(entry, f)),
        }
    }
    commit_added(rc, host, &mut region, &created).map_err(HandlerError::Internal)?;
    Ok(Done::with_message(warnings))
}

// ----- deletion (committed before the reply) ---------------------------------------------

/// Delete `ids` (all present): the store first, then the scene, so a failed
/// commit changes nothing.
fn delete_committed(rc: &RemoteControl, host: &RegionHost, region: &mut Region, ids: &[Uuid]) -> Result<(), HandlerError> {
    if ids.is_empty() {
        return Ok(());
    }
    rc.persist.delete_objects(host.id, ids).map_err(internal)?;
    let mut changes = Vec::with_capacity(ids.len());
    for id in ids {
        changes.extend(region.remove_object(*id).unwrap_or_default());
    }
    fan_out(rc, host, region, &changes);
    Ok(())
}

pub fn delete_object(rc: &RemoteControl, host: &RegionHost, _ctx: &RequestContext, req: DeleteObjectRequest) -> Result<Done, HandlerError> {
    let mut region = host.region.write();
    object(&region, req.object_id)?;
    delete_committed(rc, host, &mut region, &[req.object_id.0])?;
    Ok(Done::ok())
}

pub fn delete_bulk_objects(
    rc: &RemoteControl,
    host: &RegionHost,
    _ctx: &RequestContext,
    req: DeleteBulkObjectsRequest,
) -> Result<Done, HandlerError> {
    check_batch("DeleteBulkObjects ids", req.object_ids.len(), rc.rc_limits.max_bulk_delete_entries)?;
    let mut region = host.region.write();
    let mut warnings = String::new();
    let mut seen = HashSet::new();
    let mut ids = Vec::new();
    for id in &req.object_ids {
        // A repeated id reads as already deleted by the time it is reached.
        if region.object(id.0).is_some() && seen.insert(id.0) {
            ids.push(id.0);
        } else {
            warnings.push_str(&format!("no such object {id}; "));
        }
    }
    delete_committed(rc, host, &mut region, &ids)?;
    Ok(Done::with_message(warnings))
}

pub fn delete_all_objects(
    rc: &RemoteControl,
    host: &RegionHost,
    _ctx: &RequestContext,
    _req: DeleteAllObjectsRequest,
) -> Result<Done, HandlerError> {
    let mut region = host.region.write();
    rc.persist.delete_all_objects(host.id).map_err(internal)?;
    let changes = region.remove_all_objects();
    fan_out(rc, host, &region, &changes);
    Ok(Done::ok())
}

// ----- scripts ------------------------------------------------------------------------

pub fn message_object(
    rc: &RemoteControl,
    host: &RegionHost,
    ctx: &RequestContext,
    req: MessageObjectRequest,
) -> Result<Done, HandlerError> {
    let caller = ctx.require_user()?.id;
    check_batch("message bytes", req.message.len(), rc.rc_limits.max_message_bytes)?;
    let mut region = host.region.write();
    let changes = region
        .message_object(req.object_id.0, caller, &req.message)
        .map_err(scene_failure)?;
    rc.services.events.publish(dispatcher_dispatch::SceneEvent::Message {
        region: host.name.clone(),
        object_id: req.object_id.0,
        sender_id: caller,
        text: req.message,
    });
    fan_out(rc, host, &region, &changes);
    Ok(Done::ok())
}
