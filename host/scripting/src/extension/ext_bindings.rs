//! The `domain-extension` world's `bindgen!`: every interface it shares with
//! `region-script` is the very module of `crate::bindings` (`with`), so one
//! `Host` impl per interface serves scripts and extensions alike; only the
//! `extension` interface and the `domain` export are generated here.

wasmtime::component::bindgen!({
    world: "domain-extension",
    path: "../../wit",
    imports: { default: trappable },
    with: {
        "opensim:dispatcher/types": crate::bindings::opensim::dispatcher::types,
        "opensim:dispatcher/messages": crate::bindings::opensim::dispatcher::messages,
        "opensim:dispatcher/objects": crate::bindings::opensim::dispatcher::objects,
        "opensim:dispatcher/parts": crate::bindings::opensim::dispatcher::parts,
        "opensim:dispatcher/assets": crate::bindings::opensim::dispatcher::assets,
        "opensim:dispatcher/avatars": crate::bindings::opensim::dispatcher::avatars,
        "opensim:dispatcher/chat": crate::bindings::opensim::dispatcher::chat,
        "opensim:dispatcher/terrain": crate::bindings::opensim::dispatcher::terrain,
        "opensim:dispatcher/region": crate::bindings::opensim::dispatcher::region,
        "opensim:dispatcher/timers": crate::bindings::opensim::dispatcher::timers,
        "opensim:dispatcher/storage": crate::bindings::opensim::dispatcher::storage,
        "opensim:dispatcher/log": crate::bindings::opensim::dispatcher::log,
    },
});

use crate::instance::HostState;
use opensim::dispatcher::extension::Host;

/// `extension`: facts fixed at install; no grant, no failure. A store
/// without an extension (never linked so) answers empty values.
impl Host for HostState {
    fn extension_id(&mut self) -> wasmtime::Result<String> {
        Ok(self.ext.as_ref().map(|e| e.id.to_string()).unwrap_or_default())
    }

    fn domain_name(&mut self) -> wasmtime::Result<String> {
        Ok(self.ext.as_ref().map(|e| e.domain.clone()).unwrap_or_default())
    }

    fn install_scope(&mut self) -> wasmtime::Result<Option<String>> {
        Ok(self.ext.as_ref().and_then(|e| e.scope.clone()))
    }

    fn config(&mut self) -> wasmtime::Result<String> {
        Ok(self.ext.as_ref().map(|e| e.config.clone()).unwrap_or_default())
    }

    fn installer_id(&mut self) -> wasmtime::Result<String> {
        Ok(self.ext.as_ref().map(|e| e.installer_id.to_string()).unwrap_or_default())
    }
}
