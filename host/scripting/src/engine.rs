//! The one wasm engine and its compiled-code cache.
//!
//! Components are compiled once, keyed by the SHA-256 of their bytes and a hash
//! of the engine's configuration, kept in memory as a pre-linked
//! [`RegionScriptPre`] and on disk under `<data>/script-cache/` so that a host
//! restart deserialises instead of recompiling (Python and JavaScript guests
//! take seconds to compile).
//!
//! Compiling is bounded: before the compiler sees a component, its functions
//! are counted and its function bodies measured ([`code_shape`]) against
//! `MaxComponentFunctions` and `MaxFunctionBodyBytes`. Compiled code lives as
//! long as a script uses it: [`ScriptEngine::forget`] drops the in-memory entry
//! and deletes the cache file when the last script of a hash is removed, and
//! [`ScriptEngine::sweep_disk`] deletes at start whatever no script uses.

use std::collections::{HashMap, HashSet};
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
pub const ALLOWED_IMPORT_PREFIXES: &[&str] = &["opensim:dispatcher/", "wasi:io/", "wasi:cli/", "wasi:clocks/", "wasi:random/"];

/// A compiled, pre-linked component.
#[derive(Clone)]
pub struct Compiled {
    pub pre: RegionScriptPre<HostState>,
    pub hash: String,
    component: Component,
}

pub struct ScriptEngine {
    pub engine: Engine,
    linker: Linker<HostState>,
    cache_dir: PathBuf,
    config_hash: String,
    compiled: Mutex<HashMap<String, Compiled>>,
    max_functions: usize,
    max_body_bytes: usize,
}

/// What compiling a component will cost, read from its sections without
/// compiling: every nested core module and component counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CodeShape {
    /// Core functions with a body plus canonical functions (lift, lower and
    /// the resource and task built-ins), each of which the compiler turns into
    /// machine code.
    pub functions: usize,
    /// Bytes of all code sections.
    pub code_bytes: usize,
    /// The largest single function body.
    pub largest_body_bytes: usize,
}

/// Count a component's functions and measure its bodies. Reads section
/// headers only (no validation, no compilation): linear in the size and fast.
pub fn code_shape(bytes: &[u8]) -> Result<CodeShape, String> {
    use wasmparser::{Parser, Payload};
    let mut shape = CodeShape::default();
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(|e| format!("invalid component: {e}"))? {
            Payload::CodeSectionStart { count, size, .. } => {
                shape.functions = shape.functions.saturating_add(count as usize);
                shape.code_bytes = shape.code_bytes.saturating_add(size as usize);
            }
            Payload::CodeSectionEntry(body) => {
                shape.largest_body_bytes = shape.largest_body_bytes.max(body.range().len());
            }
            Payload::ComponentCanonicalSection(reader) => {
                shape.functions = shape.functions.saturating_add(reader.count() as usize);
            }
            _ => {}
        }
    }
    Ok(shape)
}

/// Hex SHA-256 of the bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn engine_config(limits: &ScriptingLimits) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    // One compile uses one thread: the compile pool's thread count
    // (`MaxConcurrentCompiles`) is then the number of cores compiling can
    // take, and request handling keeps the others.
    config.parallel_compilation(false);
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
            max_functions: limits.max_component_functions,
            max_body_bytes: limits.max_function_body_bytes,
        })
    }

    /// Everything that can refuse a component before it is compiled: the
    /// header and the compile limits. Cheap; runs on the caller's thread.
    pub fn precheck(&self, bytes: &[u8]) -> Result<CodeShape, String> {
        check_header(bytes)?;
        let shape = code_shape(bytes)?;
        if shape.functions > self.max_functions {
            return Err(format!(
                "component has {} functions, over MaxComponentFunctions ({}); refused before compiling (the host's [Scripting] MaxComponentFunctions must be raised to accept it)",
                shape.functions, self.max_functions
            ));
        }
        if shape.largest_body_bytes > self.max_body_bytes {
            return Err(format!(
                "component has a function body of {} bytes, over MaxFunctionBodyBytes ({}); refused before compiling (the host's [Scripting] MaxFunctionBodyBytes must be raised to accept it)",
                shape.largest_body_bytes, self.max_body_bytes
            ));
        }
        Ok(shape)
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
        self.precheck(bytes)?;
        let (component, fresh) = self.compile(&hash, bytes)?;
        let pre = check_imports_exports(&self.engine, &component).and_then(|()| {
            let pre = self
                .linker
                .instantiate_pre(&component)
                .map_err(|e| format!("component does not fit the region-script world: {e:#}"))?;
            RegionScriptPre::new(pre).map_err(|e| format!("component does not fit the region-script world: {e:#}"))
        })?;
        // Only a component that is accepted is cached on disk.
        if fresh {
            self.write_cache(&self.cache_path(&hash), &component);
        }
        let compiled = Compiled {
            pre,
            hash: hash.clone(),
            component,
        };
        self.compiled.lock().insert(hash, compiled.clone());
        Ok(compiled)
    }

    /// Check the limits and compile `bytes` (or read the disk cache) without
    /// linking to a world: the extension runtime links it to its own.
    pub fn load_component(&self, bytes: &[u8]) -> Result<Component, String> {
        let hash = sha256_hex(bytes);
        self.precheck(bytes)?;
        let (component, fresh) = self.compile(&hash, bytes)?;
        if fresh {
            self.write_cache(&self.cache_path(&hash), &component);
        }
        Ok(component)
    }

    /// Make sure a component a script is about to use is in both caches (a
    /// concurrent [`forget`](Self::forget) may have dropped it between its
    /// compile and the script's registration).
    pub fn keep(&self, compiled: &Compiled) {
        self.compiled
            .lock()
            .entry(compiled.hash.clone())
            .or_insert_with(|| compiled.clone());
        let path = self.cache_path(&compiled.hash);
        if !path.exists() {
            self.write_cache(&path, &compiled.component);
        }
    }

    /// No script uses this component any more: free its compiled code (the
    /// last clone held by an instance goes with that instance) and delete its
    /// cache file.
    pub fn forget(&self, hash: &str) {
        self.compiled.lock().remove(hash);
        let path = self.cache_path(hash);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot delete a cached component"),
        }
    }

    /// Delete every cache file that is not the current artefact of a hash in
    /// `in_use`: components of removed scripts, artefacts of an older engine
    /// configuration, interrupted writes. Returns the files deleted.
    pub fn sweep_disk(&self, in_use: &HashSet<String>) -> usize {
        let keep: HashSet<String> = in_use.iter().map(|h| format!("{h}-{}.cwasm", self.config_hash)).collect();
        let Ok(entries) = std::fs::read_dir(&self.cache_dir) else {
            return 0;
        };
        let mut deleted = 0;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if keep.contains(&name) || !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            match std::fs::remove_file(entry.path()) {
                Ok(()) => deleted += 1,
                Err(e) => tracing::warn!(file = %name, error = %e, "cannot delete an unused cached component"),
            }
        }
        deleted
    }

    /// Files and bytes in the compile cache directory.
    pub fn disk_usage(&self) -> (usize, u64) {
        let Ok(entries) = std::fs::read_dir(&self.cache_dir) else {
            return (0, 0);
        };
        entries
            .flatten()
            .filter_map(|e| e.metadata().ok().filter(|m| m.is_file()))
            .fold((0, 0), |(n, b), m| (n + 1, b + m.len()))
    }

    fn write_cache(&self, path: &Path, component: &Component) {
        match component.serialize() {
            Ok(artefact) => {
                let tmp = path.with_extension("tmp");
                if let Err(e) = std::fs::write(&tmp, artefact).and_then(|()| std::fs::rename(&tmp, path)) {
                    tracing::warn!(path = %path.display(), error = %e, "cannot cache compiled component");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot serialise compiled component"),
        }
    }

    /// The component from the disk cache, or compiled (then `true`: not on
    /// disk yet), with its memory images made (see [`with_memory_images`]).
    fn compile(&self, hash: &str, bytes: &[u8]) -> Result<(Component, bool), String> {
        self.compile_or_read(hash, bytes)
            .map(|(component, fresh)| (with_memory_images(component), fresh))
    }

    fn compile_or_read(&self, hash: &str, bytes: &[u8]) -> Result<(Component, bool), String> {
        let path = self.cache_path(hash);
        if path.exists() {
            // SAFETY: the file was written by `Component::serialize` of an engine
            // with this very configuration hash, into the host's own data
            // directory; nothing else writes there.
            #[allow(unsafe_code, reason = "wasmtime cannot check precompiled code; we vouch for its origin")]
            let cached = unsafe { Component::deserialize_file(&self.engine, &path) };
            match cached {
                Ok(c) => return Ok((c, false)),
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "unusable cached component; recompiling"),
            }
        }
        let component = Component::from_binary(&self.engine, bytes).map_err(|e| format!("invalid component: {e:#}"))?;
        Ok((component, true))
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

/// `component` with the copy-on-write images of its memories made now, on
/// the compile thread. wasmtime otherwise makes them at the first
/// instantiation, inside the first event's CPU budget: for an interpreter
/// snapshot (componentize-py's 18 MB, componentize-js's 12 MB) that is tens
/// of milliseconds of copying, enough to end a first `on-start` or a hot
/// swap with `timeout` on a busy machine. Should it fail, the first
/// instantiation tries again and reports the error as its own.
fn with_memory_images(component: Component) -> Component {
    if let Err(e) = component.initialize_copy_on_write_image() {
        tracing::warn!(error = %e, "cannot prepare the component's memory images ahead of its first instance");
    }
    component
}

/// The host's whole upload check, outside a host (`dispatcher script build`):
/// size against `MaxComponentBytes`, header, compile limits, compile, the
/// imports against what scripts may import, and the fit to the region-script
/// world. The error is the Failure text an upload of these bytes would get.
pub fn check_component(bytes: &[u8], limits: &ScriptingLimits) -> Result<(), String> {
    if bytes.len() > limits.max_component_bytes {
        return Err(format!(
            "component of {} bytes exceeds MaxComponentBytes ({}); the host's [Scripting] MaxComponentBytes must be raised to accept it",
            bytes.len(),
            limits.max_component_bytes
        ));
    }
    let dir = std::env::temp_dir().join(format!("dispatcher-check-{}-{}", std::process::id(), sha256_hex(bytes)));
    let limits = ScriptingLimits {
        pool_instances: 1,
        ..limits.clone()
    };
    let result = ScriptEngine::new(&limits, &dir)
        .map_err(|e| e.to_string())
        .and_then(|engine| engine.load(bytes).map(drop));
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Refuse what is not a component before handing it to the compiler, with a
/// message that says what it is instead.
fn check_header(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err("not a WebAssembly component: the bytes do not start with the wasm magic number".into());
    }
    match &bytes[4..8] {
        [1, 0, 0, 0] => {
            Err("a core WebAssembly module, not a component: build for wasm32-wasip2 or wrap it with `wasm-tools component new`".into())
        }
        [_, _, 1, 0] => Ok(()),
        _ => Err("not a WebAssembly component: unknown binary version or layer".into()),
    }
}

/// The same import rule as scripts, and the export of `world`.
pub fn check_world_fit(engine: &Engine, component: &Component, export: &str, world: &str) -> Result<(), String> {
    let ty = component.component_type();
    let refused: Vec<String> = ty
        .imports(engine)
        .map(|(name, _)| name.to_owned())
        .filter(|name| !ALLOWED_IMPORT_PREFIXES.iter().any(|p| name.starts_with(p)) || name.starts_with("opensim:dispatcher/self"))
        .collect();
    if !refused.is_empty() {
        return Err(format!(
            "imports not allowed for the {world} world: {} (allowed: opensim:dispatcher/* but self, wasi:io, wasi:cli, wasi:clocks, wasi:random)",
            refused.join(", ")
        ));
    }
    if !ty.exports(engine).any(|(name, _)| name == export) {
        return Err(format!("the component does not export {export}: not built for the {world} world"));
    }
    Ok(())
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
        return Err(format!("the component does not export {HANDLERS_EXPORT}: not built for the region-script world"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Open memfds holding a wasmtime memory image (each made for one
    /// memory of one module).
    fn memory_image_fds() -> usize {
        std::fs::read_dir("/proc/self/fd")
            .map(|fds| {
                fds.flatten()
                    .filter_map(|fd| std::fs::read_link(fd.path()).ok())
                    .filter(|target| target.to_string_lossy().contains("memfd:wasm-memory-image"))
                    .count()
            })
            .unwrap_or(0)
    }

    /// A freshly compiled component's memory images are made by the load
    /// (on the compile thread), not by its first instantiation: made there,
    /// they cost componentize-py's guest 6–18 ms of CPU inside the first
    /// `on-start`'s 50 ms budget, and a Python hot swap on CI ended with
    /// `timeout` there.
    /// Nothing else in this test binary makes memory images.
    #[test]
    fn a_fresh_component_has_its_memory_images_before_its_first_instance() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guest-examples/out/touch-lift.wasm");
        let bytes =
            std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (build it with guest-examples/build.sh touch-lift)", path.display()));
        let dir = tempfile::tempdir().expect("tempdir");
        let limits = ScriptingLimits {
            pool_instances: 2,
            ..ScriptingLimits::default()
        };
        let engine = ScriptEngine::new(&limits, dir.path()).expect("engine");
        let before = memory_image_fds();
        let compiled = engine.load(&bytes).expect("load touch-lift");
        let after = memory_image_fds();
        assert!(after > before, "no memory image made by the load ({before} memfds before, {after} after)");
        drop(compiled);
    }

    #[test]
    fn headers() {
        assert!(check_header(b"hello world").unwrap_err().contains("magic"));
        assert!(check_header(b"\0asm\x01\0\0\0").unwrap_err().contains("core WebAssembly module"));
        assert!(check_header(b"\0asm\x0d\0\x01\0").is_ok());
    }
}
