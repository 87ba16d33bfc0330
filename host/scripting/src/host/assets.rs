//! `assets`: the asset messages of RemoteControl (one store for all regions).

use dispatcher_messages::remote_control::asset::{
    AddAssetRequest, AssetBytes, AssetData as WireAsset, GetAssetFromObjectRequest, GetAssetRequest, GetDependentAssetsRequest,
    TestAssetRequest,
};
use dispatcher_protocol::WireUuid;

use crate::bindings::opensim::dispatcher::assets::Host;
use crate::bindings::opensim::dispatcher::types::AssetData;
use crate::call::parse_id;
use crate::error::HostError;
use crate::instance::HostState;

fn to_data(a: WireAsset) -> AssetData {
    AssetData {
        asset_id: a.asset_id.to_string(),
        serialized_asset: a.serialized_asset.0,
        name: a.name,
        description: a.description,
        content_type: a.content_type,
        creator_id: a.creator_id,
    }
}

fn asset_id(text: &str) -> Result<WireUuid, HostError> {
    parse_id(text).map(WireUuid)
}

impl Host for HostState {
    fn test(&mut self, asset_id_text: String) -> Result<bool, HostError> {
        Ok(self
            .call(TestAssetRequest {
                asset_id: asset_id(&asset_id_text)?,
            })?
            .exists)
    }

    fn get(&mut self, asset_id_text: String) -> Result<AssetData, HostError> {
        Ok(to_data(
            self.call(GetAssetRequest {
                asset_id: asset_id(&asset_id_text)?,
            })?
            .asset
            .0,
        ))
    }

    fn add(&mut self, asset: AssetData) -> Result<String, HostError> {
        let id = if asset.asset_id.trim().is_empty() { WireUuid::NIL } else { asset_id(&asset.asset_id)? };
        let asset = WireAsset {
            asset_id: id,
            serialized_asset: AssetBytes(asset.serialized_asset),
            name: asset.name,
            description: asset.description,
            content_type: asset.content_type,
            creator_id: asset.creator_id,
        };
        Ok(self.call(AddAssetRequest { asset: Some(asset) })?.asset_id.to_string())
    }

    fn get_from_object(&mut self, object_id: String) -> Result<AssetData, HostError> {
        let request = GetAssetFromObjectRequest {
            object_id: WireUuid(parse_id(&object_id)?),
        };
        // Reading an object's content needs `objects:read` besides the
        // message's own grant.
        self.require("objects:read")?;
        Ok(to_data(self.call(request)?.asset.0))
    }

    fn get_dependents(&mut self, asset_id_text: String) -> Result<Vec<String>, HostError> {
        let r = self.call(GetDependentAssetsRequest {
            asset_id: asset_id(&asset_id_text)?,
        })?;
        Ok(r.dependent_assets.into_iter().map(|i| i.to_string()).collect())
    }
}
