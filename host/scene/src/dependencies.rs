//! `GetDependentAssets`: the closure of asset references reachable from an asset (§5.3).
//!
//! Assets are fetched through the caller's closure, so the walk itself does no
//! I/O. Leaf references (textures, sounds, animations…) are listed without
//! fetching them; container types are fetched and inspected. The walk is capped by
//! `SceneLimits::max_dependent_assets`, since nested objects can reference each
//! other without end.

use std::collections::{HashSet, VecDeque};

use thiserror::Error;
use uuid::Uuid;

use crate::asset::{Asset, AssetType};
use crate::limits::SceneLimits;
use crate::object_xml::parse_object;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DependencyError {
    /// The starting asset is not in the store (exact protocol text).
    #[error("no such asset")]
    NoSuchAsset(Uuid),
    #[error("too many dependent assets (limit {limit})")]
    TooMany { limit: usize },
}

/// Inventory item types whose assets are fetched and inspected in turn (§5.3).
fn is_container(t: AssetType) -> bool {
    matches!(
        t,
        AssetType::Object
            | AssetType::Clothing
            | AssetType::Bodypart
            | AssetType::Gesture
            | AssetType::Notecard
            | AssetType::LslText
            | AssetType::Material
    )
}

struct Walk {
    result: Vec<Uuid>,
    seen: HashSet<Uuid>,
    queue: VecDeque<Uuid>,
    limit: usize,
}

impl Walk {
    /// Lists an id without fetching it.
    fn add(&mut self, id: Uuid) -> Result<(), DependencyError> {
        if id.is_nil() || self.seen.contains(&id) {
            return Ok(());
        }
        if self.result.len() >= self.limit {
            return Err(DependencyError::TooMany { limit: self.limit });
        }
        self.seen.insert(id);
        self.result.push(id);
        Ok(())
    }

    fn inspect(&mut self, asset: &Asset, limits: &SceneLimits) -> Result<(), DependencyError> {
        match asset.asset_type {
            AssetType::Object => {
                // An object asset that does not decode references nothing we can know.
                let Ok(object) = parse_object(&asset.data, limits) else {
                    return Ok(());
                };
                for part in object.parts() {
                    for t in part.shape.texture_entry.textures() {
                        self.add(t)?;
                    }
                    self.add(part.shape.sculpt_texture)?;
                    self.add(part.collision_sound)?;
                    for item in &part.inventory {
                        if is_container(item.asset_type) {
                            self.queue.push_back(item.asset_id);
                        } else {
                            self.add(item.asset_id)?;
                        }
                    }
                }
            }
            AssetType::Clothing | AssetType::Bodypart => {
                for t in wearable_textures(&asset.text()) {
                    self.add(t)?;
                }
            }
            // Gestures name their animations and sounds by UUID and hold no other
            // UUIDs, so a token scan finds exactly the step assets.
            AssetType::Notecard | AssetType::LslText | AssetType::Gesture => {
                for t in uuid_tokens(&asset.text()) {
                    self.add(t)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// The transitive dependencies of `start`, `start` first, in discovery order.
/// `fetch` returns the stored asset or `None`.
pub fn dependent_assets(
    start: Uuid,
    limits: &SceneLimits,
    mut fetch: impl FnMut(Uuid) -> Option<Asset>,
) -> Result<Vec<Uuid>, DependencyError> {
    if start.is_nil() {
        return Err(DependencyError::NoSuchAsset(start));
    }
    let first = fetch(start).ok_or(DependencyError::NoSuchAsset(start))?;
    let mut walk = Walk {
        result: Vec::new(),
        seen: HashSet::new(),
        queue: VecDeque::new(),
        limit: limits.max_dependent_assets,
    };
    walk.add(start)?;
    walk.inspect(&first, limits)?;
    while let Some(id) = walk.queue.pop_front() {
        if id.is_nil() || walk.seen.contains(&id) {
            continue;
        }
        // Missing or empty assets are silently left out (§5.3 step 2).
        let Some(asset) = fetch(id).filter(|a| !a.data.is_empty()) else {
            continue;
        };
        walk.add(id)?;
        walk.inspect(&asset, limits)?;
    }
    Ok(walk.result)
}

/// The texture UUIDs of a Linden wearable's `textures N` section.
pub fn wearable_textures(text: &str) -> Vec<Uuid> {
    let mut lines = text.lines().map(str::trim);
    let mut out = Vec::new();
    while let Some(line) = lines.next() {
        let Some(count) = line.strip_prefix("textures").and_then(|n| n.trim().parse::<usize>().ok()) else {
            continue;
        };
        for entry in lines.by_ref().take(count) {
            if let Some(id) = entry.split_whitespace().nth(1).and_then(|t| Uuid::parse_str(t).ok()) {
                out.push(id);
            }
        }
        break;
    }
    out
}

/// Every 8-4-4-4-12 hex token in the text that is not part of a longer hex run.
pub fn uuid_tokens(text: &str) -> Vec<Uuid> {
    const LEN: usize = 36;
    let b = text.as_bytes();
    let shaped = |w: &[u8]| {
        w.iter()
            .enumerate()
            .all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { *c == b'-' } else { c.is_ascii_hexdigit() })
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i + LEN <= b.len() {
        let before_ok = i == 0 || !b[i - 1].is_ascii_hexdigit();
        let after_ok = b.get(i + LEN).is_none_or(|c| !c.is_ascii_hexdigit());
        if before_ok && after_ok && shaped(&b[i..i + LEN]) {
            if let Some(id) = text.get(i..i + LEN).and_then(|s| Uuid::parse_str(s).ok()) {
                out.push(id);
            }
            i += LEN;
        } else {
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::Vector3;
    use crate::object::SceneObject;
    use crate::object_xml::write_object_asset;
    use crate::part::{Part, TaskInventoryItem};
    use crate::texture_entry::TextureEntry;
    use std::collections::HashMap;

    fn u(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn object_asset(id: Uuid, texture: Uuid, items: Vec<TaskInventoryItem>) -> Asset {
        let mut root = Part::new(u(id.as_u128() + 1000), "o");
        root.shape.texture_entry = TextureEntry::with_texture(texture);
        root.inventory = items;
        let obj = SceneObject::linked(root, vec![], Vector3::ZERO);
        Asset::from_type(id, AssetType::Object, write_object_asset(&obj))
    }

    /// The checklist fixture: T (texture, inventory object N), N holds script S.
    fn store() -> HashMap<Uuid, Asset> {
        let (t, n, s, tex) = (u(1), u(2), u(3), u(4));
        let mut m = HashMap::new();
        let s_text = format!("default {{ touch_start(integer n) {{ llGiveInventory(\"{}\"); }} }}", u(77));
        m.insert(s, Asset::from_type(s, AssetType::LslText, s_text.into_bytes()));
        m.insert(n, object_asset(n, Uuid::nil(), vec![TaskInventoryItem::new(u(20), "s", AssetType::LslText, s)]));
        m.insert(
            t,
            object_asset(
                t,
                tex,
                vec![
                    TaskInventoryItem::new(u(21), "n", AssetType::Object, n),
                    TaskInventoryItem::new(u(22), "gone", AssetType::Object, u(99)),
                    TaskInventoryItem::new(u(23), "snd", AssetType::Sound, u(55)),
                ],
            ),
        );
        m
    }

    #[test]
    fn rc_49_closure_includes_self_textures_and_nested_inventory() {
        let m = store();
        let deps = dependent_assets(u(1), &SceneLimits::default(), |id| m.get(&id).cloned()).unwrap();
        assert_eq!(deps[0], u(1));
        for want in [u(4), u(2), u(3), u(55), u(77)] {
            assert!(deps.contains(&want), "missing {want}");
        }
        // A missing nested object is silently omitted.
        assert!(!deps.contains(&u(99)));
    }

    #[test]
    fn rc_49_unknown_asset_fails() {
        let m = store();
        let err = dependent_assets(u(42), &SceneLimits::default(), |id| m.get(&id).cloned()).unwrap_err();
        assert_eq!(err.to_string(), "no such asset");
        assert!(dependent_assets(Uuid::nil(), &SceneLimits::default(), |id| m.get(&id).cloned()).is_err());
    }

    #[test]
    fn walk_is_capped() {
        let m = store();
        let limits = SceneLimits {
            max_dependent_assets: 2,
            ..SceneLimits::default()
        };
        assert_eq!(
            dependent_assets(u(1), &limits, |id| m.get(&id).cloned()),
            Err(DependencyError::TooMany { limit: 2 })
        );
    }

    #[test]
    fn cycles_terminate() {
        let mut m = HashMap::new();
        m.insert(
            u(1),
            object_asset(u(1), Uuid::nil(), vec![TaskInventoryItem::new(u(9), "b", AssetType::Object, u(2))]),
        );
        m.insert(
            u(2),
            object_asset(u(2), Uuid::nil(), vec![TaskInventoryItem::new(u(8), "a", AssetType::Object, u(1))]),
        );
        let deps = dependent_assets(u(1), &SceneLimits::default(), |id| m.get(&id).cloned()).unwrap();
        assert_eq!(deps, vec![u(1), u(2)]);
    }

    #[test]
    fn wearable_texture_section() {
        let text = "LLWearable version 22\nShirt\n\tpermissions 0\n\t{\n\t}\ntype 4\nparameters 1\n781 0\ntextures 2\n0 00000000-0000-0000-0000-00000000000a\n5 00000000-0000-0000-0000-00000000000b\n";
        assert_eq!(wearable_textures(text), vec![u(10), u(11)]);
        let m: HashMap<Uuid, Asset> = [(u(1), Asset::from_type(u(1), AssetType::Clothing, text.as_bytes().to_vec()))]
            .into_iter()
            .collect();
        let deps = dependent_assets(u(1), &SceneLimits::default(), |id| m.get(&id).cloned()).unwrap();
        assert_eq!(deps, vec![u(1), u(10), u(11)]);
    }

    #[test]
    fn uuid_tokens_skip_longer_hex_runs() {
        let a = "89556747-24cb-43ed-920b-47caed15465f";
        let text = format!("key k = \"{a}\"; x{a}0 {a}");
        assert_eq!(uuid_tokens(&text).len(), 2);
    }
}
