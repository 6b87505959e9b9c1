//! Everything that is not a test: starting the stores and host-runner, and talking HTTP.

pub mod http;
pub mod load;
mod logs;
pub mod otlp;
pub mod postgres;
pub mod redis;
pub mod server;
pub mod spin;
pub(crate) mod supervisor;
pub mod tempdir;
pub mod wasm;

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Mutex, MutexGuard, OnceLock};

pub use server::{Api, Server};

/// What serves the API: host-runner's two engines (`ENGINE=native|wasm`), or the real Spin CLI
/// (`spin up`) running the components.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Native,
    Wasm,
    Spin,
}

impl Engine {
    pub fn env_value(self) -> &'static str {
        match self {
            Engine::Native => "native",
            Engine::Wasm => "wasm",
            Engine::Spin => "spin",
        }
    }

    /// host-runner (either engine), whose own server adds deadlines, limits, metrics and traces.
    pub fn is_host_runner(self) -> bool {
        self != Engine::Spin
    }
}

/// Which stores the servers use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stores {
    /// Embedded SQLite + embedded key-value store (no `DATABASE_URL` / `REDIS_URL`).
    Embedded,
    /// One throwaway PostgreSQL and one Redis per test binary; a database and a Redis db
    /// index per server configuration.
    PostgresRedis,
}

/// The server configurations a test binary can use; each is started on first use and shared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    /// No tokens, default body limit.
    Default,
    /// `API_TOKENS="token-one,token-two"`.
    Auth,
    /// Same tokens and `AUTH_READS=true`.
    AuthReads,
    /// `BODY_LIMIT=2048`.
    SmallBody,
    /// `CORS_ORIGINS` = [`CORS_ORIGINS`], with the tokens of `Auth`.
    Cors,
}

pub const TOKENS: [&str; 2] = ["token-one", "token-two"];
pub const SMALL_BODY_LIMIT: usize = 2048;
/// The origins the `Cors` server lets call it (as written in its setting).
pub const CORS_ORIGINS: &str = "https://app.example.com, HTTP://LOCALHOST:8080/";

impl ServerKind {
    const ALL: [ServerKind; 5] = [
        ServerKind::Default,
        ServerKind::Auth,
        ServerKind::AuthReads,
        ServerKind::SmallBody,
        ServerKind::Cors,
    ];

    fn index(self) -> usize {
        Self::ALL.iter().position(|k| *k == self).unwrap()
    }

    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Default => "default",
            ServerKind::Auth => "auth",
            ServerKind::AuthReads => "auth_reads",
            ServerKind::SmallBody => "small_body",
            ServerKind::Cors => "cors",
        }
    }

    fn options(self) -> server::Options {
        let mut o = server::Options {
            name: self.name(),
            ..Default::default()
        };
        match self {
            ServerKind::Default => {}
            ServerKind::Auth => o.api_tokens = Some(TOKENS.join(",")),
            ServerKind::AuthReads => {
                o.api_tokens = Some(TOKENS.join(","));
                o.auth_reads = true;
            }
            ServerKind::SmallBody => o.body_limit = Some(SMALL_BODY_LIMIT),
            ServerKind::Cors => {
                o.api_tokens = Some(TOKENS.join(","));
                o.cors_origins = Some(CORS_ORIGINS.to_string());
            }
        }
        o
    }
}

/// Shared by every test of one binary. Nothing starts before a test asks for it.
pub struct Ctx {
    pub engine: Engine,
    pub stores: Stores,
    servers: [OnceLock<Result<Server, String>>; 5],
    backends: OnceLock<Result<Backends, String>>,
    data_lock: Mutex<()>,
}

struct Backends {
    postgres: postgres::Postgres,
    redis: redis::Redis,
}

impl Ctx {
    pub fn new(engine: Engine, stores: Stores) -> Ctx {
        Ctx {
            engine,
            stores,
            servers: Default::default(),
            backends: OnceLock::new(),
            data_lock: Mutex::new(()),
        }
    }

    /// The server of one configuration, started on first use. A failed start fails every
    /// test that needs it, with the same message, without retrying.
    #[track_caller]
    pub fn server(&self, kind: ServerKind) -> &Server {
        let cell = &self.servers[kind.index()];
        let started = cell.get_or_init(|| capture(|| self.start(kind)));
        match started {
            Ok(server) => server,
            Err(message) => panic!("server `{}` could not be started:\n{message}", kind.name()),
        }
    }

    /// The `default` server, without a token.
    #[track_caller]
    pub fn api(&self) -> Api<'_> {
        self.server(ServerKind::Default).api()
    }

    /// Any server configuration, without a token (add one with [`Api::token`]).
    #[track_caller]
    pub fn api_on(&self, kind: ServerKind) -> Api<'_> {
        self.server(kind).api()
    }

    /// `/data` is one collection per server: tests that use it hold this lock.
    pub fn lock_data(&self) -> MutexGuard<'_, ()> {
        self.data_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A server of its own (not shared with other tests), on this binary's store set, with
    /// more environment variables. For PostgreSQL + Redis it gets a database and a Redis db
    /// index of its own.
    #[track_caller]
    pub fn start_dedicated(&self, name: &'static str, env: &[(&str, &str)]) -> Server {
        static NEXT_REDIS_DB: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(8);
        let mut options = server::Options {
            name,
            engine: self.engine,
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Default::default()
        };
        if self.stores == Stores::PostgresRedis {
            let backends = self.backends();
            options.database_url = Some(backends.postgres.create_database(&format!("spincrud_{name}")));
            let db = NEXT_REDIS_DB.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            assert!(db < 16, "Redis has 16 databases");
            options.redis_url = Some(backends.redis.url(db));
        }
        Server::start(options)
    }

    /// A server on a PostgreSQL and a Redis of its own, which the test may stop and restart.
    #[track_caller]
    pub fn start_with_own_stores(&self, name: &'static str, env: &[(&str, &str)]) -> (Server, postgres::Postgres, redis::Redis) {
        let root = tempdir::root();
        let pg = postgres::Postgres::start_named(root, &format!("postgres-{name}"));
        let redis = redis::Redis::start_named(root, &format!("redis-{name}"));
        let options = server::Options {
            name,
            engine: self.engine,
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            database_url: Some(pg.create_database("spincrud")),
            redis_url: Some(redis.url(0)),
            ..Default::default()
        };
        (Server::start(options), pg, redis)
    }

    #[track_caller]
    fn start(&self, kind: ServerKind) -> Server {
        let mut options = kind.options();
        options.engine = self.engine;
        if self.stores == Stores::PostgresRedis {
            let backends = self.backends();
            let database = format!("spincrud_{}", kind.name());
            options.database_url = Some(backends.postgres.create_database(&database));
            options.redis_url = Some(backends.redis.url(kind.index() + 1));
        }
        Server::start(options)
    }

    #[track_caller]
    fn backends(&self) -> &Backends {
        let started = self.backends.get_or_init(|| {
            capture(|| {
                let root = tempdir::root();
                Backends {
                    postgres: postgres::Postgres::start(root),
                    redis: redis::Redis::start(root),
                }
            })
        });
        match started {
            Ok(b) => b,
            Err(message) => panic!("PostgreSQL/Redis could not be started:\n{message}"),
        }
    }
}

/// Runs `f`, turning a panic into its message (the runner's hook is not involved: this
/// message is re-raised by every test that needs the result).
fn capture<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(non-string panic payload)".to_string())
    })
}

/// Called once after all tests: kills the children and removes this run's temp dir when
/// everything passed (it is kept, with the server logs, otherwise).
pub fn shutdown(all_passed: bool) {
    supervisor::kill_all();
    if let Some(root) = tempdir::existing_root() {
        if all_passed {
            let _ = std::fs::remove_dir_all(root);
        } else {
            eprintln!(
                "spincrud-tests: server logs and store data kept in {}",
                root.display()
            );
        }
    }
}

/// A port that was free a moment ago on 127.0.0.1.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("cannot bind 127.0.0.1:0")
}

const INSTALL_HINT: &str = "install postgresql and redis-server: make test does it";
