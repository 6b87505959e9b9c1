//! Redis through a deadpool connection pool. Keys are stored as given and counters as Redis
//! integers (`INCRBY`), as Spin's Redis key-value store does, so the components and host-runner
//! share data. A circuit breaker makes requests fail at once while Redis is down.

use std::time::Duration;

use deadpool_redis::{Config, Connection, Pool, Runtime, Timeouts};
use redis::AsyncCommands;
use spincrud_core::store::StoreError;

use super::circuit::Circuit;
use crate::telemetry::db;
use super::BUSY_PATIENCE;

pub struct RedisKv {
    pub pool: Pool,
    pub circuit: Circuit,
}

/// Keys per `MGET`/`MSET`/`DEL`, so that no single command or reply grows without bound.
const CHUNK: usize = 500;

/// Sets `KEYS[1]` to `ARGV[2]` if its value is `ARGV[1]`; 1 if it did.
const SWAP_IF_EQUAL: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return 1 else return 0 end";

impl RedisKv {
    /// `timeout` bounds waiting for a pooled connection and making a new one.
    pub fn new(url: &str, pool_size: u32, timeout: Duration) -> anyhow::Result<RedisKv> {
        let mut config = Config::from_url(url);
        let mut pool_config = deadpool_redis::PoolConfig::new(pool_size as usize);
        pool_config.timeouts = Timeouts { wait: Some(timeout), create: Some(timeout), recycle: Some(timeout) };
        config.pool = Some(pool_config);
        Ok(RedisKv { pool: config.create_pool(Some(Runtime::Tokio1))?, circuit: Circuit::new("redis") })
    }

    /// A pooled connection, unless Redis is known to be down. Waiting past the timeout for a
    /// free connection (Redis answers, every connection is busy) goes on up to
    /// [`BUSY_PATIENCE`] and then is a 503 that does not open the circuit; failing to connect
    /// opens it.
    async fn conn(&self) -> Result<Connection, StoreError> {
        let patience = tokio::time::Instant::now() + BUSY_PATIENCE;
        let attempt = self.circuit.call(async {
            loop {
                match self.pool.get().await {
                    Ok(conn) => return Ok(Ok(conn)),
                    Err(e @ deadpool_redis::PoolError::Timeout(deadpool_redis::TimeoutType::Wait)) => {
                        if tokio::time::Instant::now() >= patience {
                            return Ok(Err(StoreError::Unavailable(e.to_string())));
                        }
                    }
                    Err(e) => return Err(StoreError::Unavailable(e.to_string())),
                }
            }
        });
        attempt.await.and_then(|busy_or_conn| busy_or_conn)
    }

    /// Classifies a command's error, and opens the circuit on a lost connection.
    fn failed(&self, e: redis::RedisError) -> StoreError {
        let error = if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout() {
            StoreError::Unavailable(e.to_string())
        } else {
            StoreError::Other(e.to_string())
        };
        self.circuit.record(&error);
        error
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        db::run(db::redis("GET"), async { self.conn().await?.get(key).await.map_err(|e| self.failed(e)) }).await
    }

    pub async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        db::run(db::redis("EXISTS"), async { self.conn().await?.exists(key).await.map_err(|e| self.failed(e)) }).await
    }

    pub async fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        db::run(db::redis("SET"), async { self.conn().await?.set(key, value).await.map_err(|e| self.failed(e)) }).await
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        db::run(db::redis("DEL"), async { self.conn().await?.del(key).await.map_err(|e| self.failed(e)) }).await
    }

    /// `SCAN MATCH <prefix>*` (never `KEYS`, which blocks Redis), with the prefix's glob
    /// characters escaped.
    pub async fn keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        db::run(db::redis("SCAN"), self.scan(prefix)).await
    }

    async fn scan(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
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
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .map_err(|e| self.failed(e))?;
            keys.extend(batch);
            if next == 0 {
                return Ok(keys);
            }
            cursor = next;
        }
    }

    /// `MGET`, in chunks; the values in the order of `keys`.
    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let span = db::redis("MGET");
        db::batch(&span, keys.len());
        db::run(span, async {
            let mut conn = self.conn().await?;
            let mut values = Vec::with_capacity(keys.len());
            for chunk in keys.chunks(CHUNK) {
                let part: Vec<Option<Vec<u8>>> = redis::cmd("MGET").arg(chunk).query_async(&mut conn).await.map_err(|e| self.failed(e))?;
                values.extend(part);
            }
            Ok(values)
        })
        .await
    }

    /// `MSET` in one round trip per chunk.
    pub async fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        let span = db::redis("MSET");
        db::batch(&span, entries.len());
        db::run(span, async {
            let mut conn = self.conn().await?;
            for chunk in entries.chunks(CHUNK) {
                let () = redis::cmd("MSET").arg(chunk).query_async(&mut conn).await.map_err(|e| self.failed(e))?;
            }
            Ok(())
        })
        .await
    }

    pub async fn delete_many(&self, keys: &[String]) -> Result<(), StoreError> {
        let span = db::redis("DEL");
        db::batch(&span, keys.len());
        db::run(span, async {
            let mut conn = self.conn().await?;
            for chunk in keys.chunks(CHUNK) {
                let _: u64 = redis::cmd("DEL").arg(chunk).query_async(&mut conn).await.map_err(|e| self.failed(e))?;
            }
            Ok(())
        })
        .await
    }

    pub async fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        db::run(db::redis("INCRBY"), async { self.conn().await?.incr(key, delta).await.map_err(|e| self.failed(e)) }).await
    }

    /// Sets `key` to `new` only if its value is still `expected` (`None`: only if it does not
    /// exist), atomically (`SET NX`, or a script that compares and sets).
    pub async fn compare_and_swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> Result<bool, StoreError> {
        let span = db::redis(if expected.is_some() { "EVAL" } else { "SET" });
        db::run(span, async {
            let mut conn = self.conn().await?;
            match expected {
                None => {
                    let set: Option<String> = redis::cmd("SET").arg(key).arg(new).arg("NX").query_async(&mut conn).await.map_err(|e| self.failed(e))?;
                    Ok(set.is_some())
                }
                Some(old) => {
                    let swapped: i64 =
                        redis::cmd("EVAL").arg(SWAP_IF_EQUAL).arg(1).arg(key).arg(old).arg(new).query_async(&mut conn).await.map_err(|e| self.failed(e))?;
                    Ok(swapped == 1)
                }
            }
        })
        .await
    }
}
