//! The wasm engine (`serve --engine wasm`): serves the components of `spin.toml` in embedded
//! wasmtime, the way Spin 3.6 serves them.
//!
//! At start ([`WasmEngine::load`]): the manifest and runtime config are read, variables resolved,
//! every component loaded (core module → component with the WASI preview1 adapter, compiled once
//! and cached on disk: `loader`), linked against WASI 0.2, `wasi:http` and the Spin interfaces of
//! `wit/` (`host`), and pre-instantiated (`InstancePre`).
//!
//! Per request ([`WasmEngine::handle`], called by the server after it has read the body): Spin's
//! router picks the component (`router`), the request gets Spin's `spin-*` headers, a fresh
//! instance is made from the pooling allocator (copy-on-write memory image, a memory cap, an
//! epoch deadline) and its `wasi:http/incoming-handler` answers (`request`). The response goes
//! back to the server's shared logging/metrics path like the native engine's; each component
//! also has metrics of its own (`metrics::ComponentMetrics`), and, with telemetry on, the request
//! gets Spin's `execute_wasm_component` span, an instantiation span, and a span per host call.

mod host;
mod loader;
pub(crate) mod manifest;
mod outbound;
mod request;
mod router;
mod runtime_config;
#[cfg(test)]
mod tests;
mod variables;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use tracing::info;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::metrics::ComponentMetrics;
use crate::stores::{StoreSettings, Stores};
use host::backends::{BackendSettings, Backends};
use host::{Grants, State};
use loader::{EngineLimits, Loader, Origin};
use manifest::Manifest;
use outbound::AllowedHost;
use router::Router;
use runtime_config::RuntimeConfig;
use variables::HostSettings;

/// `serve` options of the wasm engine (ignored by the native engine).
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Wasm engine (--engine wasm)")]
pub struct WasmArgs {
    /// The Spin application manifest whose components to serve. The native engine reads it too,
    /// for /docs: it serves the `files` of the component that the manifest routes /docs to.
    #[arg(long, env = "SPIN_MANIFEST", default_value = "spin.toml")]
    pub manifest: PathBuf,
    /// Spin runtime config file (key_value_store / sqlite_database entries), as `spin up
    /// --runtime-config-file`. Without it: the key-value store `default` is REDIS_URL's Redis or
    /// the embedded store, the SQLite database `default` is DATA_DIR/spincrud.db.
    #[arg(long, env = "SPIN_RUNTIME_CONFIG")]
    pub runtime_config_file: Option<PathBuf>,
    /// Where compiled components are cached (default: DATA_DIR/wasm-cache). A restart with a
    /// warm cache does not compile.
    #[arg(long, env = "WASM_CACHE_DIR")]
    pub wasm_cache_dir: Option<PathBuf>,
    /// Seconds a component may take to answer before the request gets a 504 (its instance is
    /// interrupted; the server keeps serving).
    #[arg(long, env = "WASM_TIMEOUT", default_value_t = 30)]
    pub wasm_timeout: u64,
    /// Largest linear memory of one request's instance, in MiB (beyond it the request gets a 500).
    #[arg(long, env = "WASM_MEMORY_LIMIT_MB", default_value_t = 128)]
    pub wasm_memory_limit_mb: usize,
    /// Component instances alive at once (requests in flight); beyond it a request gets a 503.
    #[arg(long, env = "WASM_MAX_INSTANCES", default_value_t = 1000)]
    pub wasm_max_instances: u32,
}

/// How often the epoch advances: the granularity of deadlines and of yielding a busy instance.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// One loaded component.
struct LoadedComponent {
    pre: ProxyPre<State>,
    grants: Arc<Grants>,
    metrics: ComponentMetrics,
}

pub struct WasmEngine {
    engine: wasmtime::Engine,
    router: Router,
    components: HashMap<String, LoadedComponent>,
    backends: Arc<Backends>,
    timeout: Duration,
    memory_limit: usize,
    ticker_stop: Arc<AtomicBool>,
}

/// What `serve` knows that the wasm engine needs.
pub struct ServeSettings<'a> {
    pub wasm: &'a WasmArgs,
    pub stores: &'a StoreSettings,
    pub api_tokens: &'a str,
    pub auth_reads: &'a str,
    pub body_limit: usize,
    pub cors_origins: &'a str,
    pub migrate: bool,
}

impl WasmEngine {
    /// Reads the manifest, compiles (or maps from the cache) and links every component.
    pub async fn load(s: ServeSettings<'_>, stores: Arc<Stores>) -> anyhow::Result<WasmEngine> {
        let started = Instant::now();
        let manifest = Manifest::load(&s.wasm.manifest)?;
        // Every `files` source exists before anything is compiled.
        for (id, spec) in &manifest.components {
            for mount in &spec.files {
                mount.check().with_context(|| format!("component `{id}`: files"))?;
            }
        }
        let runtime_config = match &s.wasm.runtime_config_file {
            Some(path) => RuntimeConfig::load(path)?,
            None => RuntimeConfig::default(),
        };
        let host_settings = HostSettings {
            database_url: s.stores.database_url.clone().unwrap_or_default(),
            api_tokens: s.api_tokens.to_owned(),
            auth_reads: s.auth_reads.to_owned(),
            body_limit: s.body_limit.to_string(),
            cors_origins: s.cors_origins.to_owned(),
        };
        let app_variables = variables::resolve_application(&manifest, &host_settings)?;
        if let (Some(component_url), own) = (app_variables.get("database_url"), s.stores.database_url.as_deref().unwrap_or("")) {
            if component_url.trim() != own {
                tracing::warn!("the components' database_url (SPIN_VARIABLE_DATABASE_URL) differs from DATABASE_URL: host-runner migrates and pools DATABASE_URL's database only");
            }
        }
        let router = Router::build(&manifest.base, manifest.triggers.iter().map(|t| (t.route.as_deref(), t.component.as_str())))?;

        let limits = EngineLimits { memory: s.wasm.wasm_memory_limit_mb.max(1) << 20, instances: s.wasm.wasm_max_instances };
        let engine = loader::engine(limits)?;
        let linker = host::linker(&engine)?;
        let cache_dir = s.wasm.wasm_cache_dir.clone().unwrap_or_else(|| s.stores.data_dir.join("wasm-cache"));
        let mut loader = Loader::new(&engine, cache_dir.clone())?;
        let mut components = HashMap::new();
        let (mut compiled, mut cached) = (0, 0);
        for (id, spec) in &manifest.components {
            let (component, origin) = loader.load(&spec.source).with_context(|| format!("component `{id}`"))?;
            match origin {
                Origin::Compiled => compiled += 1,
                Origin::Cache => cached += 1,
                Origin::AlreadyLoaded => {}
            }
            let imports: Vec<String> = component.component_type().imports(&engine).map(|(name, _)| name.to_owned()).collect();
            tracing::debug!(component = %id, imports = %imports.join(", "), "component imports");
            let instance_pre = linker.instantiate_pre(&component).map_err(anyhow::Error::from).with_context(|| {
                format!("component `{id}` imports something host-runner does not provide (its imports must be WASI 0.2, wasi:http and wit/'s Spin interfaces)")
            })?;
            let pre = ProxyPre::new(instance_pre).map_err(anyhow::Error::from).with_context(|| format!("component `{id}` does not export wasi:http/incoming-handler"))?;
            let grants = Grants {
                id: id.clone(),
                variables: variables::resolve_component(&spec.variables, &app_variables)?,
                sqlite_databases: spec.sqlite_databases.iter().cloned().collect(),
                key_value_stores: spec.key_value_stores.iter().cloned().collect(),
                allowed_outbound_hosts: spec
                    .allowed_outbound_hosts
                    .iter()
                    .map(|t| AllowedHost::parse(&t.render(&app_variables)?))
                    .collect::<anyhow::Result<_>>()
                    .with_context(|| format!("component `{id}`: allowed_outbound_hosts"))?,
                environment: spec.environment.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                files: spec.files.clone(),
            };
            components.insert(id.clone(), LoadedComponent { pre, grants: Arc::new(grants), metrics: ComponentMetrics::register(id) });
        }

        crate::metrics::wasm_instance_slots(limits.instances);
        loader.prune();
        drop(loader);

        let backends = Backends::open(BackendSettings {
            stores: &stores,
            database_url: s.stores.database_url.as_deref(),
            redis_url: s.stores.redis_url.as_deref(),
            data_dir: &s.stores.data_dir,
            pool_size: s.stores.pool_size,
            timeout: s.stores.timeout,
            migrate: s.migrate,
            runtime_config: &runtime_config,
        })
        .await?;

        let ticker_stop = Arc::new(AtomicBool::new(false));
        {
            let engine = engine.clone();
            let stop = ticker_stop.clone();
            std::thread::Builder::new().name("wasm-epoch".into()).spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })?;
        }
        info!(
            app = %manifest.name,
            components = components.len(),
            compiled,
            from_cache = cached,
            cache = %cache_dir.display(),
            ms = started.elapsed().as_millis() as u64,
            "wasm engine ready"
        );
        Ok(WasmEngine {
            engine,
            router,
            components,
            backends: Arc::new(backends),
            timeout: Duration::from_secs(s.wasm.wasm_timeout.max(1)),
            memory_limit: limits.memory,
            ticker_stop,
        })
    }

    /// Serves one request (its body already read within the body limit by the server).
    pub async fn handle(&self, req: spincrud_core::Request) -> spincrud_core::Response {
        request::handle(self, req).await
    }

    /// Closes the pools the engine opened; called once the server has stopped.
    pub async fn close(&self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
        self.backends.close().await;
    }
}
