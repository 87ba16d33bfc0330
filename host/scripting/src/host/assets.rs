//! `assets`: the asset messages of RemoteControl (one store for all regions).

use base64::Engine as _;
use dispatcher_protocol::WireUuid;
use serde::Deserialize;
use serde_json::json;

use crate::bindings::opensim::dispatcher::assets::Host;
use crate::bindings::opensim::dispatcher::types::AssetData;
use crate::call::{parse_id, RC};
use crate::error::HostError;
use crate::instance::HostState;

#[derive(Deserialize, Default)]
#[serde(default)]
struct AssetWire {
    #[serde(rename = "AssetID")]
    asset_id: WireUuid,
    #[serde(rename = "SerializedAsset", with = "serde_bytes_lenient")]
    data: Vec<u8>,
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Description")]
    description: String,
    #[serde(rename = "ContentType")]
    content_type: String,
    #[serde(rename = "CreatorID")]
    creator_id: String,
}

/// Bytes through the protocol's byte rules (BSON binary or base64 text).
mod serde_bytes_lenient {
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
        }
        d.deserialize_byte_buf(V)
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AssetReply {
    #[serde(rename = "Asset")]
    asset: AssetWire,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TestReply {
    #[serde(rename = "Exists")]
    exists: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AddReply {
    #[serde(rename = "AssetID")]
    asset_id: WireUuid,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DependentsReply {
    #[serde(rename = "DependentAssets")]
    ids: Vec<WireUuid>,
}

fn to_data(a: AssetWire) -> AssetData {
    AssetData {
        asset_id: a.asset_id.to_string(),
        serialized_asset: a.data,
        name: a.name,
        description: a.description,
        content_type: a.content_type,
        creator_id: a.creator_id,
    }
}

fn asset_body(id: &str) -> Result<serde_json::Value, HostError> {
    Ok(json!({ "AssetID": parse_id(id)?.to_string() }))
}

impl Host for HostState {
    fn test(&mut self, asset_id: String) -> Result<bool, HostError> {
        let r: TestReply = self.call_as(&format!("{RC}TestAssetRequest"), asset_body(&asset_id)?)?;
        Ok(r.exists)
    }

    fn get(&mut self, asset_id: String) -> Result<AssetData, HostError> {
        let r: AssetReply = self.call_as(&format!("{RC}GetAssetRequest"), asset_body(&asset_id)?)?;
        Ok(to_data(r.asset))
    }

    fn add(&mut self, asset: AssetData) -> Result<String, HostError> {
        let id = if asset.asset_id.trim().is_empty() { uuid::Uuid::nil() } else { parse_id(&asset.asset_id)? };
        let body = json!({ "Asset": {
            "AssetID": id.to_string(),
            "SerializedAsset": base64::engine::general_purpose::STANDARD.encode(&asset.serialized_asset),
            "Name": asset.name,
            "Description": asset.description,
            "ContentType": asset.content_type,
            "CreatorID": asset.creator_id,
        }});
        let r: AddReply = self.call_as(&format!("{RC}AddAssetRequest"), body)?;
        Ok(r.asset_id.to_string())
    }

    fn get_from_object(&mut self, object_id: String) -> Result<AssetData, HostError> {
        let id = self.scoped(&object_id)?;
        self.require("objects:read")?;
        let r: AssetReply = self.call_as(&format!("{RC}GetAssetFromObjectRequest"), json!({ "ObjectID": id.to_string() }))?;
        Ok(to_data(r.asset))
    }

    fn get_dependents(&mut self, asset_id: String) -> Result<Vec<String>, HostError> {
        let r: DependentsReply = self.call_as(&format!("{RC}GetDependentAssetsRequest"), asset_body(&asset_id)?)?;
        Ok(r.ids.into_iter().map(|i| i.to_string()).collect())
    }
}
