//! `self`: facts fixed at instantiation; no grant, no failure.

use crate::bindings::opensim::dispatcher::self_::Host;
use crate::instance::HostState;

impl Host for HostState {
    fn script_id(&mut self) -> wasmtime::Result<String> {
        Ok(self.script.info().id.to_string())
    }

    fn object_id(&mut self) -> wasmtime::Result<String> {
        Ok(self.script.info().object_id.to_string())
    }

    fn owner_id(&mut self) -> wasmtime::Result<String> {
        Ok(self.script.info().owner_id.to_string())
    }

    fn region_name(&mut self) -> wasmtime::Result<String> {
        Ok(self.script.info().region.clone())
    }

    fn start_parameter(&mut self) -> wasmtime::Result<String> {
        Ok(self.script.info().start_parameter.clone())
    }
}
