//! Grants: which message a script may send. Each message type maps to exactly
//! one grant (the table below, mirrored in docs/scripting.md), used alike by the
//! typed imports and by `messages.send`. Scope grants restrict which objects the
//! object messages may address.

use std::collections::BTreeSet;

/// The RemoteControl domain, which every interface grant but `storage` and
/// `scripts` needs in the uploader's capability.
pub const REMOTE_CONTROL: &str = "RemoteControl";
/// The Scripting domain.
pub const SCRIPTING: &str = "Scripting";

/// Grants a script may ask for, with the capability domain each needs
/// (`None`: no domain, the grant is local to the script host).
pub const GRANTABLE: &[(&str, Option<&str>)] = &[
    ("objects:read", Some(REMOTE_CONTROL)),
    ("objects:write", Some(REMOTE_CONTROL)),
    ("objects:create", Some(REMOTE_CONTROL)),
    ("objects:delete", Some(REMOTE_CONTROL)),
    ("assets:read", Some(REMOTE_CONTROL)),
    ("assets:write", Some(REMOTE_CONTROL)),
    ("avatars:read", Some(REMOTE_CONTROL)),
    ("avatars:write", Some(REMOTE_CONTROL)),
    ("chat", Some(REMOTE_CONTROL)),
    ("terrain:read", Some(REMOTE_CONTROL)),
    ("terrain:write", Some(REMOTE_CONTROL)),
    ("region:read", Some(REMOTE_CONTROL)),
    ("region:write", Some(REMOTE_CONTROL)),
    ("scripts", Some(SCRIPTING)),
    ("storage", None),
    ("scope:self", None),
    ("scope:owner", None),
    ("scope:region", None),
];

/// The grant of every Dispatcher-domain message: never grantable, so a script
/// can neither mint, renew nor destroy capabilities (its own included) nor own
/// endpoints.
pub const DISPATCHER_GRANT: &str = "dispatcher";

/// Message type → grant. One row per request type.
const MESSAGE_GRANTS: &[(&str, &str)] = &[
    ("RemoteControl.Messages.FindObjectsRequest", "objects:read"),
    ("RemoteControl.Messages.GetObjectDataRequest", "objects:read"),
    ("RemoteControl.Messages.GetObjectPartsRequest", "objects:read"),
    ("RemoteControl.Messages.GetObjectInventoryRequest", "objects:read"),
    ("RemoteControl.Messages.GetObjectPositionRequest", "objects:read"),
    ("RemoteControl.Messages.GetObjectRotationRequest", "objects:read"),
    ("RemoteControl.Messages.RegisterTouchCallbackRequest", "objects:read"),
    ("RemoteControl.Messages.UnregisterTouchCallbackRequest", "objects:read"),
    ("RemoteControl.Messages.RegisterUpdatedCallbackRequest", "objects:read"),
    ("RemoteControl.Messages.UnregisterUpdatedCallbackRequest", "objects:read"),
    ("RemoteControl.Messages.SetObjectPositionRequest", "objects:write"),
    ("RemoteControl.Messages.SetObjectRotationRequest", "objects:write"),
    ("RemoteControl.Messages.BulkDynamicsRequest", "objects:write"),
    ("RemoteControl.Messages.MessageObjectRequest", "objects:write"),
    ("RemoteControl.Messages.TouchObjectRequest", "objects:write"),
    ("RemoteControl.Messages.SetPartPositionRequest", "objects:write"),
    ("RemoteControl.Messages.SetPartRotationRequest", "objects:write"),
    ("RemoteControl.Messages.SetPartScaleRequest", "objects:write"),
    ("RemoteControl.Messages.SetPartColorRequest", "objects:write"),
    ("RemoteControl.Messages.CreateObjectRequest", "objects:create"),
    ("RemoteControl.Messages.CreateBulkObjectsRequest", "objects:create"),
    ("RemoteControl.Messages.DeleteObjectRequest", "objects:delete"),
    ("RemoteControl.Messages.DeleteBulkObjectsRequest", "objects:delete"),
    ("RemoteControl.Messages.DeleteAllObjectsRequest", "objects:delete"),
    ("RemoteControl.Messages.TestAssetRequest", "assets:read"),
    ("RemoteControl.Messages.GetAssetRequest", "assets:read"),
    ("RemoteControl.Messages.GetDependentAssetsRequest", "assets:read"),
    ("RemoteControl.Messages.AddAssetRequest", "assets:write"),
    ("RemoteControl.Messages.AddAsset", "assets:write"),
    ("RemoteControl.Messages.GetAssetFromObjectRequest", "assets:write"),
    ("RemoteControl.Messages.GetAvatarAppearanceRequest", "avatars:read"),
    ("RemoteControl.Messages.SetAvatarAppearanceRequest", "avatars:write"),
    ("RemoteControl.Messages.ChatRequest", "chat"),
    ("RemoteControl.Messages.GetTerrainHeightRequest", "terrain:read"),
    ("RemoteControl.Messages.SetTerrainHeightRequest", "terrain:write"),
    ("RemoteControl.Messages.GetSunParametersRequest", "region:read"),
    ("RemoteControl.Messages.SetSunParametersRequest", "region:write"),
    ("Dispatcher.Messages.InfoRequest", "region:read"),
    ("Dispatcher.Messages.MessageFormatRequest", "region:read"),
    ("Dispatcher.Messages.CreateCapabilityRequest", DISPATCHER_GRANT),
    ("Dispatcher.Messages.RenewCapabilityRequest", DISPATCHER_GRANT),
    ("Dispatcher.Messages.DestroyCapabilityRequest", DISPATCHER_GRANT),
    ("Dispatcher.Messages.CreateEndPointRequest", DISPATCHER_GRANT),
    ("Dispatcher.Messages.RenewEndPointRequest", DISPATCHER_GRANT),
    ("Dispatcher.Messages.CloseEndPointRequest", DISPATCHER_GRANT),
    ("Scripting.Messages.UploadScriptRequest", "scripts"),
    ("Scripting.Messages.ListScriptsRequest", "scripts"),
    ("Scripting.Messages.GetScriptStatusRequest", "scripts"),
    ("Scripting.Messages.StartScriptRequest", "scripts"),
    ("Scripting.Messages.StopScriptRequest", "scripts"),
    ("Scripting.Messages.ResetScriptRequest", "scripts"),
    ("Scripting.Messages.RemoveScriptRequest", "scripts"),
    ("Scripting.Messages.GetScriptLogRequest", "scripts"),
];

/// The whole table (message type, grant).
pub fn message_grants() -> &'static [(&'static str, &'static str)] {
    MESSAGE_GRANTS
}

/// The grant a message type needs, if it has one.
pub fn grant_for(type_name: &str) -> Option<&'static str> {
    MESSAGE_GRANTS.iter().find(|(t, _)| *t == type_name).map(|(_, g)| *g)
}

/// The capability domain a grant needs.
pub fn domain_of(grant: &str) -> Option<&'static str> {
    GRANTABLE.iter().find(|(g, _)| *g == grant).and_then(|(_, d)| *d)
}

/// Which objects the object messages may address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// The script's own object (the default).
    SelfObject,
    /// Objects owned by the script's owner.
    Owner,
    /// Any object of the region.
    Region,
}

/// A script's effective grants.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    set: BTreeSet<String>,
}

impl Grants {
    /// Parse requested grant names; unknown names are an error naming them.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Grants, String> {
        let mut set = BTreeSet::new();
        for name in names {
            let name = name.as_ref().trim();
            if name.is_empty() {
                continue;
            }
            if !GRANTABLE.iter().any(|(g, _)| *g == name) {
                return Err(format!("unknown grant \"{name}\""));
            }
            set.insert(name.to_owned());
        }
        Ok(Grants { set })
    }

    /// Keep only the grants `allowed` accepts (the uploader's rights).
    pub fn intersect(self, allowed: impl Fn(&str) -> bool) -> Grants {
        Grants {
            set: self.set.into_iter().filter(|g| allowed(g)).collect(),
        }
    }

    pub fn has(&self, grant: &str) -> bool {
        self.set.contains(grant)
    }

    /// The widest scope granted; `scope:self` when none is.
    pub fn scope(&self) -> Scope {
        if self.has("scope:region") {
            Scope::Region
        } else if self.has("scope:owner") {
            Scope::Owner
        } else {
            Scope::SelfObject
        }
    }

    /// Capability domains the grants need, deduplicated.
    pub fn domains(&self) -> Vec<String> {
        let set: BTreeSet<&str> = self.set.iter().filter_map(|g| domain_of(g)).collect();
        set.into_iter().map(str::to_owned).collect()
    }

    pub fn to_vec(&self) -> Vec<String> {
        self.set.iter().cloned().collect()
    }

    /// The persisted form: names separated by spaces.
    pub fn to_text(&self) -> String {
        self.to_vec().join(" ")
    }

    pub fn from_text(text: &str) -> Grants {
        Grants {
            set: text
                .split_whitespace()
                .filter(|g| GRANTABLE.iter().any(|(k, _)| k == g))
                .map(str::to_owned)
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_maps_to_a_known_grant() {
        for (t, g) in MESSAGE_GRANTS {
            assert!(*g == DISPATCHER_GRANT || GRANTABLE.iter().any(|(k, _)| k == g), "{t} -> {g}");
        }
        let mut types: Vec<_> = MESSAGE_GRANTS.iter().map(|(t, _)| *t).collect();
        types.sort();
        types.dedup();
        assert_eq!(types.len(), MESSAGE_GRANTS.len(), "one grant per message type");
    }

    #[test]
    fn parse_intersect_scope() {
        assert!(Grants::parse(&["objects:read", "bogus"]).is_err());
        let g = Grants::parse(&["objects:read", "storage", "scope:owner", "scripts"]).expect("parse");
        assert_eq!(g.scope(), Scope::Owner);
        assert_eq!(g.domains(), vec!["RemoteControl".to_owned(), "Scripting".to_owned()]);
        let g = g.intersect(|x| x != "scripts");
        assert!(!g.has("scripts") && g.has("storage"));
        assert_eq!(Grants::from_text(&g.to_text()), g);
        assert_eq!(grant_for("RemoteControl.Messages.ChatRequest"), Some("chat"));
        assert_eq!(grant_for("Nope"), None);
    }
}
