//! What a handler sees: the request's authorised context and the shared services.

use std::net::IpAddr;
use std::sync::Arc;

use dispatcher_protocol::{DeError, Reply};
use parking_lot::RwLock;
use uuid::Uuid;

use crate::capabilities::CapabilityStore;
use crate::config::DispatcherConfig;
use crate::directory::Directory;
use crate::endpoints::EndpointRegistry;
use crate::events::EventBus;
use crate::ipfilter::IpFilter;
use crate::pipeline::{Bindings, Transport};
use crate::pool::AsyncPool;
use crate::registry::Registry;
use crate::stats::Stats;

/// The account a capability authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthUser {
    pub id: Uuid,
    pub name: String,
    pub capability: Uuid,
}

/// Everything the pipeline and the handlers share. Owned by the [`crate::Dispatcher`].
pub struct Services {
    pub config: DispatcherConfig,
    pub capabilities: CapabilityStore,
    pub endpoints: EndpointRegistry,
    pub directory: Arc<dyn Directory>,
    pub registry: Registry,
    pub stats: Stats,
    pub pool: AsyncPool,
    pub bindings: RwLock<Bindings>,
    pub ip_filter: IpFilter,
    /// The scene event stream shared by callbacks and scripts.
    pub events: EventBus,
    /// Failed-login backoff, shared with the REST service by the server.
    pub login: Arc<dispatcher_guard::LoginThrottle>,
}

/// One request's context after authorisation.
#[derive(Clone)]
pub struct RequestContext {
    pub type_name: String,
    /// `_Scene`, filled in from the capability when the request left it empty.
    pub scene: String,
    pub domain: String,
    pub capability: Uuid,
    /// `None` when authentication is off (quirk Q30: handlers that need a user
    /// reply with a clean Failure via [`RequestContext::require_user`]).
    pub user: Option<AuthUser>,
    pub source: IpAddr,
    pub transport: Transport,
    pub services: Arc<Services>,
}

impl RequestContext {
    /// The authenticated user, or a Failure explaining that one is needed.
    pub fn require_user(&self) -> Result<&AuthUser, HandlerError> {
        self.user
            .as_ref()
            .ok_or_else(|| HandlerError::Failure("this request needs an authenticated user; enable UseAuthentication or send a capability".into()))
    }
}

/// A handler's failure. `Display` is the `_Message` text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HandlerError {
    /// The request did not bind to its type (wrong member types, bad values).
    #[error("Fatal error; {0}")]
    Bind(DeError),
    /// An expected failure with the protocol's own text.
    #[error("{0}")]
    Failure(String),
    /// An unexpected internal failure (store unavailable, invariant broken).
    #[error("Fatal error; {0}")]
    Internal(String),
}

impl From<DeError> for HandlerError {
    fn from(e: DeError) -> Self {
        HandlerError::Bind(e)
    }
}

impl HandlerError {
    pub fn failure(message: impl Into<String>) -> Self {
        HandlerError::Failure(message.into())
    }

    pub fn into_reply(self) -> Reply {
        Reply::failure(self.to_string())
    }
}
