//! Scenes served by another host (grid mode, docs/grid.md): the step of the
//! byte entry that resolves a request's scene and says whether it runs here
//! or goes to the scene's owner. The pipeline does no I/O, so it only decides;
//! the transport (the server's HTTP and UDP listeners) forwards the original
//! bytes and returns the owner's reply unchanged.
//!
//! A standalone host installs no [`RemoteScenes`]: `Dispatcher::route` (route.rs) is
//! then one empty `OnceLock` read and every request is [`Route::Local`].
//!
//! What is forwarded: a request whose domain is not `Dispatcher` (capabilities,
//! info and message formats are answered where they arrive), or that is one of
//! the endpoint messages (an endpoint lives on the host serving its
//! capability's scene, which sends the callbacks), and
//! whose scene (its `_Scene`, or its capability's scene when it names none) is
//! served elsewhere. The capability is checked here before forwarding
//! (capabilities are grid-wide, so this host knows them as well as the owner):
//! a request that the owner would refuse is refused here, without a hop, with
//! the same Failure the local pipeline gives. The owner checks it again.

use std::sync::{Arc, OnceLock};

/// The host serving a scene that this host does not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteOwner {
    /// Its `HostName`.
    pub host: String,
    /// Its `AdvertiseUrl` (scheme, host and port).
    pub url: String,
    /// Its lease's epoch: a new epoch is a new owner, even on the same host.
    pub epoch: i64,
}

/// Where a scene is served, as [`RemoteScenes::locate`] sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SceneHome {
    /// Served here, or not a scene of the grid at all (the local pipeline
    /// answers, e.g. with `Unknown message type`).
    Here,
    /// Served by another host.
    Remote(RemoteOwner),
    /// A scene of the grid that no host holds a live lease on now (its owner
    /// just failed; another host will claim it).
    Unowned,
}

/// Which host serves a scene; the server implements it on the grid's lease
/// cache. Called on every region-scoped request, so it must be a cache read.
pub trait RemoteScenes: Send + Sync {
    fn locate(&self, scene: &str) -> SceneHome;
}

/// What `Dispatcher::route` (route.rs) decided for one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// Run it here (`Dispatcher::handle_received`).
    Local,
    /// Forward the original bytes to the owner of `scene`.
    Remote { scene: String, owner: RemoteOwner },
    /// `scene` has no live owner now: wait for a takeover, or fail clearly.
    Unowned { scene: String },
    /// The capability does not allow the request: answer this Failure text
    /// here (the owner would answer the same), without a hop.
    Refused { message: String },
}

/// The pipeline's slot for the grid's [`RemoteScenes`], set once.
pub(crate) type RemoteSlot = Arc<OnceLock<Arc<dyn RemoteScenes>>>;
