//! The embedded key-value store: a SQLite table shaped like the one Spin's own default store uses
//! (`spin_key_value`, one row per key filed under the store's label), in its own database file.
//! Counters are stored as Spin stores them there: eight little-endian bytes.
//!
//! Both engines use this type: the native engine for its store `default`, the wasm engine behind
//! `fermyon:spin/key-value` and `wasi:keyvalue` for every label the runtime config maps here.

use std::path::Path;

use sqlx::Row as _;
use spincrud_core::store::StoreError;

use super::sqlite::SqliteDb;
use super::sqlx_error;
use crate::telemetry::db;

pub struct EmbeddedKv {
    pub db: SqliteDb,
}

const UPSERT: &str = "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3) ON CONFLICT (store, key) DO UPDATE SET value = excluded.value";
/// Keys per statement of a batch (SQLite takes up to 32,766 parameters).
const BATCH: usize = 500;

/// `?first, ?first+step, …`: `n` numbered placeholders.
fn placeholders(first: usize, n: usize, step: usize) -> String {
    (0..n).map(|i| format!("?{}", first + i * step)).collect::<Vec<_>>().join(", ")
}

const SELECT: &str = "SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2";
const EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM spin_key_value WHERE store = ?1 AND key = ?2)";
const DELETE: &str = "DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2";
// substr() rather than LIKE: a prefix may contain LIKE's wildcards.
const KEYS: &str = "SELECT key FROM spin_key_value WHERE store = ?1 AND substr(key, 1, ?2) = ?3";
const SWAP: &str = "UPDATE spin_key_value SET value = ?4 WHERE store = ?1 AND key = ?2 AND value = ?3";
const INSERT_NEW: &str = "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3) ON CONFLICT (store, key) DO NOTHING";

impl EmbeddedKv {
    pub async fn open(path: &Path, pool_size: u32) -> anyhow::Result<EmbeddedKv> {
        let db = SqliteDb::open(path, pool_size).await?;
        sqlx::query("CREATE TABLE IF NOT EXISTS spin_key_value (store TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (store, key))")
            .execute(&db.pool)
            .await?;
        Ok(EmbeddedKv { db })
    }

    pub async fn close(&self) {
        self.db.pool.close().await;
    }

    pub async fn get(&self, store: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        db::run(db::sql("sqlite", SELECT), async {
            let row = sqlx::query(SELECT).bind(store).bind(key).fetch_optional(&self.db.pool).await.map_err(sqlx_error)?;
            row.map(|r| r.try_get::<Vec<u8>, _>(0).map_err(sqlx_error)).transpose()
        })
        .await
    }

    pub async fn exists(&self, store: &str, key: &str) -> Result<bool, StoreError> {
        db::run(db::sql("sqlite", EXISTS), async {
            sqlx::query_scalar(EXISTS).bind(store).bind(key).fetch_one(&self.db.pool).await.map_err(sqlx_error)
        })
        .await
    }

    pub async fn set(&self, store: &str, key: &str, value: &[u8]) -> Result<(), StoreError> {
        db::run(db::sql("sqlite", UPSERT), async {
            let _turn = self.db.gate.enter().await?;
            sqlx::query(UPSERT).bind(store).bind(key).bind(value).execute(&self.db.pool).await.map_err(sqlx_error)?;
            Ok(())
        })
        .await
    }

    pub async fn delete(&self, store: &str, key: &str) -> Result<(), StoreError> {
        db::run(db::sql("sqlite", DELETE), async {
            let _turn = self.db.gate.enter().await?;
            sqlx::query(DELETE).bind(store).bind(key).execute(&self.db.pool).await.map_err(sqlx_error)?;
            Ok(())
        })
        .await
    }

    /// Every key of the store that starts with `prefix` (`""`: all of them).
    pub async fn keys(&self, store: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        db::run(db::sql("sqlite", KEYS), async {
            sqlx::query_scalar(KEYS)
                .bind(store)
                .bind(prefix.chars().count() as i64)
                .bind(prefix)
                .fetch_all(&self.db.pool)
                .await
                .map_err(sqlx_error)
        })
        .await
    }

    /// The values of `keys`, in their order (`None` where missing), on one connection.
    pub async fn get_many(&self, store: &str, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let span = db::sql("sqlite", SELECT);
        db::batch(&span, keys.len());
        db::run(span, async {
            // `key IN (…)` a chunk at a time: one statement per chunk, not per key.
            let mut conn = self.db.pool.acquire().await.map_err(sqlx_error)?;
            let mut found = std::collections::HashMap::with_capacity(keys.len());
            for chunk in keys.chunks(BATCH) {
                let sql = format!("SELECT key, value FROM spin_key_value WHERE store = ?1 AND key IN ({})", placeholders(2, chunk.len(), 1));
                let mut query = sqlx::query(&sql).bind(store);
                for key in chunk {
                    query = query.bind(key);
                }
                for row in query.fetch_all(&mut *conn).await.map_err(sqlx_error)? {
                    found.insert(row.try_get::<String, _>(0).map_err(sqlx_error)?, row.try_get::<Vec<u8>, _>(1).map_err(sqlx_error)?);
                }
            }
            Ok(keys.iter().map(|k| found.remove(k)).collect())
        })
        .await
    }

    /// All entries in one transaction (and one sync).
    pub async fn set_many(&self, store: &str, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        let span = db::sql("sqlite", UPSERT);
        db::batch(&span, entries.len());
        db::run(span, async {
            let _turn = self.db.gate.enter().await?;
            let mut tx = self.db.pool.begin().await.map_err(sqlx_error)?;
            // Many rows per INSERT (a key repeated in one statement would be an error there, so
            // a later repeat wins by going into a later statement).
            let mut pending: Vec<&(String, Vec<u8>)> = entries.iter().collect();
            while !pending.is_empty() {
                let mut seen = std::collections::HashSet::new();
                let (now, later): (Vec<_>, Vec<_>) = pending.into_iter().partition(|(k, _)| seen.insert(k.as_str()));
                for chunk in now.chunks(BATCH / 2) {
                    let rows: Vec<String> = (0..chunk.len()).map(|i| format!("(?1, ?{}, ?{})", 2 + 2 * i, 3 + 2 * i)).collect();
                    let sql = format!("INSERT INTO spin_key_value (store, key, value) VALUES {} ON CONFLICT (store, key) DO UPDATE SET value = excluded.value", rows.join(", "));
                    let mut query = sqlx::query(&sql).bind(store);
                    for (key, value) in chunk {
                        query = query.bind(key).bind(value.as_slice());
                    }
                    query.execute(&mut *tx).await.map_err(sqlx_error)?;
                }
                pending = later;
            }
            tx.commit().await.map_err(sqlx_error)
        })
        .await
    }

    /// All deletions in one transaction.
    pub async fn delete_many(&self, store: &str, keys: &[String]) -> Result<(), StoreError> {
        let span = db::sql("sqlite", DELETE);
        db::batch(&span, keys.len());
        db::run(span, async {
            let _turn = self.db.gate.enter().await?;
            let mut tx = self.db.pool.begin().await.map_err(sqlx_error)?;
            for key in keys {
                sqlx::query(DELETE).bind(store).bind(key).execute(&mut *tx).await.map_err(sqlx_error)?;
            }
            tx.commit().await.map_err(sqlx_error)
        })
        .await
    }

    /// Adds `delta` to the counter at `key` (a missing key counts as 0) and returns the result.
    pub async fn increment(&self, store: &str, key: &str, delta: i64) -> Result<i64, StoreError> {
        db::run(db::transaction("sqlite", 2), async {
            let _turn = self.db.gate.enter().await?;
            let mut tx = self.db.pool.begin().await.map_err(sqlx_error)?;
            let old: Option<Vec<u8>> = sqlx::query_scalar(SELECT).bind(store).bind(key).fetch_optional(&mut *tx).await.map_err(sqlx_error)?;
            let old = match old {
                None => 0,
                Some(bytes) => i64::from_le_bytes(
                    bytes.try_into().map_err(|_| StoreError::Other(format!("the value at `{key}` is not a counter")))?,
                ),
            };
            let new = old.checked_add(delta).ok_or_else(|| StoreError::Other(format!("the counter at `{key}` would overflow")))?;
            sqlx::query(UPSERT).bind(store).bind(key).bind(new.to_le_bytes().as_slice()).execute(&mut *tx).await.map_err(sqlx_error)?;
            tx.commit().await.map_err(sqlx_error)?;
            Ok(new)
        })
        .await
    }

    /// Sets `key` to `new` only if its value is still `expected` (`None`: only if it does not
    /// exist). Returns whether it did.
    pub async fn compare_and_swap(&self, store: &str, key: &str, expected: Option<&[u8]>, new: &[u8]) -> Result<bool, StoreError> {
        let statement = if expected.is_some() { SWAP } else { INSERT_NEW };
        db::run(db::sql("sqlite", statement), async {
            let _turn = self.db.gate.enter().await?;
            let done = match expected {
                Some(old) => sqlx::query(SWAP).bind(store).bind(key).bind(old).bind(new).execute(&self.db.pool).await,
                None => sqlx::query(INSERT_NEW).bind(store).bind(key).bind(new).execute(&self.db.pool).await,
            };
            Ok(done.map_err(sqlx_error)?.rows_affected() == 1)
        })
        .await
    }
}
