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
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::OnceCell;
use tracing::{info, warn};

use crate::stores::{EmbeddedKv, Kv, KvBucket, Postgres, RedisKv, Sql, SqliteDb, Stores};
use crate::wasm::runtime_config::{KvConfig, RuntimeConfig, SqliteConfig};

pub struct Backends {
    sqlite: HashMap<String, SqliteSlot>,
    kv: HashMap<String, Kv>,
    postgres: Mutex<HashMap<String, Arc<Postgres>>>,
    pool_size: u32,
    /// For pools made here: the longest wait for a PostgreSQL or Redis connection.
    timeout: Duration,
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
struct SqliteSlot {
    path: PathBuf,
    migrate: bool,
    handle: OnceCell<SqliteHandle>,
}

/// An open SQLite database.
pub struct SqliteHandle {
    /// The pool and the writers' queue, shared with the native engine for the same file.
    pub db: SqliteDb,
}

/// Where the stores are, as configured for the whole process.
pub struct BackendSettings<'a> {
    pub stores: &'a Stores,
    pub database_url: Option<&'a str>,
    pub redis_url: Option<&'a str>,
    pub data_dir: &'a std::path::Path,
    pub pool_size: u32,
    pub timeout: Duration,
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
            sqlite.insert(label.clone(), SqliteSlot { path, migrate: s.migrate, handle: OnceCell::new() });
        }
        let default = sqlite.entry("default".to_owned()).or_insert_with(|| SqliteSlot { path: default_path.clone(), migrate: s.migrate, handle: OnceCell::new() });
        if let Sql::Sqlite(native) = &s.stores.sql {
            if default.path == default_path {
                // Already opened and migrated by the native store.
                let _ = default.handle.set(SqliteHandle { db: native.db.clone() });
            }
        }

        let mut kv = HashMap::new();
        let native_kv = s.stores.kv.backend.clone();
        for (label, config) in &s.runtime_config.key_value_stores {
            let backend = match config {
                KvConfig::Redis { url } => {
                    if label == "default" && s.redis_url.is_some_and(|own| own != url) {
                        warn!("runtime config's key_value_store.default overrides REDIS_URL for the wasm engine");
                    }
                    Kv::Redis(Arc::new(RedisKv::new(url, s.pool_size, s.timeout)?))
                }
                KvConfig::Spin { path: None } => match &native_kv {
                    Kv::Embedded(_) => native_kv.clone(),
                    Kv::Redis(_) => Kv::Embedded(Arc::new(EmbeddedKv::open(&s.data_dir.join("kv.db"), s.pool_size).await?)),
                },
                KvConfig::Spin { path: Some(path) } => Kv::Embedded(Arc::new(
                    EmbeddedKv::open(path, s.pool_size).await.with_context(|| format!("key_value_store.{label}: cannot open {}", path.display()))?,
                )),
            };
            info!(store = %label, backend = describe(&backend), "key-value store");
            kv.insert(label.clone(), backend);
        }
        kv.entry("default".to_owned()).or_insert(native_kv);

        let mut postgres = HashMap::new();
        if let (Sql::Postgres(native), Some(url)) = (&s.stores.sql, s.database_url) {
            postgres.insert(url.to_owned(), native.clone());
        }
        Ok(Backends {
            sqlite,
            kv,
            postgres: Mutex::new(postgres),
            pool_size: s.pool_size,
            timeout: s.timeout,
            sqlite_columns: ColumnCache::new(),
            postgres_columns: ColumnCache::new(),
        })
    }

    /// The pool of a SQLite database label, `None` if no such database is configured.
    pub async fn sqlite(&self, label: &str) -> Option<Result<&SqliteHandle, String>> {
        let slot = self.sqlite.get(label)?;
        Some(
            slot.handle
                .get_or_try_init(|| async {
                    let sqlite = crate::stores::Sqlite::open(&slot.path, self.pool_size).await.map_err(|e| format!("cannot open {}: {e:#}", slot.path.display()))?;
                    if slot.migrate {
                        sqlite.migrate().await.map_err(|e| format!("cannot migrate {}: {e:#}", slot.path.display()))?;
                    }
                    Ok(SqliteHandle { db: sqlite.db })
                })
                .await,
        )
    }

    /// The store a key-value label names, `None` if no such store is configured.
    pub fn key_value(&self, label: &str) -> Option<KvBucket> {
        self.kv.get(label).map(|backend| KvBucket { backend: backend.clone(), label: label.to_owned() })
    }

    /// The pool for a PostgreSQL address (created, lazily connecting, on first use).
    pub fn postgres(&self, url: &str) -> anyhow::Result<Arc<Postgres>> {
        let mut pools = self.postgres.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pg) = pools.get(url) {
            return Ok(pg.clone());
        }
        let pg = Arc::new(Postgres::connect_lazy(url, self.pool_size, self.timeout)?);
        pools.insert(url.to_owned(), pg.clone());
        Ok(pg)
    }

    /// Closes every pool the engine uses (the native store's too: this runs at shutdown, and
    /// closing a pool twice is harmless).
    pub async fn close(&self) {
        let pools: Vec<Arc<Postgres>> = self.postgres.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        for pg in pools {
            pg.close().await;
        }
        for slot in self.sqlite.values() {
            if let Some(handle) = slot.handle.get() {
                handle.db.pool.close().await;
            }
        }
        for backend in self.kv.values() {
            if let Kv::Embedded(e) = backend {
                e.close().await;
            }
        }
    }
}

fn describe(kv: &Kv) -> &'static str {
    match kv {
        Kv::Embedded(_) => "embedded",
        Kv::Redis(_) => "redis",
    }
}
