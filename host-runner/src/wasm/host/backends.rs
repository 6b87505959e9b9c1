//! The stores behind the Spin interfaces: the native engine's own pools wherever the
//! configuration names the same store, so both engines share data and connections.
//!
//! - SQLite database `default`: the native engine's sqlx pool on `DATA_DIR/spincrud.db` (or the
//!   file `[sqlite_database.default]` names); other labels only from the runtime config.
//! - Key-value store `default`: the native engine's store (`REDIS_URL`, else the embedded
//!   `spin_key_value` table in `DATA_DIR/kv.db`) unless the runtime config says otherwise.
//! - PostgreSQL: one sqlx pool per address a component opens; `DATABASE_URL`'s is the native
//!   engine's pool.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::Context;
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use tokio::sync::OnceCell;
use tracing::{info, warn};

use crate::stores::{EmbeddedKv, Kv, Postgres, RedisKv, Sql, Sqlite, Stores};
use crate::wasm::runtime_config::{KvConfig, RuntimeConfig, SqliteConfig};

pub struct Backends {
    sqlite: HashMap<String, SqliteDb>,
    kv: HashMap<String, KvBackend>,
    postgres: Mutex<HashMap<String, PgPool>>,
    pool_size: u32,
    /// Result columns of statements that returned no row (see [`ColumnCache`]).
    pub sqlite_columns: ColumnCache<String>,
    pub postgres_columns: ColumnCache<(String, String)>,
}

/// The result columns of a statement, by database and SQL text.
///
/// Both interfaces report the columns even when no row comes back; sqlx gives them only with
/// rows, else by preparing the statement again, which for SQLite is one more round trip to the
/// connection's worker thread on every `INSERT`, `BEGIN` or `COMMIT`. A statement's columns
/// only change with the schema, which spincrud changes only through migrations at start.
pub struct ColumnCache<T> {
    entries: Mutex<HashMap<String, Statements<T>>>,
}

/// SQL text → columns, for one database.
type Statements<T> = HashMap<String, std::sync::Arc<[T]>>;

/// Beyond this many statements per database the cache starts over (spincrud's statements are
/// few and fixed; the bound only protects against a guest that builds unique SQL texts).
const COLUMN_CACHE_ENTRIES: usize = 4096;

impl<T> ColumnCache<T> {
    fn new() -> Self {
        ColumnCache { entries: Mutex::new(HashMap::new()) }
    }

    pub fn get(&self, database: &str, sql: &str) -> Option<std::sync::Arc<[T]>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.get(database)?.get(sql).cloned()
    }

    pub fn insert(&self, database: &str, sql: &str, columns: Vec<T>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let statements = entries.entry(database.to_owned()).or_default();
        if statements.len() >= COLUMN_CACHE_ENTRIES {
            statements.clear();
        }
        statements.insert(sql.to_owned(), columns.into());
    }
}

/// A SQLite database, opened (and migrated) on first use unless it is the native engine's.
struct SqliteDb {
    path: PathBuf,
    migrate: bool,
    pool: OnceCell<SqliteHandle>,
}

/// An open SQLite database.
pub struct SqliteHandle {
    pub pool: SqlitePool,
    /// The busy timeout (ms) every connection of the pool is opened with.
    pub busy_timeout_ms: i64,
}

impl SqliteHandle {
    async fn new(pool: SqlitePool) -> Result<SqliteHandle, String> {
        let busy_timeout_ms = sqlx::query_scalar::<_, i64>("PRAGMA busy_timeout").fetch_one(&pool).await.map_err(|e| e.to_string())?;
        Ok(SqliteHandle { pool, busy_timeout_ms })
    }
}

#[derive(Clone)]
pub enum KvBackend {
    /// A `spin_key_value` table (store column = the label).
    Embedded(SqlitePool),
    Redis(deadpool_redis::Pool),
}

/// Where the stores are, as configured for the whole process.
pub struct BackendSettings<'a> {
    pub stores: &'a Stores,
    pub database_url: Option<&'a str>,
    pub redis_url: Option<&'a str>,
    pub data_dir: &'a std::path::Path,
    pub pool_size: u32,
    pub migrate: bool,
    pub runtime_config: &'a RuntimeConfig,
}

impl Backends {
    pub async fn open(s: BackendSettings<'_>) -> anyhow::Result<Backends> {
        let mut sqlite = HashMap::new();
        let default_path = s.data_dir.join("spincrud.db");
        for (label, config) in &s.runtime_config.sqlite_databases {
            let SqliteConfig::Spin { path } = config;
            let path = path.clone().unwrap_or_else(|| default_path.clone());
            sqlite.insert(label.clone(), SqliteDb { path, migrate: s.migrate, pool: OnceCell::new() });
        }
        let default = sqlite.entry("default".to_owned()).or_insert_with(|| SqliteDb { path: default_path.clone(), migrate: s.migrate, pool: OnceCell::new() });
        if let Sql::Sqlite(native) = &s.stores.sql {
            if default.path == default_path {
                // Already opened and migrated by the native store.
                let _ = default.pool.set(SqliteHandle::new(native.pool.clone()).await.map_err(anyhow::Error::msg)?);
            }
        }

        let mut kv = HashMap::new();
        let native_kv = match &s.stores.kv {
            Kv::Embedded(e) => KvBackend::Embedded(e.pool.clone()),
            Kv::Redis(r) => KvBackend::Redis(r.pool.clone()),
        };
        for (label, config) in &s.runtime_config.key_value_stores {
            let backend = match config {
                KvConfig::Redis { url } => {
                    if label == "default" && s.redis_url.is_some_and(|own| own != url) {
                        warn!("runtime config's key_value_store.default overrides REDIS_URL for the wasm engine");
                    }
                    KvBackend::Redis(RedisKv::new(url, s.pool_size)?.pool)
                }
                KvConfig::Spin { path: None } => match &s.stores.kv {
                    Kv::Embedded(_) => native_kv.clone(),
                    Kv::Redis(_) => KvBackend::Embedded(EmbeddedKv::open(&s.data_dir.join("kv.db"), s.pool_size).await?.pool),
                },
                KvConfig::Spin { path: Some(path) } => KvBackend::Embedded(
                    EmbeddedKv::open(path, s.pool_size).await.with_context(|| format!("key_value_store.{label}: cannot open {}", path.display()))?.pool,
                ),
            };
            info!(store = %label, backend = backend.describe(), "key-value store");
            kv.insert(label.clone(), backend);
        }
        kv.entry("default".to_owned()).or_insert(native_kv);

        let mut postgres = HashMap::new();
        if let (Sql::Postgres(native), Some(url)) = (&s.stores.sql, s.database_url) {
            postgres.insert(url.to_owned(), native.pool.clone());
        }
        Ok(Backends {
            sqlite,
            kv,
            postgres: Mutex::new(postgres),
            pool_size: s.pool_size,
            sqlite_columns: ColumnCache::new(),
            postgres_columns: ColumnCache::new(),
        })
    }

    /// The pool of a SQLite database label, `None` if no such database is configured.
    pub async fn sqlite(&self, label: &str) -> Option<Result<&SqliteHandle, String>> {
        let db = self.sqlite.get(label)?;
        Some(
            db.pool
                .get_or_try_init(|| async {
                    let sqlite = Sqlite::open(&db.path, self.pool_size).await.map_err(|e| format!("cannot open {}: {e:#}", db.path.display()))?;
                    if db.migrate {
                        sqlite.migrate().await.map_err(|e| format!("cannot migrate {}: {e:#}", db.path.display()))?;
                    }
                    SqliteHandle::new(sqlite.pool).await
                })
                .await,
        )
    }

    pub fn key_value(&self, label: &str) -> Option<&KvBackend> {
        self.kv.get(label)
    }

    /// The pool for a PostgreSQL address (created, lazily connecting, on first use).
    pub fn postgres(&self, url: &str) -> anyhow::Result<PgPool> {
        let mut pools = self.postgres.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pool) = pools.get(url) {
            return Ok(pool.clone());
        }
        let pool = Postgres::connect_lazy(url, self.pool_size)?.pool;
        pools.insert(url.to_owned(), pool.clone());
        Ok(pool)
    }

    /// Closes every pool the engine uses (the native store's too: this runs at shutdown, and
    /// closing a pool twice is harmless).
    pub async fn close(&self) {
        let pools: Vec<PgPool> = self.postgres.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        for pool in pools {
            pool.close().await;
        }
        for db in self.sqlite.values() {
            if let Some(handle) = db.pool.get() {
                handle.pool.close().await;
            }
        }
        for backend in self.kv.values() {
            if let KvBackend::Embedded(pool) = backend {
                pool.close().await;
            }
        }
    }
}

impl KvBackend {
    fn describe(&self) -> &'static str {
        match self {
            KvBackend::Embedded(_) => "embedded",
            KvBackend::Redis(_) => "redis",
        }
    }
}
