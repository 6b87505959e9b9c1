//! The wasmtime engine, and turning a component's `source` into a compiled `Component`, as Spin
//! does: a core wasm module (`wasm32-wasip1`) becomes a component with the WASI preview1 adapter
//! (`wit-component` + `wasi-preview1-component-adapter-provider`, the reactor adapter), then
//! Cranelift compiles it.
//!
//! Compiled artifacts are cached on disk (`--wasm-cache-dir`, default `DATA_DIR/wasm-cache`),
//! one file per key: a SHA-256 over the source bytes, the adapter's bytes and wasmtime's
//! compatibility hash (its version and every setting that affects code generation). A restart,
//! or another host-runner sharing the directory, maps the file instead of compiling; the
//! mapping also serves copy-on-write memory images. Files are written to a temporary name and
//! renamed, so concurrent writers never expose a partial file.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use sha2::{Digest, Sha256};
use tracing::{info, warn};
use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

/// The per-request limits and the size of the instance pool.
#[derive(Debug, Clone, Copy)]
pub struct EngineLimits {
    /// Largest linear memory of one instance, in bytes.
    pub memory: usize,
    /// Instances alive at once (requests in flight in the wasm engine).
    pub instances: u32,
}

/// The engine every component shares: async host calls, epoch interruption, the pooling
/// allocator with copy-on-write memory images.
pub fn engine(limits: EngineLimits) -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.parallel_compilation(true);
    config.cranelift_opt_level(OptLevel::Speed);
    config.memory_init_cow(true);
    // Explicit bounds checks instead of guard pages and signal handlers. With guard pages every
    // request costs `mprotect` calls (making the initial memory accessible at instantiation, each
    // `memory.grow`, and the reset when the slot is freed), and each of them sends TLB-shootdown
    // IPIs to every thread of the process: under load that cost more than the checks (+33%
    // throughput on GET /healthz at concurrency 16). Without guard pages a reused slot keeps its
    // accessible size, so none of those calls happen. Linear memories are reserved at the
    // per-request limit, which the checks enforce.
    config.signals_based_traps(false);
    config.memory_guard_size(0);
    config.memory_reservation(limits.memory as u64);
    config.memory_reservation_for_growth(0);

    let n = limits.instances.max(1);
    let mut pool = PoolingAllocationConfig::default();
    // A componentized wasip1 module is a handful of core instances (the module, the WASI
    // adapter, wit-component's shim and fixup modules) with one memory: room for twice that.
    pool.total_component_instances(n)
        .total_core_instances(n.saturating_mul(8))
        .max_core_instances_per_component(16)
        .total_memories(n.saturating_mul(2))
        .max_memories_per_component(2)
        .total_tables(n.saturating_mul(4))
        .max_tables_per_component(8)
        .total_stacks(n)
        .max_memory_size(limits.memory)
        // Resetting a reused slot: find the pages the instance dirtied (PAGEMAP_SCAN, Linux 6.7+)
        // and restore only those with memset/memcpy, instead of madvise, which costs page faults
        // on the next use and TLB-shootdown IPIs on every thread of the process.
        .pagemap_scan(wasmtime::Enabled::Auto)
        .linear_memory_keep_resident(4 << 20)
        .table_keep_resident(64 << 10);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).map_err(anyhow::Error::from).context("cannot create the wasmtime engine")
}

/// Loads components, compiling each distinct source once.
pub struct Loader<'e> {
    engine: &'e Engine,
    cache_dir: PathBuf,
    /// Hash of everything but the source that the compiled bytes depend on.
    environment: [u8; 32],
    loaded: HashMap<[u8; 32], Component>,
}

/// Cached artifacts no start has used for this long are removed (a rebuilt component or another
/// wasmtime leaves its old artifacts behind).
const CACHE_KEEP: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// How a component was obtained, for the start-up log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Cache,
    Compiled,
    AlreadyLoaded,
}

impl<'e> Loader<'e> {
    pub fn new(engine: &'e Engine, cache_dir: PathBuf) -> anyhow::Result<Loader<'e>> {
        std::fs::create_dir_all(&cache_dir).with_context(|| format!("cannot create the compilation cache {}", cache_dir.display()))?;
        let mut h = HashWriter(Sha256::new());
        "spincrud host-runner wasm cache v1".hash(&mut h);
        engine.precompile_compatibility_hash().hash(&mut h);
        wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER.hash(&mut h);
        Ok(Loader { engine, cache_dir, environment: h.0.finalize().into(), loaded: HashMap::new() })
    }

    pub fn load(&mut self, source: &Path) -> anyhow::Result<(Component, Origin)> {
        let bytes = std::fs::read(source).with_context(|| {
            format!("cannot read the component {}: build the components first (scripts/build-components.sh)", source.display())
        })?;
        let key: [u8; 32] = Sha256::new().chain_update(self.environment).chain_update(&bytes).finalize().into();
        if let Some(component) = self.loaded.get(&key) {
            return Ok((component.clone(), Origin::AlreadyLoaded));
        }
        let file = self.cache_dir.join(format!("{}.cwasm", hex(&key)));
        // One compiler per key across processes sharing the cache (replicas, test servers):
        // the others wait here, then map what it wrote.
        let lock_path = self.cache_dir.join(format!(".{}.lock", hex(&key)));
        let lock = std::fs::File::create(&lock_path).with_context(|| format!("cannot create {}", lock_path.display()))?;
        lock.lock().with_context(|| format!("cannot lock {}", lock_path.display()))?;
        if file.is_file() {
            // SAFETY: the file was written by `precompile_component` of an engine with the same
            // compatibility hash (it is part of the name), is only ever replaced by rename (so a
            // mapping stays valid), and wasmtime checks its header before use.
            match unsafe { Component::deserialize_file(self.engine, &file) } {
                Ok(component) => {
                    // Marks it used, for `prune`.
                    let _ = std::fs::File::options().write(true).open(&file).and_then(|f| f.set_modified(std::time::SystemTime::now()));
                    self.loaded.insert(key, component.clone());
                    return Ok((component, Origin::Cache));
                }
                Err(e) => warn!(file = %file.display(), error = %e, "unusable cached component; compiling again"),
            }
        }
        let started = Instant::now();
        let component_bytes = if is_core_module(&bytes) { componentize(&bytes).with_context(|| format!("cannot make a component of {}", source.display()))? } else { bytes };
        let compiled = self.engine.precompile_component(&component_bytes).map_err(anyhow::Error::from).with_context(|| format!("cannot compile {}", source.display()))?;
        let tmp = self.cache_dir.join(format!(".{}.{}.tmp", hex(&key), std::process::id()));
        std::fs::write(&tmp, &compiled).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &file).with_context(|| format!("cannot write {}", file.display()))?;
        // SAFETY: as above: just written by this engine, replaced only by rename.
        let component = unsafe { Component::deserialize_file(self.engine, &file) }.map_err(anyhow::Error::from)?;
        info!(source = %source.display(), ms = started.elapsed().as_millis() as u64, "compiled component (cached for the next start)");
        drop(lock);
        self.loaded.insert(key, component.clone());
        Ok((component, Origin::Compiled))
    }
}

impl Loader<'_> {
    /// Removes cached artifacts that no start has used for [`CACHE_KEEP`].
    pub fn prune(&self) {
        let Ok(entries) = std::fs::read_dir(&self.cache_dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let artifact = name.ends_with(".cwasm") || name.ends_with(".lock") || name.ends_with(".tmp");
            let stale = entry.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok()).is_some_and(|age| age > CACHE_KEEP);
            if artifact && stale {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

/// A core module starts with `\0asm` and version 1; a component has a different layer/version.
fn is_core_module(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[4..8] == [1, 0, 0, 0]
}

/// A `wasm32-wasip1` module → a component exporting what its `component-type` sections say
/// (here `wasi:http/incoming-handler`), with WASI preview1 calls adapted to WASI 0.2.
pub fn componentize(module: &[u8]) -> anyhow::Result<Vec<u8>> {
    wit_component::ComponentEncoder::default()
        .validate(true)
        .module(module)?
        .adapter("wasi_snapshot_preview1", wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER)?
        .encode()
}

struct HashWriter(Sha256);

impl Hasher for HashWriter {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
