//! Handlers, one file per message family, and their wiring.
//!
//! Every handler has the shape
//! `fn(&RemoteControl, &RegionHost, &RequestContext, M) -> Result<M::Reply, HandlerError>`
//! (`M: Request`, its reply type declared beside it in `dispatcher-messages`)
//! and is registered with [`Router::route`]: the scene's objects in
//! [`register_object_messages`], its shared resources (assets, avatars, chat,
//! sun, terrain) in [`register_region_messages`].

pub mod archive;
pub mod asset;
pub mod avatar;
pub mod chat;
pub mod event;
pub mod object;
pub mod part;
pub mod region;
pub mod terrain;
pub mod touch;

use std::sync::{Arc, Weak};

use dispatcher_dispatch::{HandlerError, Registry, RequestContext};
use dispatcher_protocol::Request;

use crate::region_host::RegionHost;
use crate::RemoteControl;

/// Registers handlers of one region under the configured domain.
pub struct Router<'a> {
    rc: &'a Arc<RemoteControl>,
    host: &'a Arc<RegionHost>,
    registry: &'a Registry,
    domain: &'a str,
}

impl<'a> Router<'a> {
    pub(crate) fn new(rc: &'a Arc<RemoteControl>, host: &'a Arc<RegionHost>, registry: &'a Registry, domain: &'a str) -> Self {
        Router {
            rc,
            host,
            registry,
            domain,
        }
    }

    /// Register `f` for request type `M` in this router's region.
    pub fn route<M, F>(&self, f: F)
    where
        M: Request,
        F: Fn(&RemoteControl, &RegionHost, &RequestContext, M) -> Result<M::Reply, HandlerError> + Send + Sync + 'static,
    {
        // Weak: the registry lives in Services, which RemoteControl holds.
        let rc: Weak<RemoteControl> = Arc::downgrade(self.rc);
        let host = self.host.clone();
        self.registry.register::<M, _>(Some(&self.host.name), self.domain, move |ctx, req| {
            let rc = rc
                .upgrade()
                .ok_or_else(|| HandlerError::Internal("the RemoteControl domain has shut down".into()))?;
            f(&rc, &host, ctx, req)
        });
    }
}

pub(crate) fn register_all(r: &Router) {
    register_object_messages(r);
    register_region_messages(r);
}

/// The scene's objects: object, part and callback messages, touch injection.
fn register_object_messages(r: &Router) {
    r.route(object::find_objects);
    r.route(object::get_object_data);
    r.route(object::get_object_parts);
    r.route(object::get_object_inventory);
    r.route(object::get_object_position);
    r.route(object::set_object_position);
    r.route(object::get_object_rotation);
    r.route(object::set_object_rotation);
    r.route(object::bulk_dynamics);
    r.route(object::create_object);
    r.route(object::create_bulk_objects);
    r.route(object::delete_object);
    r.route(object::delete_bulk_objects);
    r.route(object::delete_all_objects);
    r.route(object::message_object);
    r.route(part::set_part_position);
    r.route(part::set_part_rotation);
    r.route(part::set_part_scale);
    r.route(part::set_part_color);
    r.route(event::register_touch_callback);
    r.route(event::unregister_touch_callback);
    r.route(event::register_updated_callback);
    r.route(event::unregister_updated_callback);
    r.route(touch::touch_object);
}

/// The region's shared resources: asset, avatar, chat, sun and terrain
/// messages. One `r.route(module::handler_fn)` line per request type, handler
/// functions living in `handlers/{asset,avatar,chat,region,terrain}.rs` with
/// the shape documented on this module.
fn register_region_messages(r: &Router) {
    r.route(archive::import_oar);
    r.route(archive::export_oar);
    r.route(asset::test_asset);
    r.route(asset::get_asset);
    r.route(asset::add_asset);
    r.route(asset::add_asset_alias);
    r.route(asset::get_asset_from_object);
    r.route(asset::get_dependent_assets);
    r.route(avatar::get_avatar_appearance);
    r.route(avatar::set_avatar_appearance);
    r.route(chat::chat);
    r.route(region::get_sun_parameters);
    r.route(region::set_sun_parameters);
    r.route(terrain::get_terrain_height);
    r.route(terrain::set_terrain_height);
}
