//! Asset handlers (§4.3). One store serves every asset message, so `TestAsset`,
//! `GetAsset`, `GetDependentAssets` and `CreateObject` always agree.
//! Writes are committed before the reply; oversized assets are refused with the
//! scene's own message and nothing is stored.

use dispatcher_dispatch::{HandlerError, RequestContext};
use dispatcher_protocol::reply::Typed;
use dispatcher_scene::{dependent_assets, write_object_asset, Asset, AssetType, DependencyError, Uuid};
use parking_lot::Mutex;

use crate::messages::asset::{
    AddAssetAliasRequest, AddAssetRequest, AddAssetResponse, AssetBytes, AssetData, GetAssetFromObjectRequest, GetAssetRequest,
    GetAssetResponse, GetDependentAssetsRequest, GetDependentAssetsResponse, TestAssetRequest, TestAssetResponse,
};
use crate::region_host::RegionHost;
use crate::RemoteControl;

const NO_SUCH_ASSET: &str = "no such asset";
const NO_SUCH_OBJECT: &str = "no such object";

/// `AddAsset` never overwrites: the existence check and the write must
/// not interleave with another `AddAsset` of the same id. Uploads are rare, so
/// one lock for the whole host costs nothing.
static ADD_ASSET_LOCK: Mutex<()> = Mutex::new(());

fn internal(e: impl std::fmt::Display) -> HandlerError {
    HandlerError::Internal(e.to_string())
}

/// The wire record of a stored asset: the stored content type, or the type's
/// canonical one when none was stored (§4.3.2).
fn asset_data(asset: Asset) -> AssetData {
    AssetData {
        asset_id: asset.id.into(),
        content_type: asset.effective_content_type().to_owned(),
        serialized_asset: AssetBytes(asset.data),
        name: asset.name,
        description: asset.description,
        creator_id: asset.creator_id,
    }
}

fn store_new(rc: &RemoteControl, asset: &Asset) -> Result<(), HandlerError> {
    asset.check_limits(&rc.limits).map_err(|e| HandlerError::Limited(e.to_string()))?;
    rc.persist.put_asset(asset).map_err(internal)
}

pub fn test_asset(
    rc: &RemoteControl,
    _host: &RegionHost,
    _ctx: &RequestContext,
    req: TestAssetRequest,
) -> Result<TestAssetResponse, HandlerError> {
    let exists = !req.asset_id.is_nil() && rc.persist.asset_exists(req.asset_id.0).map_err(internal)?;
    Ok(TestAssetResponse { exists })
}

pub fn get_asset(
    rc: &RemoteControl,
    _host: &RegionHost,
    _ctx: &RequestContext,
    req: GetAssetRequest,
) -> Result<GetAssetResponse, HandlerError> {
    let found = match req.asset_id.is_nil() {
        true => None,
        false => rc.persist.get_asset(req.asset_id.0).map_err(internal)?,
    };
    let asset = found.ok_or_else(|| HandlerError::NotFound(NO_SUCH_ASSET.into()))?;
    Ok(GetAssetResponse {
        asset: Typed(asset_data(asset)),
    })
}

pub fn add_asset(
    rc: &RemoteControl,
    _host: &RegionHost,
    _ctx: &RequestContext,
    req: AddAssetRequest,
) -> Result<AddAssetResponse, HandlerError> {
    let data = req
        .asset
        .ok_or_else(|| HandlerError::Invalid("Fatal error; the Asset member is null".into()))?;
    // A zero id gets a fresh one, and the asset is stored under the id returned (Q-04 fixed).
    let id = match data.asset_id.is_nil() {
        true => Uuid::new_v4(),
        false => data.asset_id.0,
    };
    let asset = Asset {
        id,
        // The type follows from the content type; unknown ones give −1.
        asset_type: AssetType::from_content_type(&data.content_type),
        name: data.name,
        description: data.description,
        // An empty content type names no type; reporting the canonical one later
        // beats echoing an empty string.
        content_type: Some(data.content_type).filter(|ct| !ct.is_empty()),
        creator_id: data.creator_id,
        local: true,
        temporary: false,
        data: data.serialized_asset.0,
    };
    asset.check_limits(&rc.limits).map_err(|e| HandlerError::Limited(e.to_string()))?;
    let _one_writer = ADD_ASSET_LOCK.lock();
    if !rc.persist.asset_exists(id).map_err(internal)? {
        rc.persist.put_asset(&asset).map_err(internal)?;
    }
    Ok(AddAssetResponse { asset_id: id.into() })
}

/// `RemoteControl.Messages.AddAsset`, the `$type` both reference clients send.
pub fn add_asset_alias(
    rc: &RemoteControl,
    host: &RegionHost,
    ctx: &RequestContext,
    req: AddAssetAliasRequest,
) -> Result<AddAssetResponse, HandlerError> {
    add_asset(rc, host, ctx, req.into())
}

pub fn get_asset_from_object(
    rc: &RemoteControl,
    host: &RegionHost,
    _ctx: &RequestContext,
    req: GetAssetFromObjectRequest,
) -> Result<GetAssetResponse, HandlerError> {
    // Serialise under the read lock, store after releasing it.
    let asset = {
        let region = host.region.read();
        let object = region
            .object(req.object_id.0)
            .ok_or_else(|| HandlerError::NotFound(NO_SUCH_OBJECT.into()))?;
        Asset {
            name: object.name().to_owned(),
            description: object.description().to_owned(),
            creator_id: object.owner_id().to_string(),
            ..Asset::from_content_type(
                // A new id on every call (Q-07, kept).
                Uuid::new_v4(),
                AssetType::Object.canonical_content_type(),
                write_object_asset(object),
            )
        }
    };
    store_new(rc, &asset)?;
    Ok(GetAssetResponse {
        asset: Typed(asset_data(asset)),
    })
}

pub fn get_dependent_assets(
    rc: &RemoteControl,
    _host: &RegionHost,
    _ctx: &RequestContext,
    req: GetDependentAssetsRequest,
) -> Result<GetDependentAssetsResponse, HandlerError> {
    // A store failure must not read as "asset missing": remember it and report it.
    let mut store_error = None;
    let walked = dependent_assets(req.asset_id.0, &rc.limits, |id| {
        rc.persist.get_asset(id).unwrap_or_else(|e| {
            store_error.get_or_insert(e);
            None
        })
    });
    if let Some(e) = store_error {
        return Err(internal(e));
    }
    let ids = walked.map_err(|e| match e {
        DependencyError::NoSuchAsset(_) => HandlerError::NotFound(NO_SUCH_ASSET.into()),
        too_many @ DependencyError::TooMany { .. } => HandlerError::Limited(too_many.to_string()),
    })?;
    Ok(GetDependentAssetsResponse {
        dependent_assets: ids.into_iter().map(Into::into).collect(),
    })
}
