//! `fermyon:spin/key-value@2.0.0` over the native engine's key-value stores: the embedded
//! `spin_key_value` table (the layout of Spin's own SQLite store, one row per key, filed under
//! the store's label) or Redis (one Redis key per key, as Spin's Redis store).

use redis::AsyncCommands;
use sqlx::Row;
use wasmtime::component::Resource;

use super::backends::KvBackend;
use super::fermyon::spin::key_value::{Error, Host, HostStore};
use super::State;

/// Spin's limit on stores open at once in one instance.
const MAX_OPEN_STORES: usize = 256;

/// The host side of a guest `store`.
pub struct Store {
    label: String,
    backend: KvBackend,
}

impl Host for State {}

impl HostStore for State {
    async fn open(&mut self, label: String) -> wasmtime::Result<Result<Resource<Store>, Error>> {
        if !self.grants.key_value_stores.contains(&label) {
            return Ok(Err(Error::AccessDenied));
        }
        let Some(backend) = self.backends.key_value(&label).cloned() else {
            return Ok(Err(Error::NoSuchStore));
        };
        if self.open_stores >= MAX_OPEN_STORES {
            return Ok(Err(Error::StoreTableFull));
        }
        self.open_stores += 1;
        Ok(Ok(self.table.push(Store { label, backend })?))
    }

    async fn get(&mut self, store: Resource<Store>, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        let store = self.table.get(&store)?;
        Ok(match &store.backend {
            KvBackend::Embedded(pool) => sqlx::query("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")
                .bind(&store.label)
                .bind(&key)
                .fetch_optional(pool)
                .await
                .and_then(|row| row.map(|r| r.try_get::<Vec<u8>, _>(0)).transpose())
                .map_err(sql_error),
            KvBackend::Redis(pool) => match pool.get().await {
                Ok(mut conn) => conn.get(&key).await.map_err(redis_error),
                Err(e) => Err(Error::Other(e.to_string())),
            },
        })
    }

    async fn set(&mut self, store: Resource<Store>, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), Error>> {
        let store = self.table.get(&store)?;
        Ok(match &store.backend {
            KvBackend::Embedded(pool) => sqlx::query(
                "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3) ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
            )
            .bind(&store.label)
            .bind(&key)
            .bind(value.as_slice())
            .execute(pool)
            .await
            .map(drop)
            .map_err(sql_error),
            KvBackend::Redis(pool) => match pool.get().await {
                Ok(mut conn) => conn.set(&key, value.as_slice()).await.map_err(redis_error),
                Err(e) => Err(Error::Other(e.to_string())),
            },
        })
    }

    async fn delete(&mut self, store: Resource<Store>, key: String) -> wasmtime::Result<Result<(), Error>> {
        let store = self.table.get(&store)?;
        Ok(match &store.backend {
            KvBackend::Embedded(pool) => sqlx::query("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")
                .bind(&store.label)
                .bind(&key)
                .execute(pool)
                .await
                .map(drop)
                .map_err(sql_error),
            KvBackend::Redis(pool) => match pool.get().await {
                Ok(mut conn) => conn.del(&key).await.map_err(redis_error),
                Err(e) => Err(Error::Other(e.to_string())),
            },
        })
    }

    async fn exists(&mut self, store: Resource<Store>, key: String) -> wasmtime::Result<Result<bool, Error>> {
        let store = self.table.get(&store)?;
        Ok(match &store.backend {
            KvBackend::Embedded(pool) => sqlx::query("SELECT EXISTS (SELECT 1 FROM spin_key_value WHERE store = ?1 AND key = ?2)")
                .bind(&store.label)
                .bind(&key)
                .fetch_one(pool)
                .await
                .and_then(|r| r.try_get::<bool, _>(0))
                .map_err(sql_error),
            KvBackend::Redis(pool) => match pool.get().await {
                Ok(mut conn) => conn.exists(&key).await.map_err(redis_error),
                Err(e) => Err(Error::Other(e.to_string())),
            },
        })
    }

    async fn get_keys(&mut self, store: Resource<Store>) -> wasmtime::Result<Result<Vec<String>, Error>> {
        let store = self.table.get(&store)?;
        Ok(match &store.backend {
            KvBackend::Embedded(pool) => sqlx::query("SELECT key FROM spin_key_value WHERE store = ?1")
                .bind(&store.label)
                .fetch_all(pool)
                .await
                .and_then(|rows| rows.iter().map(|r| r.try_get::<String, _>(0)).collect())
                .map_err(sql_error),
            KvBackend::Redis(pool) => match pool.get().await {
                Ok(mut conn) => conn.keys("*").await.map_err(redis_error),
                Err(e) => Err(Error::Other(e.to_string())),
            },
        })
    }

    async fn drop(&mut self, store: Resource<Store>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        self.open_stores = self.open_stores.saturating_sub(1);
        Ok(())
    }
}

fn sql_error(e: sqlx::Error) -> Error {
    Error::Other(super::sqlite::message(e))
}

fn redis_error(e: redis::RedisError) -> Error {
    Error::Other(e.to_string())
}
