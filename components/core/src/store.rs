//! The two storage interfaces the API needs, and nothing more.
//!
//! Every engine implements them over its own I/O: sqlx and Redis in host-runner's native engine,
//! `spin_sdk::sqlite`/`pg4`/`key_value` in the Spin components. The methods are `async` so that
//! the native engine can await a pool; a synchronous implementation (Spin's) simply never yields.
#![allow(async_fn_in_trait)]

use std::fmt;

/// A SQL parameter or column value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    /// SQLite has no boolean type: its adapters store `Bool` as `Integer(0|1)`.
    Bool(bool),
}

/// One result row: values in the order of the query's columns.
pub type Row = Vec<Value>;

/// Which SQL text to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A statement with its parameters, for [`SqlStore::transaction`].
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<Value>,
}

/// A storage failure, classified by what the client should be told.
///
/// The message is for logs only: it never reaches a response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The store cannot be reached (connection refused, pool timed out): `503`.
    Unavailable(String),
    /// A unique constraint was violated: `409`.
    Conflict(String),
    /// Anything else: `500`.
    Other(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Unavailable(m) => write!(f, "store unavailable: {m}"),
            StoreError::Conflict(m) => write!(f, "unique constraint violated: {m}"),
            StoreError::Other(m) => write!(f, "store error: {m}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// A SQL database. Placeholders are numbered: `?1` for SQLite, `$1` for PostgreSQL.
pub trait SqlStore {
    fn dialect(&self) -> Dialect;
    /// Runs a statement that returns rows.
    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError>;
    /// Runs a statement and returns the number of rows it changed.
    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, StoreError>;
    /// Runs all statements in one transaction: all of them or none. Returns the rows each changed.
    async fn transaction(&self, statements: &[Statement]) -> Result<Vec<u64>, StoreError>;
    /// For `/readyz`: whether a write could run now, i.e. a connection answers and can open a
    /// transaction (one left inside a transaction by an earlier request could not). Must not
    /// take the write lock, so that it stays fast while writers queue.
    async fn check_ready(&self) -> Result<(), StoreError>;
}

/// A key-value store, shaped like Spin's key-value interfaces: `fermyon:spin/key-value` and
/// `wasi:keyvalue` (`store`, `batch`, `atomics`).
pub trait KvStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    async fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Every key that starts with `prefix` (Spin: `get-keys`, filtered; Redis: `SCAN MATCH`).
    async fn keys(&self, prefix: &str) -> Result<Vec<String>, StoreError>;

    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.get(key).await?.is_some())
    }

    /// Reads many keys: the values in the order of `keys`, `None` where a key is missing.
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            values.push(self.get(key).await?);
        }
        Ok(values)
    }

    /// Writes many entries (not atomically: a failure may leave some written).
    async fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        for (key, value) in entries {
            self.set(key, value).await?;
        }
        Ok(())
    }

    /// Deletes many keys (missing ones are no error).
    async fn delete_many(&self, keys: &[String]) -> Result<(), StoreError> {
        for key in keys {
            self.delete(key).await?;
        }
        Ok(())
    }

    /// Atomically sets `key` to `new` if its value is still `expected` (`None`: if the key does
    /// not exist). Returns whether it did, as the store reports it (which Spin's Redis store
    /// gets wrong: see `data::lease`).
    async fn compare_and_swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> Result<bool, StoreError>;

    /// Atomically adds `delta` to the counter at `key` (a missing key counts as 0) and returns
    /// the sum. Counters are stored as Spin stores them: eight little-endian bytes in an embedded
    /// store, an integer in Redis; a value that is not a counter is an error.
    async fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError>;

    /// Waits `millis` before a contended key is tried again (the engine's timer: tokio in
    /// host-runner, `wasi:clocks` in a component).
    async fn pause(&self, millis: u64);
}

/// Whether a statement may write: anything but a plain `SELECT` (and `EXPLAIN`, `VALUES`).
/// `PRAGMA x = y` and `WITH … INSERT` count as writes; wrongly counting a read only makes it
/// wait as a writer would (host-runner's queue of SQLite writers, the Spin adapter's waits for
/// SQLite's lock).
pub fn may_write(sql: &str) -> bool {
    let first = sql.trim_start().split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or("");
    !["SELECT", "EXPLAIN", "VALUES"].iter().any(|read| first.eq_ignore_ascii_case(read))
}

/// A [`KvStore`] in memory, for tests and tools.
#[derive(Debug, Default)]
pub struct MemoryKv(std::sync::Mutex<std::collections::BTreeMap<String, Vec<u8>>>);

impl MemoryKv {
    fn entries(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<String, Vec<u8>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl KvStore for MemoryKv {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.entries().get(key).cloned())
    }

    async fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.entries().insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.entries().remove(key);
        Ok(())
    }

    async fn keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        Ok(self.entries().keys().filter(|k| k.starts_with(prefix)).cloned().collect())
    }

    async fn compare_and_swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> Result<bool, StoreError> {
        let mut entries = self.entries();
        if entries.get(key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        entries.insert(key.to_owned(), new.to_vec());
        Ok(true)
    }

    async fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        let mut entries = self.entries();
        let old = match entries.get(key) {
            None => 0,
            Some(bytes) => i64::from_le_bytes(bytes.as_slice().try_into().map_err(|_| StoreError::Other(format!("the value at `{key}` is not a counter")))?),
        };
        let new = old.checked_add(delta).ok_or_else(|| StoreError::Other(format!("the counter at `{key}` would overflow")))?;
        entries.insert(key.to_owned(), new.to_le_bytes().to_vec());
        Ok(new)
    }

    async fn pause(&self, millis: u64) {
        std::thread::sleep(std::time::Duration::from_millis(millis));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes() {
        assert!(!may_write("SELECT 1"));
        assert!(!may_write("  select id FROM cats"));
        assert!(!may_write("SELECT(1)"));
        assert!(may_write("INSERT INTO cats VALUES (1)"));
        assert!(may_write("UPDATE cats SET x = 1 RETURNING version"));
        assert!(may_write("WITH x AS (SELECT 1) DELETE FROM cats"));
        assert!(may_write("PRAGMA user_version = 3"));
        assert!(may_write(""));
    }
}
