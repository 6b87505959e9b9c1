//! Command-line interface. Every `serve` setting is also an environment variable, with the same
//! names as in the API contract, so containers configure it the usual way.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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
    /// GET a URL and exit 0 on a 2xx answer, 1 otherwise: a health check for images without a
    /// shell or an HTTP client (compose, Docker HEALTHCHECK, exec probes).
    Probe {
        /// `http://host:port/path` (plain HTTP, e.g. `http://127.0.0.1:3000/readyz`).
        url: String,
        /// Give up after this long.
        #[arg(long, default_value = "2s", value_parser = parse_duration)]
        timeout: Duration,
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
    /// How long to wait for a PostgreSQL or Redis connection before deciding whether the store
    /// is down: if it does not accept a connection, the request answers 503 then, and while it
    /// stays down requests answer 503 at once; if it is up but busy, the request waits on (5 s
    /// at most). A duration: `500ms`, `2s`.
    #[arg(long, env = "STORE_TIMEOUT", default_value = "500ms", value_parser = parse_duration)]
    pub store_timeout: Duration,
}

impl StoreArgs {
    pub fn settings(&self) -> StoreSettings {
        let non_empty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        StoreSettings {
            database_url: non_empty(&self.database_url),
            redis_url: non_empty(&self.redis_url),
            data_dir: self.data_dir.clone(),
            pool_size: self.pool_size.max(1),
            timeout: self.store_timeout,
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
    /// Browser origins that may call the API (CORS): comma-separated origins such as
    /// `https://app.example.com`, or `*` for any; empty: no CORS headers.
    #[arg(long, env = "CORS_ORIGINS", default_value = "")]
    pub cors_origins: String,
    /// Which engine serves requests: `native` (default: the core compiled in, no wasm files
    /// needed) or `wasm` (the components of --manifest; build them first).
    #[arg(long, env = "ENGINE", value_enum, default_value_t = Engine::Native)]
    pub engine: Engine,
    /// Do not apply migrations at start (when a separate job does, as in Kubernetes).
    #[arg(long, env = "SKIP_MIGRATIONS")]
    pub skip_migrations: bool,
    /// After SIGTERM/SIGINT, how long to keep serving as a lame duck before refusing new
    /// connections: /readyz answers 503 and every answer closes its connection, so that load
    /// balancers and clients move to other replicas. Keep it longer than a proxy's idle timeout
    /// for its connections to this server. A second signal ends it at once.
    #[arg(long, env = "DRAIN_PERIOD", default_value = "5s", value_parser = parse_duration)]
    pub drain_period: Duration,
    /// Seconds to let in-flight requests finish once new connections are refused.
    #[arg(long, env = "SHUTDOWN_TIMEOUT", default_value_t = 20)]
    pub shutdown_timeout: u64,
    /// Deadlines and limits of client connections.
    #[command(flatten)]
    pub http: HttpArgs,
    /// The wasm engine's settings (last: they get their own --help heading).
    #[command(flatten)]
    pub wasm: crate::wasm::WasmArgs,
}

/// How long clients may take, and how many may be connected: slow or idle clients must not hold
/// the server's memory and file descriptors.
#[derive(Args, Debug)]
#[command(next_help_heading = "Client connections")]
pub struct HttpArgs {
    /// Deadline for a request's head (request line and headers), from its first byte; a new
    /// connection must send its first request within it too. Past it the connection is closed.
    #[arg(long, env = "HEADER_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub header_timeout: Duration,
    /// Deadline for a request's body, once its head has arrived: past it the answer is 408.
    #[arg(long, env = "BODY_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub body_timeout: Duration,
    /// How long a kept-alive connection may stay idle between requests before it is closed.
    #[arg(long, env = "KEEP_ALIVE_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub keep_alive_timeout: Duration,
    /// Open client connections at most; more wait in the listen backlog until one closes.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Largest request head (request line and headers) in bytes; larger ones get 431.
    #[arg(long, env = "MAX_HEADER_BYTES", default_value_t = 64 * 1024)]
    pub max_header_bytes: usize,
}

/// A duration: a number with a unit (`ms`, `s`, `m`), or a plain number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: f64 = number.parse().map_err(|_| format!("`{text}` is not a duration such as `500ms`, `30s` or `2m`"))?;
    let seconds = match unit.trim() {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        other => return Err(format!("unknown unit `{other}` in `{text}`: use ms, s or m")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{text}` is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3h").is_err());
    }

    /// The connection deadlines default to at most a minute, and the store timeout to well
    /// under the second a Kubernetes probe waits.
    #[test]
    fn defaults_are_bounded() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["host-runner", "serve"]).unwrap();
        let Command::Serve(args) = cli.command else { panic!("serve") };
        for d in [args.http.header_timeout, args.http.body_timeout, args.http.keep_alive_timeout] {
            assert!(d > Duration::ZERO && d <= Duration::from_secs(60), "{d:?}");
        }
        assert!(args.stores.store_timeout < Duration::from_secs(1));
        // A few seconds of lame duck: longer than the bundled nginx's idle timeout for its
        // connections (nginx/upstream.conf), well within Kubernetes' grace period.
        assert!(args.drain_period >= Duration::from_secs(3) && args.drain_period <= Duration::from_secs(10), "{:?}", args.drain_period);
        assert!(args.http.max_connections > 0);
    }
}
