//! The services the pipeline and the handlers share.

use std::sync::Arc;

use parking_lot::RwLock;

use crate::capabilities::CapabilityStore;
use crate::config::DispatcherConfig;
use crate::directory::Directory;
use crate::endpoints::EndpointRegistry;
use crate::events::EventBus;
use crate::ipfilter::IpFilter;
use crate::pool::AsyncPool;
use crate::stats::Stats;
use crate::transport::Bindings;

/// Everything the pipeline and the handlers share. Owned by the `Dispatcher`
/// (which also owns the handler registry, kept apart so that the handlers'
/// context does not reach back into it).
pub struct Services {
    pub config: DispatcherConfig,
    pub capabilities: CapabilityStore,
    pub endpoints: EndpointRegistry,
    pub directory: Arc<dyn Directory>,
    pub stats: Stats,
    pub pool: AsyncPool,
    pub bindings: RwLock<Bindings>,
    pub ip_filter: IpFilter,
    /// The scene event stream shared by callbacks and scripts.
    pub events: EventBus,
    /// Failed-login backoff, shared with the REST service by the server.
    pub login: Arc<dispatcher_guard::LoginThrottle>,
}
