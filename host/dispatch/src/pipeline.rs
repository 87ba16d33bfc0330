//! The request pipeline (dispatcher-core.md §4), shared by every transport.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dispatcher_protocol::{decode_request, DecodeError, DecodeLimits, DecodedRequest, Encoding, Reply};
use dispatcher_guard::escape;
use parking_lot::RwLock;

use crate::capabilities::CapabilityStore;
use crate::config::DispatcherConfig;
use crate::context::{AuthUser, HandlerError, RequestContext, Services};
use crate::directory::Directory;
use crate::endpoints::{with_request_budget, CallbackLimits, CallbackSink, EndpointRegistry};
use crate::ipfilter::IpFilter;
use crate::pool::AsyncPool;
use crate::registry::{HandlerFn, Registry};
use crate::stats::Stats;

/// Where a request came from. UDP and script requests differ from HTTP in the
/// ways the spec lists: no path domain, forced asynchronous processing for UDP,
/// and no reply for UDP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    /// HTTP POST; `path_domain` is the default `_Domain` taken from the URL.
    Http { path_domain: String },
    /// One UDP datagram: always asynchronous, never answered.
    Udp,
    /// A call from a WebAssembly script running in the host.
    Script,
}

/// The advertised bindings, known once the listeners are bound.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bindings {
    /// `host:udpport`
    pub asynchronous: String,
    /// `http://host:port/Dispatcher/`
    pub synchronous: String,
}

/// The message path. Cheap to clone; every clone shares the same services.
#[derive(Clone)]
pub struct Dispatcher {
    services: Arc<Services>,
    limits: DecodeLimits,
}

const PRE_AUTH_TYPES: [&str; 3] = [
    "Dispatcher.Messages.InfoRequest",
    "Dispatcher.Messages.MessageFormatRequest",
    "Dispatcher.Messages.CreateCapabilityRequest",
];

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
            registry: Registry::new(),
            stats: Stats::default(),
            pool,
            bindings: RwLock::new(Bindings::default()),
            ip_filter,
            events: crate::events::EventBus::new(),
            login,
        });
        crate::domain::register(&services.registry);
        Dispatcher { services, limits }
    }

    pub fn services(&self) -> &Arc<Services> {
        &self.services
    }

    pub fn registry(&self) -> &Registry {
        &self.services.registry
    }

    pub fn limits(&self) -> &DecodeLimits {
        &self.limits
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
        let request = match decode_request(bytes, encoding, &self.limits) {
            Ok(r) => r,
            Err(e) => return self.answer(&transport, failure_for_decode(e)),
        };
        // Callbacks a request causes are bounded by its own size (no endpoint is
        // verified: the original clients answer no handshake).
        let factor = u64::from(self.services.config.callback_bytes_per_request_byte);
        let budget = Some((bytes.len() as u64).saturating_mul(factor));
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
        let type_name = request.type_name.clone();

        // Pre-authentication messages: synchronous, no capability, domain or scene.
        if let Some(handler) = services.registry.pre_auth(&type_name) {
            if transport == Transport::Udp {
                // Quirk Q6 fixed: their result could never reach anyone.
                tracing::info!(%source, type_name = %escape(&type_name), "pre-authentication message over UDP ignored");
                return None;
            }
            let ctx = self.context(&request, None, source, transport.clone());
            return Some(run(&*handler, &ctx, &request, budget));
        }

        // Unregistered names fail before authorisation, as a decode error would.
        if !services.registry.is_request_type(&type_name) {
            return self.answer(&transport, Reply::failure(format!("Unknown message type; {type_name}")));
        }

        let mut user = None;
        if services.config.use_authentication {
            let cap = match services.capabilities.authorize(
                request.envelope.capability.0,
                &request.envelope.domain,
                &request.envelope.scene,
            ) {
                Ok(cap) => cap,
                Err(e) => return self.answer(&transport, Reply::failure(e.to_string())),
            };
            if request.envelope.scene.is_empty() {
                request.envelope.scene = cap.scene.clone();
            }
            user = Some(AuthUser {
                id: cap.user_id,
                name: cap.user_name,
                capability: cap.id,
            });
        }

        let Some(handler) = services
            .registry
            .lookup(&request.envelope.scene, &request.envelope.domain, &type_name)
        else {
            return self.answer(&transport, Reply::failure(format!("Unknown message type; {type_name}")));
        };

        let ctx = self.context(&request, user, source, transport.clone());
        if request.envelope.async_request || transport == Transport::Udp {
            let key = if ctx.capability.is_nil() { source.to_string() } else { ctx.capability.to_string() };
            let stats_services = services.clone();
            let job = Box::new(move || {
                let reply = run(&*handler, &ctx, &request, budget);
                if !reply.is_success() {
                    tracing::info!(type_name = %escape(&ctx.type_name), message = %escape(&reply.message), "queued request failed");
                }
                stats_services.stats.record(&ctx.type_name, started.elapsed());
            });
            return match services.pool.submit(&key, job) {
                Ok(()) => self.answer(&transport, Reply::queued()),
                Err(e) => self.answer(&transport, Reply::failure(e.to_string())),
            };
        }
        let reply = run(&*handler, &ctx, &request, budget);
        services.stats.record(&type_name, started.elapsed());
        Some(reply)
    }

    fn context(&self, request: &DecodedRequest, user: Option<AuthUser>, source: IpAddr, transport: Transport) -> RequestContext {
        RequestContext {
            type_name: request.type_name.clone(),
            scene: request.envelope.scene.clone(),
            domain: request.envelope.domain.clone(),
            capability: request.envelope.capability.0,
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

fn failure_for_decode(e: DecodeError) -> Reply {
    Reply::failure(e.to_string())
}

/// Run a handler, turning its error or panic into a Failure reply.
fn run(handler: &HandlerFn, ctx: &RequestContext, request: &DecodedRequest, budget: Option<u64>) -> Reply {
    let call = || with_request_budget(budget, || handler(ctx, request));
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)) {
        Ok(Ok(reply)) => reply,
        Ok(Err(e)) => e.into_reply(),
        Err(panic) => {
            let text = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "handler panicked".into());
            tracing::error!(type_name = %escape(&ctx.type_name), error = %escape(&text), "handler panicked");
            HandlerError::Internal(text).into_reply()
        }
    }
}
