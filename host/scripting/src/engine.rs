//! The one wasm engine and its compiled-code cache.
//!
//! Components are compiled once, keyed by the SHA-256 of their bytes and a hash
//! of the engine's configuration, kept in memory as a pre-linked
//! [`RegionScriptPre`] and on disk under `<data>/script-cache/` so that a host
//! restart deserialises instead of recompiling (Python and JavaScript guests
//! take seconds to compile).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::bindings::RegionScriptPre;
use crate::error::ScriptingError;
use crate::instance::HostState;
use crate::limits::ScriptingLimits;

/// The interface every script must export.
pub const HANDLERS_EXPORT: &str = "opensim:dispatcher/handlers@0.1.0";
/// Import prefixes a component may use: our package and the WASI subset guest
/// runtimes need (Rust's std links io and cli; clocks and random are harmless).
/// Filesystem, sockets and http are refused by name at upload.
pub const ALLOWED_IMPORT_PREFIXES: &[&str] = &[
    "opensim:dispatcher/",
    "wasi:io/",
    "wasi:cli/",
    "wasi:clocks/",
    "wasi:random/",
];

/// A compiled, pre-linked component.
#[derive(Clone)]
pub struct Compiled {
    pub pre: RegionScriptPre<HostState>,
    pub hash: String,
}

pub struct ScriptEngine {
    pub engine: Engine,
    linker: Linker<HostState>,
    cache_dir: PathBuf,
    config_hash: String,
    compiled: Mutex<HashMap<String, Compiled>>,
}

/// Hex SHA-256 of the bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn engine_config(limits: &ScriptingLimits) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    // Fuel is counted (FuelConsumed, optional EventFuelLimit); the CPU budget
    // is an epoch deadline driven by the host's 1 ms ticker.
    config.consume_fuel(true);
    config.epoch_interruption(true);
    config.max_wasm_stack(limits.max_wasm_stack_bytes);
    // Explicit bounds checks in a small reservation: thousands of instances
    // must fit in the address space; each memory is capped at the limit anyway.
    let reservation = limits.memory_limit_bytes as u64;
    config.memory_reservation(reservation);
    config.memory_guard_size(64 * 1024);
    config.memory_reservation_for_growth(0);
    let mut pool = PoolingAllocationConfig::default();
    let instances = limits.pool_instances.max(1);
    pool.total_component_instances(instances);
    // Rust guests hold a few core instances and one or two memories; the
    // JavaScript and Python runtimes more. Generous per-component counts, a
    // shared total.
    pool.total_core_instances(instances.saturating_mul(8));
    pool.total_memories(instances.saturating_mul(2));
    pool.total_tables(instances.saturating_mul(8));
    pool.max_memories_per_component(8);
    pool.max_tables_per_component(32);
    pool.max_tables_per_module(4);
    pool.max_memory_size(limits.memory_limit_bytes);
    pool.table_elements(100_000);
    pool.max_core_instances_per_component(64);
    pool.max_component_instance_size(1 << 20);
    pool.max_core_instance_size(1 << 20);
    // Small tables are reset with a memset instead of madvise when a slot is
    // reused: no page faults on the next instantiation.
    pool.table_keep_resident(16 * 1024);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}

impl ScriptEngine {
    pub fn new(limits: &ScriptingLimits, data_dir: &Path) -> Result<ScriptEngine, ScriptingError> {
        let engine = Engine::new(&engine_config(limits)).map_err(|e| ScriptingError::Engine(format!("{e:#}")))?;
        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| ScriptingError::Engine(format!("{e:#}")))?;
        // Blocking waits bounded by the event's budget and interrupt flag.
        linker.allow_shadowing(true);
        crate::wait::shadow_blocking_waits(&mut linker).map_err(|e| ScriptingError::Engine(format!("{e:#}")))?;
        linker.allow_shadowing(false);
        crate::bindings::RegionScript::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)
            .map_err(|e| ScriptingError::Engine(format!("{e:#}")))?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        // The pooling limits are part of what a cached artefact was built for.
        format!("{limits:?}").hash(&mut hasher);
        let cache_dir = data_dir.join("script-cache");
        std::fs::create_dir_all(&cache_dir).map_err(|source| ScriptingError::Cache {
            path: cache_dir.clone(),
            source,
        })?;
        Ok(ScriptEngine {
            engine,
            linker,
            cache_dir,
            config_hash: format!("{:016x}", hasher.finish()),
            compiled: Mutex::new(HashMap::new()),
        })
    }

    fn cache_path(&self, hash: &str) -> PathBuf {
        self.cache_dir.join(format!("{hash}-{}.cwasm", self.config_hash))
    }

    /// Validate and compile `bytes` (or fetch them from the caches). The error
    /// text is the Failure message an upload gets.
    pub fn load(&self, bytes: &[u8]) -> Result<Compiled, String> {
        let hash = sha256_hex(bytes);
        if let Some(c) = self.compiled.lock().get(&hash) {
            return Ok(c.clone());
        }
        check_header(bytes)?;
        let component = self.compile(&hash, bytes)?;
        check_imports_exports(&self.engine, &component)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| format!("component does not fit the region-script world: {e:#}"))?;
        let pre = RegionScriptPre::new(pre).map_err(|e| format!("component does not fit the region-script world: {e:#}"))?;
        let compiled = Compiled { pre, hash: hash.clone() };
        self.compiled.lock().insert(hash, compiled.clone());
        Ok(compiled)
    }

    fn compile(&self, hash: &str, bytes: &[u8]) -> Result<Component, String> {
        let path = self.cache_path(hash);
        if path.exists() {
            // SAFETY: the file was written by `Component::serialize` of an engine
            // with this very configuration hash, into the host's own data
            // directory; nothing else writes there.
            match unsafe { Component::deserialize_file(&self.engine, &path) } {
                Ok(c) => return Ok(c),
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "unusable cached component; recompiling"),
            }
        }
        let component = Component::from_binary(&self.engine, bytes).map_err(|e| format!("invalid component: {e:#}"))?;
        match component.serialize() {
            Ok(artefact) => {
                let tmp = path.with_extension("tmp");
                if let Err(e) = std::fs::write(&tmp, artefact).and_then(|()| std::fs::rename(&tmp, &path)) {
                    tracing::warn!(path = %path.display(), error = %e, "cannot cache compiled component");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot serialise compiled component"),
        }
        Ok(component)
    }

    /// A component already compiled in this process.
    pub fn cached(&self, hash: &str) -> Option<Compiled> {
        self.compiled.lock().get(hash).cloned()
    }

    /// Components compiled so far (for tests and the console).
    pub fn compiled_count(&self) -> usize {
        self.compiled.lock().len()
    }
}

/// Refuse what is not a component before handing it to the compiler, with a
/// message that says what it is instead.
fn check_header(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err("not a WebAssembly component: the bytes do not start with the wasm magic number".into());
    }
    match &bytes[4..8] {
        [1, 0, 0, 0] => Err("a core WebAssembly module, not a component: build for wasm32-wasip2 or wrap it with `wasm-tools component new`".into()),
        [_, _, 1, 0] => Ok(()),
        _ => Err("not a WebAssembly component: unknown binary version or layer".into()),
    }
}

fn check_imports_exports(engine: &Engine, component: &Component) -> Result<(), String> {
    let ty = component.component_type();
    let refused: Vec<String> = ty
        .imports(engine)
        .map(|(name, _)| name.to_owned())
        .filter(|name| !ALLOWED_IMPORT_PREFIXES.iter().any(|p| name.starts_with(p)))
        .collect();
    if !refused.is_empty() {
        return Err(format!(
            "imports not allowed for scripts: {} (allowed: opensim:dispatcher/*, wasi:io, wasi:cli, wasi:clocks, wasi:random)",
            refused.join(", ")
        ));
    }
    if !ty.exports(engine).any(|(name, _)| name == HANDLERS_EXPORT) {
        return Err(format!(
            "the component does not export {HANDLERS_EXPORT}: not built for the region-script world"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        assert!(check_header(b"hello world").unwrap_err().contains("magic"));
        assert!(check_header(b"\0asm\x01\0\0\0").unwrap_err().contains("core WebAssembly module"));
        assert!(check_header(b"\0asm\x0d\0\x01\0").is_ok());
    }
}
