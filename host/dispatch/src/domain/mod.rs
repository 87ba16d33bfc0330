//! The `Dispatcher` message domain (dispatcher-core.md §6): one module per family.

mod capability;
mod endpoint;
mod info;
mod subscribe;

use std::sync::Arc;

use crate::capabilities::DISPATCHER_DOMAIN;
use crate::registry::Registry;

/// Register the core's eight request types and SubscribeRequest.
pub fn register(registry: &Arc<Registry>) {
    // Weak: the registry holds these handlers.
    let weak = Arc::downgrade(registry);
    registry.register_pre_auth(DISPATCHER_DOMAIN, move |ctx, req| info::info(&weak, ctx, req));
    let weak = Arc::downgrade(registry);
    registry.register_pre_auth(DISPATCHER_DOMAIN, move |ctx, req| info::message_format(&weak, ctx, req));
    registry.register_pre_auth(DISPATCHER_DOMAIN, capability::create);
    registry.register(None, DISPATCHER_DOMAIN, capability::renew);
    registry.register(None, DISPATCHER_DOMAIN, capability::destroy);
    registry.register(None, DISPATCHER_DOMAIN, endpoint::create);
    registry.register(None, DISPATCHER_DOMAIN, endpoint::renew);
    registry.register(None, DISPATCHER_DOMAIN, endpoint::close);
    registry.register(None, DISPATCHER_DOMAIN, subscribe::subscribe);
}
