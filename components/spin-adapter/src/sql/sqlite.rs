//! Spin's SQLite database `default` (`spin:sqlite@3.0.0`): a connection per instance, as Spin
//! gives it, and the waits for SQLite's lock done here rather than in SQLite's long busy steps.

use std::cell::Cell;

use spin_sdk::sqlite3 as sqlite;
use spincrud_core::store::{may_write, StoreError, Value};

/// How long a statement waits for the lock before the request answers 503: as long as
/// host-runner's writers queue.
const PATIENCE_MS: u64 = 5_000;
/// How long SQLite's own busy handler waits before it answers "busy" (its first steps: 1, 2 and
/// 2 ms, each try only a lock attempt inside the host).
const BUSY_TIMEOUT_MS: u32 = 5;
/// The pause between two tries of a writer that has just started to wait; it halves every
/// [`AGING_MS`] of waiting, down to 1 ms.
const FIRST_PAUSE_MS: u64 = 8;
const AGING_MS: u64 = 250;

/// The pause before the next try, after `waited_ms`: the longer a writer has waited, the more
/// often it tries, so that the lock goes to those that have waited longest. (The instances of
/// a Spin application share no memory to queue in; with one pause for all, every release went
/// to whoever tried first, and under many writers a few waited out their patience.)
fn pause_ms(waited_ms: u64) -> u64 {
    (FIRST_PAUSE_MS >> (waited_ms / AGING_MS).min(3)).max(1)
}

/// Whether a statement waits while another connection holds the database's lock.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Wait {
    /// A statement on its own (it did nothing when SQLite said "busy"), `BEGIN` or `COMMIT`:
    /// tried again until [`PATIENCE_MS`].
    ForTheLock,
    /// Inside a transaction, where a "busy" ends the transaction instead.
    No,
}

pub(super) struct Sqlite {
    conn: sqlite::Connection,
    /// This connection answers "busy" at once (set before its first write).
    waits_here: Cell<bool>,
}

impl Sqlite {
    pub(super) fn open() -> Result<Sqlite, StoreError> {
        let conn = sqlite::Connection::open("default").map_err(error)?;
        Ok(Sqlite { conn, waits_here: Cell::new(false) })
    }

    /// Runs a statement and returns its rows.
    ///
    /// Spin's connections (one per instance) have SQLite's busy handler, which sleeps in ever
    /// longer steps, up to 100 ms: under many writers, the ones that waited longest kept missing
    /// the lock and failed after its 5 s. Before its first write, a connection is told to give up
    /// after [`BUSY_TIMEOUT_MS`] (one `PRAGMA`; reads never wait for the lock in WAL mode, which
    /// `migrations/sqlite/0003_wal.sql` sets), and the wait goes on here, in short pauses. (With
    /// no busy wait at all, every try was a host call that prepares the statement again: 32
    /// writers on Spin 3.6.3 made 935 inserts/s with a p99 of 223 ms; with 5 ms, 1,000 and 155 ms.)
    pub(super) fn run(&self, sql: &str, params: &[Value], wait: Wait) -> Result<sqlite::QueryResult, StoreError> {
        let params: Vec<sqlite::Value> = params.iter().map(to_sqlite).collect();
        if wait == Wait::ForTheLock && may_write(sql) && !self.waits_here.replace(true) {
            // Best effort: a libSQL backend may refuse the pragma, which changes nothing else.
            let _ = self.conn.execute(&format!("PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}"), &[]);
        }
        // Read at the first "busy" (a clock read is a host call, and most statements never wait).
        let mut started = None;
        loop {
            match self.conn.execute(sql, &params) {
                Err(sqlite::Error::Io(message)) if wait == Wait::ForTheLock && is_busy(&message) => {
                    let now = wasi::clocks::monotonic_clock::now();
                    let waited_ms = (now - *started.get_or_insert(now)) / 1_000_000;
                    if waited_ms >= PATIENCE_MS {
                        return Err(classify(message));
                    }
                    wasi::clocks::monotonic_clock::subscribe_duration(pause_ms(waited_ms) * 1_000_000).block();
                }
                result => return result.map_err(error),
            }
        }
    }

    /// Runs a statement and returns the number of rows it changed.
    pub(super) fn execute(&self, sql: &str, params: &[Value], wait: Wait) -> Result<u64, StoreError> {
        self.run(sql, params, wait)?;
        Ok(self.conn.changes())
    }
}

pub(super) fn rows(result: sqlite::QueryResult) -> Result<Vec<Vec<Value>>, StoreError> {
    result.rows.into_iter().map(|row| row.values.into_iter().map(from_sqlite).collect()).collect()
}

fn to_sqlite(value: &Value) -> sqlite::Value {
    match value {
        Value::Null => sqlite::Value::Null,
        Value::Integer(i) => sqlite::Value::Integer(*i),
        Value::Real(r) => sqlite::Value::Real(*r),
        Value::Text(s) => sqlite::Value::Text(s.clone()),
        // SQLite has no boolean type.
        Value::Bool(b) => sqlite::Value::Integer(i64::from(*b)),
    }
}

fn from_sqlite(value: sqlite::Value) -> Result<Value, StoreError> {
    Ok(match value {
        sqlite::Value::Null => Value::Null,
        sqlite::Value::Integer(i) => Value::Integer(i),
        sqlite::Value::Real(r) => Value::Real(r),
        sqlite::Value::Text(s) => Value::Text(s),
        sqlite::Value::Blob(bytes) => Value::Text(String::from_utf8(bytes).map_err(|_| StoreError::Other("non-UTF-8 BLOB column".to_owned()))?),
    })
}

/// SQLITE_BUSY and SQLITE_LOCKED, as rusqlite words them.
fn is_busy(message: &str) -> bool {
    message.contains("database is locked") || message.contains("database table is locked")
}

fn error(e: sqlite::Error) -> StoreError {
    match e {
        sqlite::Error::NoSuchDatabase => StoreError::Unavailable("SQLite database `default` does not exist".to_owned()),
        sqlite::Error::AccessDenied => StoreError::Unavailable("component has no sqlite_databases = [\"default\"] grant".to_owned()),
        sqlite::Error::InvalidConnection => StoreError::Unavailable("invalid SQLite connection".to_owned()),
        sqlite::Error::DatabaseFull => StoreError::Other("SQLite database is full".to_owned()),
        sqlite::Error::Io(message) => classify(message),
    }
}

/// SQLite reports everything else as text (rusqlite's error message).
fn classify(message: String) -> StoreError {
    if message.contains("UNIQUE constraint failed") {
        StoreError::Conflict(message)
    } else if is_busy(&message) || message.contains("unable to open database") {
        StoreError::Unavailable(message)
    } else {
        StoreError::Other(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified() {
        assert!(matches!(classify("UNIQUE constraint failed: users.username".into()), StoreError::Conflict(_)));
        assert!(matches!(classify("database is locked".into()), StoreError::Unavailable(_)));
        assert!(matches!(classify("no such table: cats".into()), StoreError::Other(_)));
        assert!(matches!(error(sqlite::Error::AccessDenied), StoreError::Unavailable(_)));
    }

    #[test]
    fn writers_that_waited_longer_try_more_often() {
        assert_eq!([0, 249, 250, 500, 750, 5000].map(pause_ms), [8, 8, 4, 2, 1, 1]);
    }

    #[test]
    fn booleans_are_integers() {
        let params: Vec<sqlite::Value> = [Value::Bool(true), Value::Bool(false), Value::Null].iter().map(to_sqlite).collect();
        assert!(matches!(params.as_slice(), [sqlite::Value::Integer(1), sqlite::Value::Integer(0), sqlite::Value::Null]));
    }
}
