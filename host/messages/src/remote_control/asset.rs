//! Asset messages (§4.3) and the `AssetData` record they share (§4.3.0).
//!
//! Asset bytes are [`AssetBytes`]: written as a binary value, which the JSON
//! codec prints as standard base64 text and the BSON codec as a binary element;
//! read from base64 text (whitespace ignored, as the spec allows) or BSON binary.

use std::fmt;

use base64::Engine as _;
use dispatcher_protocol::reply::Typed;
use dispatcher_protocol::WireUuid;
use serde::de::{Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::rc_type_name;

/// The raw bytes of an asset (`SerializedAsset`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AssetBytes(pub Vec<u8>);

impl Serialize for AssetBytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for AssetBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AssetBytesVisitor)
    }
}

struct AssetBytesVisitor;

impl<'de> Visitor<'de> for AssetBytesVisitor {
    type Value = AssetBytes;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("base64 text or binary data")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<AssetBytes, E> {
        // Clients may wrap long base64 text; the alphabet has no whitespace, so
        // dropping it cannot change the meaning.
        let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .map(AssetBytes)
            .map_err(|e| E::custom(format!("The input is not a valid Base-64 string ({e})")))
    }

    fn visit_bytes<E>(self, bytes: &[u8]) -> Result<AssetBytes, E> {
        Ok(AssetBytes(bytes.to_vec()))
    }

    fn visit_byte_buf<E>(self, bytes: Vec<u8>) -> Result<AssetBytes, E> {
        Ok(AssetBytes(bytes))
    }

    fn visit_unit<E>(self) -> Result<AssetBytes, E> {
        Ok(AssetBytes::default())
    }

    fn visit_none<E>(self) -> Result<AssetBytes, E> {
        Ok(AssetBytes::default())
    }
}

/// One asset as the wire carries it. There is no numeric type member: the type
/// follows from `ContentType` (Q-08).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AssetData {
    #[serde(rename = "AssetID")]
    pub asset_id: WireUuid,
    #[serde(rename = "SerializedAsset")]
    pub serialized_asset: AssetBytes,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Description")]
    pub description: String,
    #[serde(rename = "ContentType")]
    pub content_type: String,
    #[serde(rename = "CreatorID")]
    pub creator_id: String,
}
// Nested records carry their bare class name (§2.1).
rc_type_name!(AssetData, "AssetData");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TestAssetRequest {
    #[serde(rename = "AssetID")]
    pub asset_id: WireUuid,
}
rc_type_name!(TestAssetRequest, "RemoteControl.Messages.TestAssetRequest");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TestAssetResponse {
    #[serde(rename = "Exists")]
    pub exists: bool,
}
rc_type_name!(TestAssetResponse, "RemoteControl.Messages.TestAssetResponse");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetAssetRequest {
    #[serde(rename = "AssetID")]
    pub asset_id: WireUuid,
}
rc_type_name!(GetAssetRequest, "RemoteControl.Messages.GetAssetRequest");

/// Reply of `GetAsset` and `GetAssetFromObject`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetAssetResponse {
    #[serde(rename = "Asset")]
    pub asset: Typed<AssetData>,
}
rc_type_name!(GetAssetResponse, "RemoteControl.Messages.GetAssetResponse");

/// `AddAsset`. `Asset` absent means a record with all defaults; `"Asset": null`
/// reads as `None`, which the handler refuses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AddAssetRequest {
    #[serde(rename = "Asset")]
    pub asset: Option<AssetData>,
}
rc_type_name!(AddAssetRequest, "RemoteControl.Messages.AddAssetRequest");

impl Default for AddAssetRequest {
    fn default() -> Self {
        AddAssetRequest {
            asset: Some(AssetData::default()),
        }
    }
}

/// The `$type` both reference clients actually send for `AddAsset` (Q-03, fixed
/// by accepting it). Same members as [`AddAssetRequest`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AddAssetAliasRequest {
    #[serde(rename = "Asset")]
    pub asset: Option<AssetData>,
}
rc_type_name!(AddAssetAliasRequest, "RemoteControl.Messages.AddAsset");

impl Default for AddAssetAliasRequest {
    fn default() -> Self {
        AddAssetAliasRequest {
            asset: Some(AssetData::default()),
        }
    }
}

impl From<AddAssetAliasRequest> for AddAssetRequest {
    fn from(alias: AddAssetAliasRequest) -> Self {
        AddAssetRequest { asset: alias.asset }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AddAssetResponse {
    #[serde(rename = "AssetID")]
    pub asset_id: WireUuid,
}
rc_type_name!(AddAssetResponse, "RemoteControl.Messages.AddAssetResponse");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetAssetFromObjectRequest {
    #[serde(rename = "ObjectID")]
    pub object_id: WireUuid,
}
rc_type_name!(GetAssetFromObjectRequest, "RemoteControl.Messages.GetAssetFromObjectRequest");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetDependentAssetsRequest {
    #[serde(rename = "AssetID")]
    pub asset_id: WireUuid,
}
rc_type_name!(GetDependentAssetsRequest, "RemoteControl.Messages.GetDependentAssetsRequest");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetDependentAssetsResponse {
    #[serde(rename = "DependentAssets")]
    pub dependent_assets: Vec<WireUuid>,
}
rc_type_name!(GetDependentAssetsResponse, "RemoteControl.Messages.GetDependentAssetsResponse");

requests! {
    TestAssetRequest => TestAssetResponse, "assets:read";
    GetAssetRequest => GetAssetResponse, "assets:read";
    GetDependentAssetsRequest => GetDependentAssetsResponse, "assets:read";
    AddAssetRequest => AddAssetResponse, "assets:write", commits;
    AddAssetAliasRequest => AddAssetResponse, "assets:write", commits;
    // Serialises the object into a new asset and stores it.
    GetAssetFromObjectRequest => GetAssetResponse, "assets:write", commits;
}

#[cfg(test)]
mod tests {
    use super::*;
    use dispatcher_protocol::json;
    use dispatcher_protocol::{DecodeLimits, Encoding, Reply, Value};

    fn bind<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, dispatcher_protocol::DeError> {
        let value = json::decode(text.as_bytes(), &DecodeLimits::default())
            .expect("json")
            .expect("value");
        dispatcher_protocol::from_value(&value)
    }

    #[test]
    fn asset_data_reads_base64_and_ignores_nested_type() {
        let req: AddAssetRequest = bind(
            r#"{"asset":{"$type":"AssetData","AssetID":"a55e7000-0003-4b6c-9d8e-112233445566",
               "SerializedAsset":"SGVsbG8s\n IHdvcmxkIQA=","name":"greeting","ContentType":"application/vnd.ll.notecard"}}"#,
        )
        .expect("bind");
        let asset = req.asset.expect("asset");
        assert_eq!(asset.serialized_asset.0, b"Hello, world!\0");
        assert_eq!(asset.name, "greeting");
        assert_eq!(asset.asset_id.to_string(), "a55e7000-0003-4b6c-9d8e-112233445566");
    }

    #[test]
    fn absent_asset_is_a_default_record_and_null_is_none() {
        assert_eq!(bind::<AddAssetRequest>("{}").expect("bind").asset, Some(AssetData::default()));
        assert_eq!(bind::<AddAssetRequest>(r#"{"Asset":null}"#).expect("bind").asset, None);
    }

    #[test]
    fn invalid_base64_fails() {
        assert!(bind::<AddAssetRequest>(r#"{"Asset":{"SerializedAsset":"not base64!"}}"#).is_err());
        assert!(bind::<AddAssetRequest>(r#"{"Asset":{"SerializedAsset":12}}"#).is_err());
    }

    #[test]
    fn get_asset_reply_has_nested_type_and_base64() {
        let reply = Reply::typed(&GetAssetResponse {
            asset: Typed(AssetData {
                serialized_asset: AssetBytes(b"Hello, world!\0".to_vec()),
                name: "greeting".into(),
                ..AssetData::default()
            }),
        });
        let text = String::from_utf8(reply.encode(Encoding::Json)).expect("utf8");
        assert_eq!(
            text,
            r#"{"$type":"RemoteControl.Messages.GetAssetResponse","Asset":{"$type":"AssetData","AssetID":"00000000-0000-0000-0000-000000000000","SerializedAsset":"SGVsbG8sIHdvcmxkIQA=","Name":"greeting","Description":"","ContentType":"","CreatorID":""},"_Success":1,"_Message":""}"#
        );
        // In BSON the bytes travel as a binary element.
        let Value::Object(members) = reply.to_value() else { panic!("object") };
        let Value::Object(asset) = &members[1].1 else { panic!("asset") };
        assert!(matches!(asset[2].1, Value::Binary(_)));
    }
}
