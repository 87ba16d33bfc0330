//! The routing step of the byte entry (grid mode): see remote.rs for what
//! is forwarded and why the capability is checked first.

use std::sync::Arc;
use std::time::Instant;

use dispatcher_protocol::DecodedRequest;

use crate::capabilities::DISPATCHER_DOMAIN;
use crate::pipeline::Dispatcher;
use crate::remote::{RemoteScenes, Route, SceneHome};
use crate::transport::Transport;

/// The `Dispatcher` messages that are region-scoped: an endpoint lives on the
/// host that serves its capability's scene, which sends the callbacks.
const ENDPOINT_TYPES: [&str; 3] = [
    "Dispatcher.Messages.CreateEndPointRequest",
    "Dispatcher.Messages.RenewEndPointRequest",
    "Dispatcher.Messages.CloseEndPointRequest",
];

impl Dispatcher {
    /// Make this host a member of a grid: requests for scenes that `remote`
    /// places elsewhere are routed there. Set once; later calls are ignored
    /// (false).
    pub fn set_remote_scenes(&self, remote: Arc<dyn RemoteScenes>) -> bool {
        self.remote_scenes().set(remote).is_ok()
    }

    /// Whether a [`RemoteScenes`] is installed (grid mode).
    pub fn is_grid_member(&self) -> bool {
        self.remote_scenes().get().is_some()
    }

    /// Where a decoded request runs (see the module's documentation). Scripts
    /// run on the owner of their region, so their requests are always local.
    pub fn route(&self, request: &DecodedRequest, transport: &Transport) -> Route {
        let Some(remote) = self.remote_scenes().get() else {
            return Route::Local;
        };
        if *transport == Transport::Script || Dispatcher::is_pre_auth(&request.type_name) {
            return Route::Local;
        }
        let envelope = &request.envelope;
        let domain = match (&envelope.domain, transport) {
            (d, Transport::Http { path_domain }) if d.is_empty() => path_domain.as_str(),
            (d, _) => d.as_str(),
        };
        if domain.is_empty() || (domain == DISPATCHER_DOMAIN && !ENDPOINT_TYPES.contains(&request.type_name.as_str())) {
            return Route::Local;
        }
        let services = self.services();
        let scene = if services.config.use_authentication {
            // The cheap rejection: a refused capability is answered here
            // with the owner's text, without a hop.
            let checked = services
                .capabilities
                .authorize_with(envelope.capability.0, domain, &envelope.scene, Instant::now(), |cap| {
                    envelope.scene.is_empty().then(|| cap.scene.clone())
                });
            match checked {
                Ok(Some(bound)) => bound,
                Ok(None) => envelope.scene.clone(),
                Err(e) => {
                    // A scene this host serves gets the local pipeline's
                    // answer (it checks the type first).
                    return match remote.locate(if envelope.scene.is_empty() { "" } else { &envelope.scene }) {
                        SceneHome::Here => Route::Local,
                        _ => Route::Refused { message: e.to_string() },
                    };
                }
            }
        } else {
            envelope.scene.clone()
        };
        if scene.is_empty() {
            return Route::Local;
        }
        match remote.locate(&scene) {
            SceneHome::Here => Route::Local,
            SceneHome::Remote(owner) => Route::Remote { scene, owner },
            SceneHome::Unowned => Route::Unowned { scene },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use dispatcher_protocol::{decode_request, DecodeLimits, Encoding};
    use uuid::Uuid;

    use crate::config::DispatcherConfig;
    use crate::directory::{Account, Directory, DirectoryError, SceneInfo};
    use crate::endpoints::NullSink;
    use crate::pipeline::Dispatcher;
    use crate::remote::{RemoteOwner, RemoteScenes, Route, SceneHome};
    use crate::transport::Transport;

    struct NoDirectory;

    impl Directory for NoDirectory {
        fn scenes(&self) -> Result<Vec<SceneInfo>, DirectoryError> {
            Ok(Vec::new())
        }
        fn account_by_id(&self, _: Uuid) -> Result<Option<Account>, DirectoryError> {
            Ok(None)
        }
        fn account_by_name(&self, _: &str, _: &str) -> Result<Option<Account>, DirectoryError> {
            Ok(None)
        }
        fn account_by_email(&self, _: &str) -> Result<Option<Account>, DirectoryError> {
            Ok(None)
        }
    }

    /// "Far Island" is on sim-b, "Lost Island" has no owner, the rest is here.
    struct Map;

    fn sim_b() -> RemoteOwner {
        RemoteOwner {
            host: "sim-b".into(),
            url: "http://127.0.0.1:1".into(),
            epoch: 3,
        }
    }

    impl RemoteScenes for Map {
        fn locate(&self, scene: &str) -> SceneHome {
            match scene {
                "Far Island" => SceneHome::Remote(sim_b()),
                "Lost Island" => SceneHome::Unowned,
                _ => SceneHome::Here,
            }
        }
    }

    fn dispatcher(auth: bool) -> Dispatcher {
        let config = DispatcherConfig {
            use_authentication: auth,
            ..Default::default()
        };
        Dispatcher::new(config, Arc::new(NoDirectory), Arc::new(NullSink), DecodeLimits::default())
    }

    fn route(d: &Dispatcher, body: &str, transport: Transport) -> Route {
        let request = decode_request(body.as_bytes(), Encoding::Json, &DecodeLimits::default()).expect("decodes");
        d.route(&request, &transport)
    }

    fn http() -> Transport {
        Transport::Http {
            path_domain: String::new(),
        }
    }

    const FAR: &str = r#"{"$type":"RemoteControl.Messages.GetObjectRequest","_Domain":"RemoteControl","_Scene":"Far Island"}"#;

    #[test]
    fn standalone_routes_everything_here() {
        let d = dispatcher(false);
        assert!(!d.is_grid_member());
        assert_eq!(route(&d, FAR, http()), Route::Local);
        d.shutdown();
    }

    #[test]
    fn region_scoped_requests_go_to_the_owner_others_stay() {
        let d = dispatcher(false);
        assert!(d.set_remote_scenes(Arc::new(Map)));
        assert!(!d.set_remote_scenes(Arc::new(Map)), "set once");
        assert_eq!(
            route(&d, FAR, http()),
            Route::Remote {
                scene: "Far Island".into(),
                owner: sim_b()
            }
        );
        assert_eq!(route(&d, FAR, Transport::Udp), route(&d, FAR, http()), "UDP is routed alike");
        assert_eq!(route(&d, FAR, Transport::Script), Route::Local, "scripts run on their region's owner");
        let here = FAR.replace("Far Island", "Harbor Island");
        assert_eq!(route(&d, &here, http()), Route::Local);
        let lost = FAR.replace("Far Island", "Lost Island");
        assert_eq!(
            route(&d, &lost, http()),
            Route::Unowned {
                scene: "Lost Island".into()
            }
        );
        // Not region-scoped: the Dispatcher domain and pre-authentication messages,
        let renew = r#"{"$type":"Dispatcher.Messages.RenewCapabilityRequest","_Domain":"Dispatcher","_Scene":"Far Island"}"#;
        assert_eq!(route(&d, renew, http()), Route::Local);
        // except endpoints, which live where their scene is served.
        let endpoint = r#"{"$type":"Dispatcher.Messages.CreateEndPointRequest","_Domain":"Dispatcher","_Scene":"Far Island"}"#;
        assert!(matches!(route(&d, endpoint, http()), Route::Remote { .. }));
        let info = r#"{"$type":"Dispatcher.Messages.InfoRequest","_Domain":"RemoteControl","_Scene":"Far Island"}"#;
        assert_eq!(route(&d, info, http()), Route::Local);
        // The path domain counts when the body names none.
        let pathless = FAR.replace(r#""_Domain":"RemoteControl","#, "");
        assert_eq!(route(&d, &pathless, http()), Route::Local, "no domain at all");
        let path = Transport::Http {
            path_domain: "RemoteControl".into(),
        };
        assert!(matches!(route(&d, &pathless, path), Route::Remote { .. }));
        d.shutdown();
    }

    #[test]
    fn the_capability_is_checked_before_forwarding_and_names_the_scene() {
        let d = dispatcher(true);
        d.set_remote_scenes(Arc::new(Map));
        // No such capability: refused here, never forwarded.
        assert!(matches!(route(&d, FAR, http()), Route::Refused { message } if message.starts_with("Unauthorized invocation")));
        let caps = &d.services().capabilities;
        let far = caps.create(
            Uuid::new_v4(),
            "Test User".into(),
            "Far Island".into(),
            vec!["RemoteControl".into()],
            Duration::from_secs(60),
        );
        let with = |cap: Uuid, scene: &str| {
            format!(
                r#"{{"$type":"RemoteControl.Messages.GetObjectRequest","_Domain":"RemoteControl","_Scene":"{scene}","_Capability":"{cap}"}}"#
            )
        };
        assert!(matches!(route(&d, &with(far.id, "Far Island"), http()), Route::Remote { .. }));
        // No `_Scene`: the capability's scene decides.
        assert!(matches!(route(&d, &with(far.id, ""), http()), Route::Remote { .. }));
        // A capability for another scene is left to the local pipeline when
        // that scene is served here; another domain is refused here.
        assert_eq!(route(&d, &with(far.id, "Harbor Island"), http()), Route::Local);
        let other_domain = with(far.id, "Far Island").replace(r#""_Domain":"RemoteControl""#, r#""_Domain":"Scripting""#);
        assert!(matches!(route(&d, &other_domain, http()), Route::Refused { .. }));
        d.shutdown();
    }
}
