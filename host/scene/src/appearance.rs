//! Avatar appearance and its serialised JSON text (§5.4, `Get/SetAvatarAppearance`).
//!
//! The text is read leniently member by member (missing members take defaults),
//! but validated completely before anything is replaced, so a bad document has no
//! effect (Q-36).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;
use uuid::{uuid, Uuid};

use crate::limits::SceneLimits;

pub const WEARABLE_SLOTS: usize = 16;
pub const TEXTURE_SLOTS: usize = 21;
/// Visual parameters the 2016 viewers send and this host writes.
pub const VISUAL_PARAMS: usize = 218;
/// Fewer cannot be an appearance: the height formula reads index 148.
pub const MIN_VISUAL_PARAMS: usize = 149;
/// What an unset texture slot holds.
pub const DEFAULT_AVATAR_TEXTURE: Uuid = uuid!("c228d1cf-4b5d-4ba8-84f4-899a0796aa97");

/// OpenSim's default body parts for slots 0–3 (shape, skin, hair, eyes): item, asset.
const DEFAULT_WEARABLES: [(Uuid, Uuid); 4] = [
    (uuid!("66c41e39-38f9-f75a-024e-585989bfaba9"), uuid!("66c41e39-38f9-f75a-024e-585989bfab73")),
    (uuid!("77c41e39-38f9-f75a-024e-585989bfabc9"), uuid!("77c41e39-38f9-f75a-024e-585989bbabbb")),
    (uuid!("d342e6c1-b9d2-11dc-95ff-0800200c9a66"), uuid!("d342e6c0-b9d2-11dc-95ff-0800200c9a66")),
    (uuid!("4d3af499-976b-400a-a04a-f13df0babc0b"), uuid!("4bb6fa4d-1cd2-498a-a84c-95c1a0e745a7")),
];

/// Every slider at its middle: this host's own neutral default body.
const DEFAULT_VISUAL_PARAM: u8 = 127;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AppearanceError {
    #[error("appearance is not valid JSON")]
    NotJson,
    #[error("appearance is not a JSON object")]
    NotAnObject,
    #[error("invalid appearance member {0}")]
    InvalidMember(&'static str),
    #[error("too few visual parameters ({count}, at least {MIN_VISUAL_PARAMS})")]
    TooFewVisualParams { count: usize },
    #[error("too many visual parameters ({count}, limit {limit})")]
    TooManyVisualParams { count: usize, limit: usize },
    #[error("too many attachments ({count}, limit {limit})")]
    TooManyAttachments { count: usize, limit: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WearableRef {
    pub item: Uuid,
    pub asset: Uuid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRef {
    pub point: i32,
    pub item: Uuid,
    pub asset: Uuid,
}

/// One account's appearance (persisted per account, §3.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Appearance {
    pub serial: i32,
    /// Metres, derived from `visual_params`.
    pub height: f64,
    /// One list per slot (0 shape … 15 physics); a slot may hold several layers.
    pub wearables: Vec<Vec<WearableRef>>,
    pub textures: Vec<Uuid>,
    pub visual_params: Vec<u8>,
    pub attachments: Vec<AttachmentRef>,
}

/// The serialised form, members in the order the original writes them.
#[derive(Serialize)]
struct Wire<'a> {
    serial: i32,
    height: f64,
    wearables: &'a [Vec<WearableRef>],
    textures: &'a [Uuid],
    visualparams: &'a [u8],
    attachments: &'a [AttachmentRef],
}

fn default_wearables() -> Vec<Vec<WearableRef>> {
    let mut slots = vec![Vec::new(); WEARABLE_SLOTS];
    for (slot, (item, asset)) in slots.iter_mut().zip(DEFAULT_WEARABLES) {
        slot.push(WearableRef { item, asset });
    }
    slots
}

/// Avatar height in metres from the visual parameters (§5.4's formula).
/// `None` with fewer than [`MIN_VISUAL_PARAMS`] values.
pub fn height_from_params(v: &[u8]) -> Option<f64> {
    if v.len() < MIN_VISUAL_PARAMS {
        return None;
    }
    let p = |i: usize| f64::from(v[i]);
    let shoes = if v[31] != 0 { 0.0848 } else { 0.0 };
    let sum = 0.516945 * p(25) + 0.08117 * p(120) + 0.3836 * p(125) + 0.07 * p(78) + 0.08 * p(77) + 0.076 * p(148);
    Some(1.14597 + shoes + sum / 255.0)
}

fn uuid_member(v: &Value, member: &'static str) -> Result<Uuid, AppearanceError> {
    v.as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or(AppearanceError::InvalidMember(member))
}

impl Default for Appearance {
    /// A fresh account's appearance.
    fn default() -> Self {
        let visual_params = vec![DEFAULT_VISUAL_PARAM; VISUAL_PARAMS];
        Appearance {
            serial: 0,
            height: height_from_params(&visual_params).unwrap_or_default(),
            wearables: default_wearables(),
            textures: vec![DEFAULT_AVATAR_TEXTURE; TEXTURE_SLOTS],
            visual_params,
            attachments: Vec::new(),
        }
    }
}

impl Appearance {
    /// The `SerializedAppearance` text: compact JSON.
    pub fn to_json(&self) -> String {
        let wire = Wire {
            serial: self.serial,
            height: self.height,
            wearables: &self.wearables,
            textures: &self.textures,
            visualparams: &self.visual_params,
            attachments: &self.attachments,
        };
        // Serialising plain numbers, strings and arrays cannot fail.
        serde_json::to_string(&wire).unwrap_or_default()
    }

    /// `SetAvatarAppearance` step 2 and 4: parse and validate `text`, then build
    /// the replacement: serial = previous + 1 and height recomputed, whatever the
    /// text says (Q-35); missing members take the defaults of §5.4.
    pub fn replaced_by(&self, text: &str, limits: &SceneLimits) -> Result<Appearance, AppearanceError> {
        let doc: Value = serde_json::from_str(text).map_err(|_| AppearanceError::NotJson)?;
        let doc = doc.as_object().ok_or(AppearanceError::NotAnObject)?;
        let mut next = Appearance::default();

        if let Some(w) = doc.get("wearables") {
            let slots = w.as_array().ok_or(AppearanceError::InvalidMember("wearables"))?;
            // Slots beyond 15 are ignored; missing slots keep the defaults.
            for (slot, layers) in next.wearables.iter_mut().zip(slots) {
                let layers = layers.as_array().ok_or(AppearanceError::InvalidMember("wearables"))?;
                *slot = layers
                    .iter()
                    .map(|l| {
                        Ok(WearableRef {
                            item: uuid_member(&l["item"], "wearables")?,
                            asset: uuid_member(&l["asset"], "wearables")?,
                        })
                    })
                    .collect::<Result<_, AppearanceError>>()?;
            }
        }
        if let Some(t) = doc.get("textures") {
            let given = t.as_array().ok_or(AppearanceError::InvalidMember("textures"))?;
            for (slot, v) in next.textures.iter_mut().zip(given) {
                *slot = uuid_member(v, "textures")?;
            }
        }
        if let Some(vp) = doc.get("visualparams") {
            let given = vp.as_array().ok_or(AppearanceError::InvalidMember("visualparams"))?;
            if given.len() < MIN_VISUAL_PARAMS {
                return Err(AppearanceError::TooFewVisualParams { count: given.len() });
            }
            if given.len() > limits.max_visual_params {
                return Err(AppearanceError::TooManyVisualParams {
                    count: given.len(),
                    limit: limits.max_visual_params,
                });
            }
            next.visual_params = given
                .iter()
                .map(|v| {
                    v.as_u64()
                        .and_then(|n| u8::try_from(n).ok())
                        .ok_or(AppearanceError::InvalidMember("visualparams"))
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(a) = doc.get("attachments") {
            let given = a.as_array().ok_or(AppearanceError::InvalidMember("attachments"))?;
            if given.len() > limits.max_attachments {
                return Err(AppearanceError::TooManyAttachments {
                    count: given.len(),
                    limit: limits.max_attachments,
                });
            }
            next.attachments = given
                .iter()
                .map(|a| {
                    let point = a["point"].as_i64().and_then(|p| i32::try_from(p).ok());
                    Ok(AttachmentRef {
                        point: point.ok_or(AppearanceError::InvalidMember("attachments"))?,
                        item: uuid_member(&a["item"], "attachments")?,
                        asset: uuid_member(&a["asset"], "attachments")?,
                    })
                })
                .collect::<Result<_, AppearanceError>>()?;
        }
        next.serial = self.serial.wrapping_add(1);
        next.height = height_from_params(&next.visual_params).ok_or(AppearanceError::TooFewVisualParams {
            count: next.visual_params.len(),
        })?;
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> SceneLimits {
        SceneLimits::default()
    }

    #[test]
    fn rc_51_serialised_shape() {
        let text = Appearance::default().to_json();
        let v: Value = serde_json::from_str(&text).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["serial", "height", "wearables", "textures", "visualparams", "attachments"]);
        assert_eq!(v["wearables"].as_array().unwrap().len(), 16);
        assert_eq!(v["textures"].as_array().unwrap().len(), 21);
        assert_eq!(v["visualparams"].as_array().unwrap().len(), 218);
        assert!(v["visualparams"][0].is_u64());
        assert_eq!(v["wearables"][0][0]["item"], "66c41e39-38f9-f75a-024e-585989bfaba9");
    }

    #[test]
    fn rc_53_serial_increments_and_changes_apply() {
        let old = Appearance {
            serial: 3,
            ..Appearance::default()
        };
        let mut doc: Value = serde_json::from_str(&old.to_json()).unwrap();
        doc["serial"] = 999.into();
        doc["height"] = 9.0.into();
        doc["visualparams"][25] = 255.into();
        doc["wearables"][4] = serde_json::json!([{"item": Uuid::from_u128(1), "asset": Uuid::from_u128(2)}]);
        let new = old.replaced_by(&doc.to_string(), &limits()).unwrap();
        assert_eq!(new.serial, 4);
        assert_eq!(new.visual_params[25], 255);
        assert_eq!(
            new.wearables[4],
            vec![WearableRef {
                item: Uuid::from_u128(1),
                asset: Uuid::from_u128(2)
            }]
        );
        assert!((new.height - height_from_params(&new.visual_params).unwrap()).abs() < 1e-12);
        assert!(new.height > old.height);
    }

    #[test]
    fn missing_members_take_defaults() {
        let text = r#"{"serial":1,"height":0,"wearables":[[{"item":"66c41e39-38f9-f75a-024e-585989bfaba9","asset":"66c41e39-38f9-f75a-024e-585989bfab73"}]],"textures":["c228d1cf-4b5d-4ba8-84f4-899a0796aa97"],"bakedcache":[],"attachments":[{"point":2,"item":"0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d","asset":"a55e7000-0004-4b6c-9d8e-112233445566"}]}"#;
        let new = Appearance::default().replaced_by(text, &limits()).unwrap();
        assert_eq!(new.wearables.len(), 16);
        assert_eq!(new.wearables[1], Appearance::default().wearables[1]);
        assert_eq!(new.textures.len(), 21);
        assert_eq!(new.visual_params.len(), 218);
        assert_eq!(new.attachments[0].point, 2);
    }

    #[test]
    fn rc_54_bad_documents_fail() {
        let a = Appearance::default();
        assert_eq!(a.replaced_by("not json", &limits()), Err(AppearanceError::NotJson));
        assert_eq!(a.replaced_by("[1]", &limits()), Err(AppearanceError::NotAnObject));
        let few = serde_json::json!({"visualparams": vec![1; 148]}).to_string();
        assert_eq!(a.replaced_by(&few, &limits()), Err(AppearanceError::TooFewVisualParams { count: 148 }));
        let big = serde_json::json!({"visualparams": vec![300; 200]}).to_string();
        assert_eq!(a.replaced_by(&big, &limits()), Err(AppearanceError::InvalidMember("visualparams")));
    }

    #[test]
    fn appearance_limits() {
        let a = Appearance::default();
        let l = SceneLimits {
            max_visual_params: 200,
            max_attachments: 1,
            ..limits()
        };
        let long = serde_json::json!({"visualparams": vec![1; 201]}).to_string();
        assert!(matches!(a.replaced_by(&long, &l), Err(AppearanceError::TooManyVisualParams { .. })));
        let att = serde_json::json!({"attachments": [
            {"point": 1, "item": Uuid::nil(), "asset": Uuid::nil()},
            {"point": 2, "item": Uuid::nil(), "asset": Uuid::nil()}]})
        .to_string();
        assert!(matches!(a.replaced_by(&att, &l), Err(AppearanceError::TooManyAttachments { .. })));
    }
}
