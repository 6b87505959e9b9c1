//! Redis through a deadpool connection pool. Keys are stored as given, as Spin's Redis
//! key-value store does, so the components and host-runner share data.

use deadpool_redis::{Config, Connection, Pool, Runtime, Timeouts};
use redis::AsyncCommands;
use spincrud_core::store::StoreError;

use super::ACQUIRE_TIMEOUT;

pub struct RedisKv {
    pub pool: Pool,
}

impl RedisKv {
    pub fn new(url: &str, pool_size: u32) -> anyhow::Result<RedisKv> {
        let mut config = Config::from_url(url);
        let mut pool_config = deadpool_redis::PoolConfig::new(pool_size as usize);
        pool_config.timeouts = Timeouts { wait: Some(ACQUIRE_TIMEOUT), create: Some(ACQUIRE_TIMEOUT), recycle: Some(ACQUIRE_TIMEOUT) };
        config.pool = Some(pool_config);
        Ok(RedisKv { pool: config.create_pool(Some(Runtime::Tokio1))? })
    }

    async fn conn(&self) -> Result<Connection, StoreError> {
        self.pool.get().await.map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn().await?.get(key).await.map_err(redis_error)
    }

    pub async fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.conn().await?.set(key, value).await.map_err(redis_error)
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.conn().await?.del(key).await.map_err(redis_error)
    }

    /// `SCAN MATCH <prefix>*` (never `KEYS`, which blocks Redis), with the prefix's glob
    /// characters escaped.
    pub async fn keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut pattern = String::with_capacity(prefix.len() + 1);
        for c in prefix.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('*');
        let mut conn = self.conn().await?;
        let mut keys = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) =
                redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(1000).query_async(&mut conn).await.map_err(redis_error)?;
            keys.extend(batch);
            if next == 0 {
                return Ok(keys);
            }
            cursor = next;
        }
    }

    /// `MGET`, in chunks so that no single reply grows without bound.
    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut conn = self.conn().await?;
        let mut values = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(500) {
            let part: Vec<Option<Vec<u8>>> = redis::cmd("MGET").arg(chunk).query_async(&mut conn).await.map_err(redis_error)?;
            values.extend(part);
        }
        Ok(values)
    }

    /// `MSET` in one round trip per chunk.
    pub async fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        for chunk in entries.chunks(500) {
            let () = redis::cmd("MSET").arg(chunk).query_async(&mut conn).await.map_err(redis_error)?;
        }
        Ok(())
    }
}

fn redis_error(e: redis::RedisError) -> StoreError {
    if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout() {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Other(e.to_string())
    }
}
