//! The OpenSim REST inventory and asset interface (rest-inventory.md): XML over
//! HTTP below a configurable prefix, authenticated with Basic or Digest.
//!
//! The crate is synchronous and owns no sockets: the server hands it a
//! [`RestRequest`] whose body it has already read (within the limits of
//! [`RestLimits`]) and writes back the [`RestResponse`]. Every request gets a
//! response in the protocol's own form (an XML entity or the HTML status page
//! of §5.2); nothing is written to the store until a request has been fully
//! validated, and then in one transaction.

mod appearance;
mod assets;
pub mod auth;
pub mod config;
mod entity;
pub mod errors;
mod files;
mod inventory;
mod response;
pub mod uri;
pub mod xml;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use dispatcher_scene::SceneLimits;
use dispatcher_store::Store;
use parking_lot::Mutex;

pub use config::{AuthScheme, RestConfig, RestLimits};
pub use errors::RestError;
pub use response::RestResponse;

use auth::{AuthOutcome, Authenticator};
use uri::{Routed, Service};
use xml::XmlLimits;

/// One HTTP request as the server received it.
#[derive(Clone, Debug)]
pub struct RestRequest {
    /// As sent (`GET`, `get`, ...); compared without regard to case.
    pub method: String,
    /// The raw request target: path, still percent-escaped, with any query.
    pub path: String,
    /// Header names in any case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// True when the body was larger than `max_body_bytes` and was cut off.
    pub body_too_large: bool,
    pub peer: SocketAddr,
}

impl RestRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `http://host:port` from the `Host` header; the port is always written (§6.4).
    fn origin(&self) -> String {
        let host = self.header("host").unwrap_or("").trim();
        // An IPv6 literal is bracketed, so only a colon after `]` starts a port.
        let has_port = match host.strip_prefix('[') {
            Some(v6) => v6.contains("]:"),
            None => host.contains(':'),
        };
        if host.is_empty() {
            format!("http://{}", self.peer)
        } else if has_port {
            format!("http://{host}")
        } else {
            format!("http://{host}:80")
        }
    }
}

/// The REST handler: configuration, store, authentication state.
pub struct RestService {
    config: RestConfig,
    prefix: String,
    limits: RestLimits,
    scene_limits: SceneLimits,
    store: Arc<Store>,
    auth: Authenticator,
    /// Serialises read-modify-write cycles on inventories and assets, so two
    /// concurrent writers cannot overwrite each other's difference.
    write_lock: Mutex<()>,
}

/// What one service handler hands back before the HEAD/204 rules apply.
pub(crate) struct Ctx<'a> {
    pub svc: &'a RestService,
    pub req: &'a RestRequest,
    pub routed: &'a Routed,
    /// Upper case.
    pub method: String,
}

impl Ctx<'_> {
    /// The request body as an XML fragment, within the service's limits.
    pub fn body_xml(&self) -> Result<Vec<xml::Element>, RestError> {
        let limits = XmlLimits {
            max_depth: self.svc.limits.max_xml_depth,
            max_nodes: self.svc.limits.max_xml_nodes,
            max_attributes_per_element: self.svc.limits.max_xml_attributes_per_element,
        };
        Ok(xml::parse_fragment(&self.req.body, limits)?)
    }
}

impl RestService {
    pub fn new(config: RestConfig, store: Arc<Store>) -> RestService {
        RestService::with_limits(config, store, RestLimits::default(), SceneLimits::default())
    }

    /// A service whose failed logins count in `login` (the host shares one
    /// throttle between CreateCapability and REST).
    pub fn with_login(config: RestConfig, store: Arc<Store>, login: Arc<dispatcher_guard::LoginThrottle>) -> RestService {
        RestService::build(config, store, RestLimits::default(), SceneLimits::default(), login)
    }

    pub fn with_limits(config: RestConfig, store: Arc<Store>, limits: RestLimits, scene_limits: SceneLimits) -> RestService {
        RestService::build(config, store, limits, scene_limits, Arc::new(dispatcher_guard::LoginThrottle::default()))
    }

    fn build(
        config: RestConfig,
        store: Arc<Store>,
        limits: RestLimits,
        scene_limits: SceneLimits,
        login: Arc<dispatcher_guard::LoginThrottle>,
    ) -> RestService {
        if config.active() {
            if AuthScheme::parse(&config.auth_scheme).is_none() {
                tracing::warn!(scheme = %config.auth_scheme, "unknown REST auth-scheme; using Basic");
            }
            if !config.prefix.trim().starts_with('/') {
                tracing::warn!(prefix = %config.prefix, "REST prefix does not begin with '/'; one was prepended");
            }
            tracing::info!(
                prefix = %config.normalised_prefix(),
                authenticate = config.authenticate,
                scheme = ?config.scheme(),
                secured = config.secured,
                extended_escape = config.extended_escape,
                dump_asset = config.dump_asset,
                files = ?config.files_root,
                "REST inventory interface enabled"
            );
        }
        RestService {
            prefix: config.normalised_prefix(),
            auth: Authenticator::new(&config, &limits, login),
            config,
            limits,
            scene_limits,
            store,
            write_lock: Mutex::new(()),
        }
    }

    pub fn limits(&self) -> &RestLimits {
        &self.limits
    }

    pub fn config(&self) -> &RestConfig {
        &self.config
    }

    fn services(&self) -> Vec<Service> {
        let mut s = vec![Service::Inventory, Service::Assets, Service::Appearance];
        if self.config.files_root.is_some() {
            s.push(Service::Files);
        }
        s
    }

    fn route(&self, path: &str) -> Option<Routed> {
        if !self.config.active() {
            return None;
        }
        uri::route(&self.prefix, path, self.config.extended_escape, &self.services())
    }

    /// True when this interface serves `path` (the raw request target); the
    /// host answers everything else itself.
    pub fn handles(&self, path: &str) -> bool {
        self.route(path).is_some()
    }

    /// Answer one request. Never panics on input; every failure becomes a
    /// status page.
    pub fn handle(&self, req: &RestRequest) -> RestResponse {
        let Some(routed) = self.route(&req.path) else {
            return RestResponse::error(&req.method, &RestError::not_found("not served here"));
        };
        let method = req.method.to_ascii_uppercase();
        match self
            .auth
            .check(&self.store, &req.method, req.header("authorization"), req.peer.ip())
        {
            AuthOutcome::Granted => {}
            AuthOutcome::Challenge => {
                let mut r = RestResponse::error(&req.method, &RestError::new(401, ""));
                for value in self.auth.challenge(&routed.service_prefix) {
                    r.headers.push(("WWW-Authenticate".into(), value));
                }
                return r.finish(&method);
            }
            AuthOutcome::BadRequest(why) => return RestResponse::error(&req.method, &RestError::bad_request(why)).finish(&method),
            AuthOutcome::Throttled(t) => {
                let secs = t.retry_after_secs();
                let e = RestError::new(429, format!("too many failed authentication attempts from this address; retry in {secs} s"));
                let mut r = RestResponse::error(&req.method, &e);
                r.headers.push(("Retry-After".into(), secs.to_string()));
                return r.finish(&method);
            }
        }
        if req.body_too_large {
            let e = RestError::new(413, format!("request body exceeds {} bytes", self.limits.max_body_bytes));
            return RestResponse::error(&req.method, &e).finish(&method);
        }
        let ctx = Ctx {
            svc: self,
            req,
            routed: &routed,
            method: method.clone(),
        };
        let result = match routed.service {
            Service::Inventory => inventory::handle(&ctx),
            Service::Assets => assets::handle(&ctx),
            Service::Appearance => appearance::handle(&ctx),
            Service::Files => files::handle(&ctx),
        };
        match result {
            Ok(r) => r,
            Err(e) => RestResponse::error(&req.method, &e),
        }
        .finish(&method)
    }

    /// Take the write lock, waiting at most `store_wait_ms` (§6.2's timeout).
    pub(crate) fn write_guard(&self) -> Result<parking_lot::MutexGuard<'_, ()>, RestError> {
        self.write_lock
            .try_lock_for(Duration::from_millis(self.limits.store_wait_ms))
            .ok_or_else(|| RestError::new(500, "inventory server not responding"))
    }
}
