//! The host side of a request's instance: its store data ([`State`]), the Spin interfaces
//! generated from `wit/` (one file per interface), and the linker that joins them with WASI 0.2
//! and `wasi:http`.

pub mod backends;
pub mod key_value;
pub mod output;
pub mod postgres;
pub mod sqlite;
pub mod variables;
pub mod wasi_keyvalue;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;

use spincrud_core::http;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use self::backends::Backends;
use self::output::Capture;
use super::manifest::FileMount;
use super::outbound::AllowedHost;

wasmtime::component::bindgen!({
    path: "../wit",
    world: "spincrud:host-runner/spin-imports",
    imports: {
        // Lookups, never blocking: plain (cheaper) host calls.
        "fermyon:spin/variables.get": trappable,
        "spin:sqlite/sqlite.[method]connection.last-insert-rowid": trappable,
        "spin:sqlite/sqlite.[method]connection.changes": trappable,
        default: async | trappable,
    },
    with: {
        "spin:sqlite/sqlite.connection": sqlite::Connection,
        "fermyon:spin/key-value.store": key_value::Store,
        "spin:postgres/postgres.connection": postgres::Connection,
        "wasi:keyvalue/store.bucket": wasi_keyvalue::Bucket,
        "wasi:keyvalue/atomics.cas": wasi_keyvalue::Cas,
    },
});

/// What a component may do, from its `spin.toml` entry, resolved at start.
#[derive(Debug)]
pub struct Grants {
    pub id: String,
    /// `[component.x.variables]`, rendered.
    pub variables: HashMap<String, String>,
    pub sqlite_databases: HashSet<String>,
    pub key_value_stores: HashSet<String>,
    pub allowed_outbound_hosts: Vec<AllowedHost>,
    /// `[component.x] environment`, as WASI environment variables.
    pub environment: Vec<(String, String)>,
    /// `[component.x] files`: directories the instance reads (checked at start).
    pub files: Vec<FileMount>,
}

/// How much of a guest's stdout/stderr per request is kept for the log.
const OUTPUT_CAPACITY: usize = 64 << 10;

/// The data of one request's store.
pub struct State {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: NoOutboundHttp,
    pub(crate) table: ResourceTable,
    pub(crate) limits: Limits,
    pub(crate) grants: Arc<Grants>,
    pub(crate) backends: Arc<Backends>,
    pub(crate) stdout: Capture,
    pub(crate) stderr: Capture,
    /// Key-value stores opened by this instance (Spin caps them).
    pub(crate) open_stores: usize,
}

impl State {
    pub fn new(grants: Arc<Grants>, backends: Arc<Backends>, memory_limit: usize) -> State {
        let stdout = Capture::new(OUTPUT_CAPACITY);
        let stderr = Capture::new(OUTPUT_CAPACITY);
        let mut wasi = WasiCtx::builder();
        wasi.stdout(stdout.clone()).stderr(stderr.clone()).envs(&grants.environment);
        for mount in &grants.files {
            // Read-only, as Spin mounts files. Opened per instance (one `open`): a directory
            // that has gone since the start leaves the component without its files, as if they
            // were missing, rather than failing the request.
            if let Err(e) = wasi.preopened_dir(&mount.source, &mount.destination, FsPerms::ReadOnly) {
                tracing::warn!(component = %grants.id, dir = %mount.source.display(), error = %e, "cannot mount files");
            }
        }
        State {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            hooks: NoOutboundHttp,
            table: ResourceTable::new(),
            limits: Limits { inner: StoreLimitsBuilder::new().memory_size(memory_limit).trap_on_grow_failure(true).build(), memory_cap_hit: false, memory_grows: 0 },
            grants,
            backends,
            stdout,
            stderr,
            open_stores: 0,
        }
    }
}

/// The instance's limits (the memory cap), remembering whether the cap refused a growth (the
/// request's trap is then counted as a memory-cap hit) and how often the memory grew.
pub struct Limits {
    inner: StoreLimits,
    pub memory_cap_hit: bool,
    /// Growths past a memory's initial size (`memory.grow`), not its creation at instantiation.
    pub memory_grows: u64,
}

impl ResourceLimiter for Limits {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let allowed = self.inner.memory_growing(current, desired, maximum);
        match allowed {
            // Instantiation creates each memory as a growth from 0.
            Ok(true) if current > 0 && desired > current => self.memory_grows += 1,
            Ok(true) => {}
            _ => self.memory_cap_hit = true,
        }
        allowed
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.memory_grow_failed(error)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

/// No component is granted outgoing HTTP (`allowed_outbound_hosts` lists only PostgreSQL), and
/// none imports `wasi:http/outgoing-handler`; should one call it, it is refused as Spin refuses a
/// host outside the grants.
struct NoOutboundHttp;

impl WasiHttpHooks for NoOutboundHttp {
    fn send_request(
        &mut self,
        _request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (http::Response<wasmtime_wasi_http::WasiBody>, Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

/// WASI 0.2, `wasi:http` and the Spin interfaces of `wit/`, for every component.
pub fn linker(engine: &Engine) -> anyhow::Result<Linker<State>> {
    let mut linker = Linker::<State>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    SpinImports::add_to_linker::<State, HasSelf<State>>(&mut linker, |state| state)?;
    Ok(linker)
}
