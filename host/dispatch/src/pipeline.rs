//! The request pipeline (dispatcher-core.md §4), shared by every transport.
//!
//! Two entries share every step after decoding: [`Dispatcher::handle`] (and
//! `decode` + `handle_received` for a transport that picks the thread the
//! handler runs on, `handle_decoded`, `handle_datagram`) for request bytes, and
//! [`Dispatcher::call`] (call.rs) for typed requests from inside the host. Both
//! run [`Dispatcher::admit`] (pre-authentication, type check, authorisation,
//! registry lookup), build the handler's context with [`Dispatcher::context`],
//! run the handler under [`guarded`] (panics become Internal failures) and
//! record statistics; only the byte entry queues asynchronous requests.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dispatcher_guard::escape;
use dispatcher_protocol::{decode_request, DecodeLimits, DecodedRequest, Encoding, Reply};
use parking_lot::RwLock;
use uuid::Uuid;

use crate::capabilities::CapabilityStore;
use crate::config::DispatcherConfig;
use crate::context::{AuthUser, RequestContext};
use crate::directory::Directory;
use crate::endpoints::{with_request_budget, CallbackLimits, CallbackSink, EndpointRegistry};
use crate::error::{Failure, FailureKind, HandlerError};
use crate::ipfilter::IpFilter;
use crate::pool::{AsyncPool, SubmitError};
use crate::registry::{HandlerRef, Registry};
use crate::remote::RemoteSlot;
use crate::services::Services;
use crate::stats::{Outcome, Stats, UNKNOWN};
use crate::transport::{Bindings, Transport};

/// The message path. Cheap to clone; every clone shares the same services.
#[derive(Clone)]
pub struct Dispatcher {
    services: Arc<Services>,
    registry: Arc<Registry>,
    limits: DecodeLimits,
    /// Grid mode: where scenes served elsewhere are (remote.rs); empty standalone.
    remote: RemoteSlot,
}

const PRE_AUTH_TYPES: [&str; 3] = [
    "Dispatcher.Messages.InfoRequest",
    "Dispatcher.Messages.MessageFormatRequest",
    "Dispatcher.Messages.CreateCapabilityRequest",
];

/// What the shared steps decided for one request.
pub(crate) struct Admitted {
    pub handler: HandlerRef,
    /// The capability's account (authentication on, not pre-authentication).
    pub user: Option<AuthUser>,
    /// The capability's scene, when the request named none.
    pub bound_scene: Option<String>,
    /// A pre-authentication message: no capability, domain or scene checked.
    pub pre_auth: bool,
}

impl Dispatcher {
    /// Build the pipeline and register the `Dispatcher` domain.
    pub fn new(config: DispatcherConfig, directory: Arc<dyn Directory>, sink: Arc<dyn CallbackSink>, limits: DecodeLimits) -> Self {
        let endpoints = EndpointRegistry::with_limits(
            sink,
            CallbackLimits {
                min_lifespan: Duration::from_millis(config.max_inter_ping_time_ms),
                max_lifespan: Duration::from_millis(config.max_end_point_life_span_ms),
                datagrams_per_second: config.callback_datagrams_per_second,
                bytes_per_second: config.callback_bytes_per_second,
                bytes_per_request_byte: config.callback_bytes_per_request_byte,
            },
        );
        let login = Arc::new(dispatcher_guard::LoginThrottle::new(config.login.clone()));
        let pool = AsyncPool::new(config.max_async_threads, config.max_async_queue);
        let ip_filter = IpFilter::new(config.use_ip_address_filtering, &config.acceptable_ip_address_pattern);
        let services = Arc::new(Services {
            config,
            capabilities: CapabilityStore::new(),
            endpoints,
            directory,
            stats: Stats::default(),
            pool,
            bindings: RwLock::new(Bindings::default()),
            ip_filter,
            events: crate::events::EventBus::new(),
            login,
        });
        let registry = Arc::new(Registry::new());
        crate::domain::register(&registry);
        Dispatcher {
            services,
            registry,
            limits,
            remote: RemoteSlot::default(),
        }
    }

    pub fn services(&self) -> &Arc<Services> {
        &self.services
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn limits(&self) -> &DecodeLimits {
        &self.limits
    }

    pub(crate) fn remote_scenes(&self) -> &RemoteSlot {
        &self.remote
    }

    pub fn set_bindings(&self, bindings: Bindings) {
        *self.services.bindings.write() = bindings;
    }

    /// The source-address filter; transports apply it before reading a body.
    pub fn ip_allowed(&self, ip: IpAddr) -> bool {
        self.services.ip_filter.allows(ip)
    }

    /// Run one request body through the pipeline. `None` means no reply is sent
    /// (every UDP request).
    pub fn handle(&self, bytes: &[u8], encoding: Encoding, source: IpAddr, transport: Transport) -> Option<Reply> {
        let request = match self.decode(bytes, encoding) {
            Ok(r) => r,
            Err(failure) => return self.answer(&transport, failure),
        };
        self.handle_received(request, bytes.len(), source, transport)
    }

    /// The first step of `handle`: decode a request body under the limits; a
    /// body that does not decode gets its Failure reply. Cheap and bounded, so
    /// a transport decodes where the bytes arrived, then picks where
    /// [`Self::handle_received`] runs (HTTP: off the reactor when the type
    /// commits, see [`Self::commits`]).
    pub fn decode(&self, bytes: &[u8], encoding: Encoding) -> Result<DecodedRequest, Reply> {
        decode_request(bytes, encoding, &self.limits).map_err(|e| Reply::failure(e.to_string()))
    }

    /// The rest of `handle`, for a request decoded from a received body of
    /// `body_len` bytes: the callbacks it causes are bounded by that size (no
    /// endpoint is verified: the original clients answer no handshake).
    pub fn handle_received(&self, request: DecodedRequest, body_len: usize, source: IpAddr, transport: Transport) -> Option<Reply> {
        let factor = u64::from(self.services.config.callback_bytes_per_request_byte);
        let budget = Some((body_len as u64).saturating_mul(factor));
        self.handle_budgeted(request, source, transport, budget)
    }

    /// Run an already decoded request (scripts build theirs in memory); its
    /// callbacks have no per-request budget, only the endpoints' rates.
    pub fn handle_decoded(&self, request: DecodedRequest, source: IpAddr, transport: Transport) -> Option<Reply> {
        self.handle_budgeted(request, source, transport, None)
    }

    fn handle_budgeted(&self, mut request: DecodedRequest, source: IpAddr, transport: Transport, budget: Option<u64>) -> Option<Reply> {
        let started = Instant::now();
        let services = &self.services;
        if request.envelope.domain.is_empty() {
            if let Transport::Http { path_domain } = &transport {
                request.envelope.domain = path_domain.clone();
            }
        }
        let envelope = &request.envelope;
        let admitted = match self.admit(&request.type_name, envelope.capability.0, &envelope.domain, &envelope.scene, started) {
            Ok(a) => a,
            Err(failure) => {
                let type_name = if self.registry.is_request_type(&request.type_name) { request.type_name.as_str() } else { UNKNOWN };
                services
                    .stats
                    .record_request(UNKNOWN, type_name, &transport, Outcome::Failure, started.elapsed(), false);
                return self.answer(&transport, failure.into_reply());
            }
        };
        if admitted.pre_auth && transport == Transport::Udp {
            // Quirk Q6 fixed: their result could never reach anyone.
            tracing::info!(%source, type_name = %escape(&request.type_name), "pre-authentication message over UDP ignored");
            return None;
        }
        let scene = admitted.bound_scene.unwrap_or_else(|| request.envelope.scene.clone());
        let handler = admitted.handler;
        let ctx = self.context(&handler, scene, request.envelope.capability.0, admitted.user, source, transport.clone());
        if admitted.pre_auth {
            let reply = run_decoded(&handler, &ctx, &request, budget);
            services
                .stats
                .record_request(&ctx.domain, ctx.type_name, &transport, outcome(&reply), started.elapsed(), false);
            return Some(reply);
        }
        if request.envelope.async_request || transport == Transport::Udp {
            let key = if ctx.capability.is_nil() { source.to_string() } else { ctx.capability.to_string() };
            let stats_services = services.clone();
            let (domain, type_name) = (handler.domain().clone(), handler.type_name());
            let job = Box::new(move || {
                let reply = run_decoded(&handler, &ctx, &request, budget);
                if !reply.is_success() {
                    tracing::info!(type_name = %escape(ctx.type_name), message = %escape(&reply.message), "queued request failed");
                }
                stats_services
                    .stats
                    .record_request(&ctx.domain, ctx.type_name, &ctx.transport, outcome(&reply), started.elapsed(), true);
            });
            let (queued, result) = match services.pool.submit(&key, job) {
                Ok(()) => (Reply::queued(), Outcome::Async),
                Err(e) => (Failure::new(submit_kind(&e), e.to_string()).into_reply(), Outcome::Failure),
            };
            services
                .stats
                .record_request(&domain, type_name, &transport, result, started.elapsed(), false);
            return self.answer(&transport, queued);
        }
        let reply = run_decoded(&handler, &ctx, &request, budget);
        services
            .stats
            .record_request(&ctx.domain, ctx.type_name, &transport, outcome(&reply), started.elapsed(), true);
        Some(reply)
    }

    /// The steps every entry shares before the handler runs: pre-authentication
    /// messages pass unchecked; other types must be registered, authorised by
    /// the capability for `domain` and `scene` (when authentication is on), and
    /// have a handler there (scene-specific first). `now` is the request's
    /// arrival, which refreshes the capability's idle timer.
    pub(crate) fn admit(&self, type_name: &str, capability: Uuid, domain: &str, scene: &str, now: Instant) -> Result<Admitted, Failure> {
        let registry = &self.registry;
        match registry.classify(type_name) {
            Ok(Some(handler)) => {
                return Ok(Admitted {
                    handler,
                    user: None,
                    bound_scene: None,
                    pre_auth: true,
                })
            }
            Ok(None) => {}
            // Unregistered names fail before authorisation, as a decode error would.
            Err(()) => return Err(unknown_type(type_name)),
        }
        let mut user = None;
        let mut bound_scene = None;
        if self.services.config.use_authentication {
            let (auth, cap_scene) = self
                .services
                .capabilities
                .authorize_with(capability, domain, scene, now, |cap| {
                    let user = AuthUser {
                        id: cap.user_id,
                        name: cap.user_name.clone(),
                        capability: cap.id,
                    };
                    (user, scene.is_empty().then(|| cap.scene.clone()))
                })
                .map_err(|e| Failure::new(FailureKind::NotPermitted, e.to_string()))?;
            user = Some(auth);
            bound_scene = cap_scene;
        }
        let lookup_scene = bound_scene.as_deref().unwrap_or(scene);
        let handler = registry
            .lookup(lookup_scene, domain, type_name)
            .ok_or_else(|| unknown_type(type_name))?;
        Ok(Admitted {
            handler,
            user,
            bound_scene,
            pre_auth: false,
        })
    }

    /// The handler's context: one per request, whatever the entry.
    pub(crate) fn context(
        &self,
        handler: &HandlerRef,
        scene: String,
        capability: Uuid,
        user: Option<AuthUser>,
        source: IpAddr,
        transport: Transport,
    ) -> RequestContext {
        RequestContext {
            type_name: handler.type_name(),
            scene,
            domain: handler.domain().clone(),
            capability,
            user,
            source,
            transport,
            services: self.services.clone(),
        }
    }

    fn answer(&self, transport: &Transport, reply: Reply) -> Option<Reply> {
        match transport {
            Transport::Udp => {
                if !reply.is_success() {
                    tracing::info!(message = %escape(&reply.message), "UDP request failed");
                }
                None
            }
            _ => Some(reply),
        }
    }

    /// Whether a type name is one of the three pre-authentication messages.
    pub fn is_pre_auth(type_name: &str) -> bool {
        PRE_AUTH_TYPES.contains(&type_name)
    }

    /// Periodic work: expire endpoints and purge idle capabilities.
    pub fn sweep(&self) {
        self.services.endpoints.sweep();
        for capability in self.services.capabilities.purge() {
            self.services.endpoints.close_for_capability(capability);
        }
    }

    /// Drain the asynchronous queue and stop its workers.
    pub fn shutdown(&self) {
        self.services.pool.shutdown();
    }
}

/// A finished request's outcome for the statistics.
fn outcome(reply: &Reply) -> Outcome {
    if reply.is_success() {
        Outcome::Success
    } else {
        Outcome::Failure
    }
}

fn unknown_type(type_name: &str) -> Failure {
    Failure::new(FailureKind::NotFound, format!("Unknown message type; {type_name}"))
}

fn submit_kind(e: &SubmitError) -> FailureKind {
    match e {
        SubmitError::Full(_) => FailureKind::Limited,
        SubmitError::ShuttingDown => FailureKind::Failed,
    }
}

/// Run a handler, turning its panic into an Internal failure (logged).
pub(crate) fn guarded<R>(ctx: &RequestContext, f: impl FnOnce() -> Result<R, HandlerError>) -> Result<R, HandlerError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(panic) => {
            let text = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "handler panicked".into());
            tracing::error!(type_name = %escape(ctx.type_name), error = %escape(&text), "handler panicked");
            Err(HandlerError::Internal(text))
        }
    }
}

/// The byte entry's run: bind, call and encode under the request's callback
/// budget; an error or panic becomes a Failure reply.
fn run_decoded(handler: &HandlerRef, ctx: &RequestContext, request: &DecodedRequest, budget: Option<u64>) -> Reply {
    match guarded(ctx, || with_request_budget(budget, || handler.call_decoded(ctx, request))) {
        Ok(reply) => reply,
        Err(e) => e.into_reply(),
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::sync::Arc;

    use dispatcher_protocol::{DecodeLimits, Encoding, MessageType, Reply, Request};
    use serde::{Deserialize, Serialize};
    use uuid::Uuid;

    use super::Dispatcher;
    use crate::config::DispatcherConfig;
    use crate::directory::{Account, Directory, DirectoryError, SceneInfo};
    use crate::endpoints::NullSink;
    use crate::transport::Transport;

    #[derive(Debug, Default, Serialize, Deserialize)]
    #[serde(default)]
    struct PingRequest {}

    impl MessageType for PingRequest {
        const TYPE_NAME: &'static str = "Test.Messages.PingRequest";
    }

    impl Request for PingRequest {
        type Reply = Reply;
        const GRANT: &'static str = "dispatcher";
    }

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

    /// The `_Message` of the reply to a PingRequest for `scene` in domain `Test`.
    fn answer(dispatcher: &Dispatcher, scene: &str) -> String {
        let body = format!(r#"{{"$type":"Test.Messages.PingRequest","_Domain":"Test","_Scene":"{scene}"}}"#);
        let source = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let transport = Transport::Http {
            path_domain: String::new(),
        };
        dispatcher
            .handle(body.as_bytes(), Encoding::Json, source, transport)
            .map(|r| r.message)
            .unwrap_or_default()
    }

    fn marker(text: &'static str) -> impl Fn(&crate::context::RequestContext, PingRequest) -> Result<Reply, crate::error::HandlerError> {
        move |_, _| Ok(Reply::failure(text))
    }

    // dispatcher-core.md CORE-61 (the registry's scene-first lookup), pinned
    // here through the whole pipeline.
    #[test]
    fn core_61_scene_specific_handler_wins() {
        let config = DispatcherConfig {
            use_authentication: false,
            ..Default::default()
        };
        for scene_first in [false, true] {
            let d = Dispatcher::new(config.clone(), Arc::new(NoDirectory), Arc::new(NullSink), DecodeLimits::default());
            if scene_first {
                d.registry().register(Some("Harbor Island"), "Test", marker("scene"));
                d.registry().register(None, "Test", marker("generic"));
            } else {
                d.registry().register(None, "Test", marker("generic"));
                d.registry().register(Some("Harbor Island"), "Test", marker("scene"));
            }
            assert_eq!(answer(&d, "Harbor Island"), "scene");
            assert_eq!(answer(&d, "Other Island"), "generic");
            assert_eq!(answer(&d, "harbor island"), "generic", "scene names are case-sensitive");
            assert_eq!(answer(&d, ""), "generic");
            let keys = d.registry().keys();
            assert!(keys.contains(&"Harbor Island::Test::Test.Messages.PingRequest".to_string()), "{keys:?}");
            assert!(keys.contains(&"Test::Test.Messages.PingRequest".to_string()), "{keys:?}");
            // Removing the scene handler keeps the type and the generic handler (Q28).
            assert!(d.registry().unregister(Some("Harbor Island"), "Test", PingRequest::TYPE_NAME));
            assert_eq!(answer(&d, "Harbor Island"), "generic");
            d.shutdown();
        }
    }

    #[test]
    fn scene_handler_alone_does_not_serve_other_scenes() {
        let config = DispatcherConfig {
            use_authentication: false,
            ..Default::default()
        };
        let d = Dispatcher::new(config, Arc::new(NoDirectory), Arc::new(NullSink), DecodeLimits::default());
        d.registry().register(Some("Harbor Island"), "Test", marker("scene"));
        assert_eq!(answer(&d, "Harbor Island"), "scene");
        assert_eq!(answer(&d, "Other Island"), "Unknown message type; Test.Messages.PingRequest");
        d.shutdown();
    }
}
