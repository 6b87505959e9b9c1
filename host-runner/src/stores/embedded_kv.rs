//! The embedded key-value store: a SQLite table shaped like the one Spin's own default store uses
//! (`spin_key_value`), in its own database file.

use std::path::Path;

use sqlx::sqlite::SqlitePool;
use sqlx::Row as _;
use spincrud_core::store::StoreError;

use super::sqlite::open_pool;
use super::sqlx_error;

/// The store name every row is filed under (Spin's `default` store).
const STORE: &str = "default";

pub struct EmbeddedKv {
    pub pool: SqlitePool,
}

impl EmbeddedKv {
    pub async fn open(path: &Path, pool_size: u32) -> anyhow::Result<EmbeddedKv> {
        let pool = open_pool(path, pool_size).await?;
        sqlx::query("CREATE TABLE IF NOT EXISTS spin_key_value (store TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (store, key))")
            .execute(&pool)
            .await?;
        Ok(EmbeddedKv { pool })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")
            .bind(STORE)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(sqlx_error)?;
        row.map(|r| r.try_get::<Vec<u8>, _>(0).map_err(sqlx_error)).transpose()
    }

    pub async fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.set_many(&[(key.to_string(), value.to_vec())]).await
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")
            .bind(STORE)
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(sqlx_error)?;
        Ok(())
    }

    pub async fn keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        // substr() rather than LIKE: a prefix may contain LIKE's wildcards.
        sqlx::query_scalar("SELECT key FROM spin_key_value WHERE store = ?1 AND substr(key, 1, ?2) = ?3")
            .bind(STORE)
            .bind(prefix.chars().count() as i64)
            .bind(prefix)
            .fetch_all(&self.pool)
            .await
            .map_err(sqlx_error)
    }

    /// One read connection for the whole batch.
    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(sqlx_error)?;
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            let row = sqlx::query("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")
                .bind(STORE)
                .bind(key)
                .fetch_optional(&mut *conn)
                .await
                .map_err(sqlx_error)?;
            values.push(row.map(|r| r.try_get::<Vec<u8>, _>(0)).transpose().map_err(sqlx_error)?);
        }
        Ok(values)
    }

    /// One transaction (and one sync) for the whole batch.
    pub async fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(sqlx_error)?;
        for (key, value) in entries {
            sqlx::query("INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3) ON CONFLICT (store, key) DO UPDATE SET value = excluded.value")
                .bind(STORE)
                .bind(key)
                .bind(value.as_slice())
                .execute(&mut *tx)
                .await
                .map_err(sqlx_error)?;
        }
        tx.commit().await.map_err(sqlx_error)
    }
}
