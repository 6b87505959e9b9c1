//! Command-line interface. Every `serve` setting is also an environment variable, with the same
//! names as in the API contract, so containers configure it the usual way.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::stores::StoreSettings;

#[derive(Parser, Debug)]
#[command(name = "host-runner", version, about = "Serves the spincrud API where no WebAssembly runtime is installed.")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the API (applies migrations first unless --skip-migrations).
    Serve(ServeArgs),
    /// Apply the SQL migrations and exit (idempotent).
    Migrate(StoreArgs),
    /// Bulk-load a file through the same code as the HTTP routes.
    Import {
        #[command(subcommand)]
        what: ImportCommand,
        #[command(flatten)]
        stores: StoreArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum ImportCommand {
    /// Meteorite records: a JSON array, upserted by id into the key-value store.
    Data { file: PathBuf },
    /// Titanic passengers: a CSV file in the titanic.csv layout.
    Passengers { file: PathBuf },
}

/// Where the data lives.
#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// PostgreSQL URL (`postgres://user:pass@host/db`); empty: embedded SQLite in --data-dir.
    #[arg(long, env = "DATABASE_URL", default_value = "", hide_env_values = true)]
    pub database_url: String,
    /// Redis URL (`redis://host:6379/0`); empty: the embedded key-value store in --data-dir.
    #[arg(long, env = "REDIS_URL", default_value = "", hide_env_values = true)]
    pub redis_url: String,
    /// Directory of the embedded stores (created on first run).
    #[arg(long, env = "DATA_DIR", default_value = "./.data")]
    pub data_dir: PathBuf,
    /// Connections per store pool.
    #[arg(long, env = "POOL_SIZE", default_value_t = 16)]
    pub pool_size: u32,
}

impl StoreArgs {
    pub fn settings(&self) -> StoreSettings {
        let non_empty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        StoreSettings {
            database_url: non_empty(&self.database_url),
            redis_url: non_empty(&self.redis_url),
            data_dir: self.data_dir.clone(),
            pool_size: self.pool_size.max(1),
        }
    }
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// The API compiled into this binary (the default).
    Native,
    /// The Spin components of --manifest, in embedded wasmtime, as Spin 3.6 runs them.
    Wasm,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub stores: StoreArgs,
    /// Address to serve on (port 0 picks a free port; the log says which).
    #[arg(long, env = "LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// Comma-separated bearer tokens required for writes; empty: writes are open.
    #[arg(long, env = "API_TOKENS", default_value = "", hide_env_values = true)]
    pub api_tokens: String,
    /// Whether reads need a token too (`true` or `false`).
    #[arg(long, env = "AUTH_READS", default_value = "false")]
    pub auth_reads: String,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "BODY_LIMIT", default_value_t = spincrud_core::DEFAULT_BODY_LIMIT)]
    pub body_limit: usize,
    /// Which engine serves requests: `native` (default: the core compiled in, no wasm files
    /// needed) or `wasm` (the components of --manifest; build them first).
    #[arg(long, env = "ENGINE", value_enum, default_value_t = Engine::Native)]
    pub engine: Engine,
    /// Do not apply migrations at start (when a separate job does, as in Kubernetes).
    #[arg(long, env = "SKIP_MIGRATIONS")]
    pub skip_migrations: bool,
    /// Seconds to let in-flight requests finish after SIGTERM/SIGINT.
    #[arg(long, env = "SHUTDOWN_TIMEOUT", default_value_t = 20)]
    pub shutdown_timeout: u64,
    /// The wasm engine's settings (last: they get their own --help heading).
    #[command(flatten)]
    pub wasm: crate::wasm::WasmArgs,
}
