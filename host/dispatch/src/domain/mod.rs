//! The `Dispatcher` message domain (dispatcher-core.md §6): one module per family.

mod capability;
mod endpoint;
mod info;

use crate::registry::Registry;
use crate::DISPATCHER_DOMAIN;

/// Register the core's eight request types.
pub fn register(registry: &Registry) {
    registry.register_pre_auth(info::info);
    registry.register_pre_auth(info::message_format);
    registry.register_pre_auth(capability::create);
    registry.register(None, DISPATCHER_DOMAIN, capability::renew);
    registry.register(None, DISPATCHER_DOMAIN, capability::destroy);
    registry.register(None, DISPATCHER_DOMAIN, endpoint::create);
    registry.register(None, DISPATCHER_DOMAIN, endpoint::renew);
    registry.register(None, DISPATCHER_DOMAIN, endpoint::close);
}
