//! The native engine's storage: sqlx pools for SQL, Redis or an embedded table for key-value.
//!
//! Each backend lives in its own module; the enums here pick one at run time and implement the
//! core's traits by delegation.

mod circuit;
mod embedded_kv;
mod postgres;
mod redis_kv;
mod sqlite;
mod write_gate;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use spincrud_core::store::{Dialect, KvStore, Row, SqlStore, Statement, StoreError, Value};

pub use embedded_kv::EmbeddedKv;
pub use postgres::Postgres;
pub use redis_kv::RedisKv;
pub use sqlite::{Sqlite, SqliteDb};
pub use write_gate::{may_write, WriteTurn};

/// How long a SQLite writer waits for its turn (and for SQLite's lock, held by another process)
/// before the request answers 503. SQLite is local: a wait is a queue, not an outage.
pub const SQLITE_PATIENCE: Duration = Duration::from_secs(5);

/// How long a request waits for a PostgreSQL or Redis connection while the store answers but
/// has none free (busy, or slow to open one): a queue under load, not an outage.
pub const BUSY_PATIENCE: Duration = SQLITE_PATIENCE;

/// The label of the key-value store the API uses (Spin's `default`).
pub const DEFAULT_KV: &str = "default";

/// Where the stores are, as configured.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub database_url: Option<String>,
    pub redis_url: Option<String>,
    pub data_dir: std::path::PathBuf,
    pub pool_size: u32,
    /// Longest wait for a PostgreSQL or Redis connection (a pool slot or a new connection).
    pub timeout: Duration,
}

pub enum Sql {
    Sqlite(Sqlite),
    /// Shared with the wasm engine's host interfaces, with its circuit breaker.
    Postgres(Arc<Postgres>),
}

/// Where key-value data lives; shared with the wasm engine's host interfaces.
#[derive(Clone)]
pub enum Kv {
    Embedded(Arc<EmbeddedKv>),
    Redis(Arc<RedisKv>),
}

/// One key-value store by its label (Spin's store name): what the core's [`KvStore`] works on.
/// The native engine has one, `default`; the wasm engine opens one per `key-value.store` or
/// `wasi:keyvalue` bucket a component opens. Redis ignores the label (one Redis per label, as in
/// Spin); the embedded table files rows under it.
#[derive(Clone)]
pub struct KvBucket {
    pub backend: Kv,
    pub label: String,
}

/// Both stores, opened lazily: the server starts even if PostgreSQL or Redis is down, and
/// `/readyz` says so.
pub struct Stores {
    pub sql: Sql,
    pub kv: KvBucket,
}

impl Stores {
    pub async fn open(settings: &StoreSettings) -> anyhow::Result<Stores> {
        let needs_dir = settings.database_url.is_none() || settings.redis_url.is_none();
        if needs_dir {
            std::fs::create_dir_all(&settings.data_dir)
                .with_context(|| format!("cannot create the data directory {}", settings.data_dir.display()))?;
            check_writable(&settings.data_dir)?;
        }
        let sql = match &settings.database_url {
            None => Sql::Sqlite(Sqlite::open(&settings.data_dir.join("spincrud.db"), settings.pool_size).await?),
            Some(url) => Sql::Postgres(Arc::new(Postgres::connect_lazy(url, settings.pool_size, settings.timeout)?)),
        };
        let backend = match &settings.redis_url {
            None => Kv::Embedded(Arc::new(EmbeddedKv::open(&settings.data_dir.join("kv.db"), settings.pool_size).await?)),
            Some(url) => Kv::Redis(Arc::new(RedisKv::new(url, settings.pool_size, settings.timeout)?)),
        };
        let kv = KvBucket { backend, label: DEFAULT_KV.to_owned() };
        Ok(Stores { sql, kv })
    }

    pub async fn close(&self) {
        match &self.sql {
            Sql::Sqlite(s) => s.close().await,
            Sql::Postgres(p) => p.close().await,
        }
        if let Kv::Embedded(e) = &self.kv.backend {
            e.close().await;
        }
    }
}

/// SQLite says only "unable to open database file" when it cannot write: say which directory
/// and why (a read-only volume, a directory owned by another user).
fn check_writable(dir: &std::path::Path) -> anyhow::Result<()> {
    let probe = dir.join(format!(".write-check-{}", std::process::id()));
    std::fs::File::create(&probe)
        .and_then(|_| std::fs::remove_file(&probe))
        .with_context(|| format!("the data directory {} (DATA_DIR) is not writable: the embedded stores keep their files there", dir.display()))
}

impl Sql {
    /// Applies the embedded migrations of this store's dialect.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Sql::Sqlite(s) => s.migrate().await,
            Sql::Postgres(p) => p.migrate().await,
        }
    }

    /// Whether the store's circuit breaker counts it as down (SQLite never is).
    pub fn is_down(&self) -> bool {
        matches!(self, Sql::Postgres(p) if p.circuit.is_open())
    }

    /// `(connections, idle)` of the pool, for the metrics gauges.
    pub fn pool_state(&self) -> (u32, usize) {
        match self {
            Sql::Sqlite(s) => (s.db.pool.size(), s.db.pool.num_idle()),
            Sql::Postgres(p) => (p.pool.size(), p.pool.num_idle()),
        }
    }
}

impl KvBucket {
    /// Whether the store's circuit breaker counts it as down (the embedded store never is).
    pub fn is_down(&self) -> bool {
        matches!(&self.backend, Kv::Redis(r) if r.circuit.is_open())
    }

    /// `(connections, idle)` of the pool, for the metrics gauges.
    pub fn pool_state(&self) -> (u32, usize) {
        match &self.backend {
            Kv::Embedded(e) => (e.db.pool.size(), e.db.pool.num_idle()),
            Kv::Redis(r) => {
                let status = r.pool.status();
                (status.size as u32, status.available)
            }
        }
    }
}

impl SqlStore for Sql {
    fn dialect(&self) -> Dialect {
        match self {
            Sql::Sqlite(_) => Dialect::Sqlite,
            Sql::Postgres(_) => Dialect::Postgres,
        }
    }

    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        match self {
            Sql::Sqlite(s) => s.query(sql, params).await,
            Sql::Postgres(p) => p.query(sql, params).await,
        }
    }

    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        match self {
            Sql::Sqlite(s) => s.execute(sql, params).await,
            Sql::Postgres(p) => p.execute(sql, params).await,
        }
    }

    async fn transaction(&self, statements: &[Statement]) -> Result<Vec<u64>, StoreError> {
        match self {
            Sql::Sqlite(s) => s.transaction(statements).await,
            Sql::Postgres(p) => p.transaction(statements).await,
        }
    }

    async fn check_ready(&self) -> Result<(), StoreError> {
        match self {
            Sql::Sqlite(s) => s.check_ready().await,
            Sql::Postgres(p) => p.check_ready().await,
        }
    }
}

impl KvStore for KvBucket {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match &self.backend {
            Kv::Embedded(e) => e.get(&self.label, key).await,
            Kv::Redis(r) => r.get(key).await,
        }
    }

    async fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        match &self.backend {
            Kv::Embedded(e) => e.set(&self.label, key, value).await,
            Kv::Redis(r) => r.set(key, value).await,
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match &self.backend {
            Kv::Embedded(e) => e.delete(&self.label, key).await,
            Kv::Redis(r) => r.delete(key).await,
        }
    }

    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        match &self.backend {
            Kv::Embedded(e) => e.exists(&self.label, key).await,
            Kv::Redis(r) => r.exists(key).await,
        }
    }

    async fn keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        match &self.backend {
            Kv::Embedded(e) => e.keys(&self.label, prefix).await,
            Kv::Redis(r) => r.keys(prefix).await,
        }
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        match &self.backend {
            Kv::Embedded(e) => e.get_many(&self.label, keys).await,
            Kv::Redis(r) => r.get_many(keys).await,
        }
    }

    async fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        match &self.backend {
            Kv::Embedded(e) => e.set_many(&self.label, entries).await,
            Kv::Redis(r) => r.set_many(entries).await,
        }
    }

    async fn delete_many(&self, keys: &[String]) -> Result<(), StoreError> {
        match &self.backend {
            Kv::Embedded(e) => e.delete_many(&self.label, keys).await,
            Kv::Redis(r) => r.delete_many(keys).await,
        }
    }

    async fn compare_and_swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> Result<bool, StoreError> {
        match &self.backend {
            Kv::Embedded(e) => e.compare_and_swap(&self.label, key, expected, new).await,
            Kv::Redis(r) => r.compare_and_swap(key, expected, new).await,
        }
    }

    /// As Spin stores a counter: eight little-endian bytes in the embedded store, a Redis
    /// integer (`wasi:keyvalue/atomics.increment` on the wasm engine).
    async fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        match &self.backend {
            Kv::Embedded(e) => e.increment(&self.label, key, delta).await,
            Kv::Redis(r) => r.increment(key, delta).await,
        }
    }

    async fn pause(&self, millis: u64) {
        tokio::time::sleep(Duration::from_millis(millis)).await;
    }
}

/// Classifies an sqlx error the way the core needs it.
pub(crate) fn sqlx_error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(db.message().to_string()),
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
            StoreError::Unavailable(e.to_string())
        }
        sqlx::Error::Database(db) if is_unavailable_code(db.code().as_deref()) => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Other(e.to_string()),
    }
}

/// SQLSTATE classes that mean "the database is not there right now": connection exceptions
/// (08), insufficient resources (53), operator intervention (57, e.g. shutting down); and
/// SQLite's BUSY/LOCKED after the busy timeout.
fn is_unavailable_code(code: Option<&str>) -> bool {
    matches!(code, Some(c) if c.starts_with("08") || c.starts_with("53") || c.starts_with("57") || c == "5" || c == "6")
}

pub(crate) fn ensure_parent(path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    Ok(())
}
