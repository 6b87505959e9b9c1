//! The native engine's storage: sqlx pools for SQL, Redis or an embedded table for key-value.
//!
//! Each backend lives in its own module; the enums here pick one at run time and implement the
//! core's traits by delegation.

mod embedded_kv;
mod postgres;
mod redis_kv;
mod sqlite;

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use spincrud_core::store::{Dialect, KvStore, Row, SqlStore, Statement, StoreError, Value};

pub use embedded_kv::EmbeddedKv;
pub use postgres::Postgres;
pub use redis_kv::RedisKv;
pub use sqlite::Sqlite;

/// How long a request waits for a pooled connection before the store counts as unavailable.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the stores are, as configured.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub database_url: Option<String>,
    pub redis_url: Option<String>,
    pub data_dir: std::path::PathBuf,
    pub pool_size: u32,
}

pub enum Sql {
    Sqlite(Sqlite),
    Postgres(Postgres),
}

pub enum Kv {
    Embedded(EmbeddedKv),
    Redis(RedisKv),
}

/// Both stores, opened lazily: the server starts even if PostgreSQL or Redis is down, and
/// `/readyz` says so.
pub struct Stores {
    pub sql: Sql,
    pub kv: Kv,
}

impl Stores {
    pub async fn open(settings: &StoreSettings) -> anyhow::Result<Stores> {
        let needs_dir = settings.database_url.is_none() || settings.redis_url.is_none();
        if needs_dir {
            std::fs::create_dir_all(&settings.data_dir)
                .with_context(|| format!("cannot create the data directory {}", settings.data_dir.display()))?;
        }
        let sql = match &settings.database_url {
            None => Sql::Sqlite(Sqlite::open(&settings.data_dir.join("spincrud.db"), settings.pool_size).await?),
            Some(url) => Sql::Postgres(Postgres::connect_lazy(url, settings.pool_size)?),
        };
        let kv = match &settings.redis_url {
            None => Kv::Embedded(EmbeddedKv::open(&settings.data_dir.join("kv.db"), settings.pool_size).await?),
            Some(url) => Kv::Redis(RedisKv::new(url, settings.pool_size)?),
        };
        Ok(Stores { sql, kv })
    }

    pub async fn close(&self) {
        match &self.sql {
            Sql::Sqlite(s) => s.close().await,
            Sql::Postgres(p) => p.close().await,
        }
        if let Kv::Embedded(e) = &self.kv {
            e.close().await;
        }
    }
}

impl Sql {
    /// Applies the embedded migrations of this store's dialect.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Sql::Sqlite(s) => s.migrate().await,
            Sql::Postgres(p) => p.migrate().await,
        }
    }

    /// `(connections, idle)` of the pool, for the metrics gauges.
    pub fn pool_state(&self) -> (u32, usize) {
        match self {
            Sql::Sqlite(s) => (s.pool.size(), s.pool.num_idle()),
            Sql::Postgres(p) => (p.pool.size(), p.pool.num_idle()),
        }
    }
}

impl Kv {
    /// `(connections, idle)` of the pool, for the metrics gauges.
    pub fn pool_state(&self) -> (u32, usize) {
        match self {
            Kv::Embedded(e) => (e.pool.size(), e.pool.num_idle()),
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
}

impl KvStore for Kv {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Kv::Embedded(e) => e.get(key).await,
            Kv::Redis(r) => r.get(key).await,
        }
    }

    async fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        match self {
            Kv::Embedded(e) => e.set(key, value).await,
            Kv::Redis(r) => r.set(key, value).await,
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self {
            Kv::Embedded(e) => e.delete(key).await,
            Kv::Redis(r) => r.delete(key).await,
        }
    }

    async fn keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        match self {
            Kv::Embedded(e) => e.keys(prefix).await,
            Kv::Redis(r) => r.keys(prefix).await,
        }
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        match self {
            Kv::Embedded(e) => e.get_many(keys).await,
            Kv::Redis(r) => r.get_many(keys).await,
        }
    }

    async fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        match self {
            Kv::Embedded(e) => e.set_many(entries).await,
            Kv::Redis(r) => r.set_many(entries).await,
        }
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
