//! What a handler sees: the request's authorised context and the shared services.

use std::net::IpAddr;
use std::sync::Arc;

use uuid::Uuid;

use crate::error::HandlerError;
use crate::services::Services;
use crate::transport::Transport;

/// The account a capability authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthUser {
    pub id: Uuid,
    pub name: String,
    pub capability: Uuid,
}

/// One request's context after authorisation.
#[derive(Clone)]
pub struct RequestContext {
    /// The registered request type's name.
    pub type_name: &'static str,
    /// `_Scene`, filled in from the capability when the request left it empty.
    pub scene: String,
    /// The domain the handler is registered under.
    pub domain: Arc<str>,
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
        self.user.as_ref().ok_or_else(|| {
            HandlerError::NotPermitted("this request needs an authenticated user; enable UseAuthentication or send a capability".into())
        })
    }
}
