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

pub struct EmbeddedKv {
    pub db: SqliteDb,
}

const UPSERT: &str = "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3) ON CONFLICT (store, key) DO UPDATE SET value = excluded.value";
const SELECT: &str = "SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2";

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
        let row = sqlx::query(SELECT).bind(store).bind(key).fetch_optional(&self.db.pool).await.map_err(sqlx_error)?;
        row.map(|r| r.try_get::<Vec<u8>, _>(0).map_err(sqlx_error)).transpose()
    }

    pub async fn exists(&self, store: &str, key: &str) -> Result<bool, StoreError> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM spin_key_value WHERE store = ?1 AND key = ?2)")
            .bind(store)
            .bind(key)
            .fetch_one(&self.db.pool)
            .await
            .map_err(sqlx_error)
    }

    pub async fn set(&self, store: &str, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let _turn = self.db.gate.enter().await?;
        sqlx::query(UPSERT).bind(store).bind(key).bind(value).execute(&self.db.pool).await.map_err(sqlx_error)?;
        Ok(())
    }

    pub async fn delete(&self, store: &str, key: &str) -> Result<(), StoreError> {
        let _turn = self.db.gate.enter().await?;
        sqlx::query("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")
            .bind(store)
            .bind(key)
            .execute(&self.db.pool)
            .await
            .map_err(sqlx_error)?;
        Ok(())
    }

    /// Every key of the store that starts with `prefix` (`""`: all of them).
    pub async fn keys(&self, store: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        // substr() rather than LIKE: a prefix may contain LIKE's wildcards.
        sqlx::query_scalar("SELECT key FROM spin_key_value WHERE store = ?1 AND substr(key, 1, ?2) = ?3")
            .bind(store)
            .bind(prefix.chars().count() as i64)
            .bind(prefix)
            .fetch_all(&self.db.pool)
            .await
            .map_err(sqlx_error)
    }

    /// The values of `keys`, in their order (`None` where missing), on one connection.
    pub async fn get_many(&self, store: &str, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut conn = self.db.pool.acquire().await.map_err(sqlx_error)?;
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            let row = sqlx::query(SELECT).bind(store).bind(key).fetch_optional(&mut *conn).await.map_err(sqlx_error)?;
            values.push(row.map(|r| r.try_get::<Vec<u8>, _>(0)).transpose().map_err(sqlx_error)?);
        }
        Ok(values)
    }

    /// All entries in one transaction (and one sync).
    pub async fn set_many(&self, store: &str, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        let _turn = self.db.gate.enter().await?;
        let mut tx = self.db.pool.begin().await.map_err(sqlx_error)?;
        for (key, value) in entries {
            sqlx::query(UPSERT).bind(store).bind(key).bind(value.as_slice()).execute(&mut *tx).await.map_err(sqlx_error)?;
        }
        tx.commit().await.map_err(sqlx_error)
    }

    /// All deletions in one transaction.
    pub async fn delete_many(&self, store: &str, keys: &[String]) -> Result<(), StoreError> {
        let _turn = self.db.gate.enter().await?;
        let mut tx = self.db.pool.begin().await.map_err(sqlx_error)?;
        for key in keys {
            sqlx::query("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2").bind(store).bind(key).execute(&mut *tx).await.map_err(sqlx_error)?;
        }
        tx.commit().await.map_err(sqlx_error)
    }

    /// Adds `delta` to the counter at `key` (a missing key counts as 0) and returns the result.
    pub async fn increment(&self, store: &str, key: &str, delta: i64) -> Result<i64, StoreError> {
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
    }

    /// Sets `key` to `new` only if its value is still `expected` (`None`: only if it does not
    /// exist). Returns whether it did.
    pub async fn compare_and_swap(&self, store: &str, key: &str, expected: Option<&[u8]>, new: &[u8]) -> Result<bool, StoreError> {
        let _turn = self.db.gate.enter().await?;
        let done = match expected {
            Some(old) => sqlx::query("UPDATE spin_key_value SET value = ?4 WHERE store = ?1 AND key = ?2 AND value = ?3")
                .bind(store)
                .bind(key)
                .bind(old)
                .bind(new)
                .execute(&self.db.pool)
                .await,
            None => sqlx::query("INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3) ON CONFLICT (store, key) DO NOTHING")
                .bind(store)
                .bind(key)
                .bind(new)
                .execute(&self.db.pool)
                .await,
        };
        Ok(done.map_err(sqlx_error)?.rows_affected() == 1)
    }
}
