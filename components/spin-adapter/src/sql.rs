//! [`SqlStore`] over Spin's SQLite database `default` or over PostgreSQL (`spin_sdk::pg4`).

use std::cell::OnceCell;

use spin_sdk::{pg4, sqlite};
use spincrud_core::store::{Dialect, Row, SqlStore, Statement, StoreError, Value};

use crate::settings;

/// The SQL store chosen by the `database_url` variable.
///
/// The variable is read, and the connection opened, on first use (a request that touches no
/// SQL costs no host call); the connection is kept for the rest of the request, so that the
/// statements of a transaction run on one connection.
pub struct SpinSql {
    backend: OnceCell<Backend>,
    conn: OnceCell<Result<Conn, StoreError>>,
}

enum Backend {
    Sqlite,
    Postgres(String),
    /// `database_url` is neither empty nor `postgres://…`: every call fails with this message.
    Invalid(String),
}

enum Conn {
    Sqlite(sqlite::Connection),
    Postgres(pg4::Connection),
}

impl SpinSql {
    /// The backend the `database_url` variable chooses (read on first use).
    pub fn from_variables() -> Self {
        SpinSql {
            backend: OnceCell::new(),
            conn: OnceCell::new(),
        }
    }

    fn backend(&self) -> &Backend {
        self.backend
            .get_or_init(|| match settings::get("database_url") {
                Ok(url) => Backend::from_url(&url),
                Err(message) => Backend::Invalid(message),
            })
    }

    fn conn(&self) -> Result<&Conn, StoreError> {
        self.conn
            .get_or_init(|| self.open())
            .as_ref()
            .map_err(Clone::clone)
    }

    fn open(&self) -> Result<Conn, StoreError> {
        match self.backend() {
            Backend::Sqlite => {
                let conn = sqlite::Connection::open("default").map_err(sqlite_error)?;
                // Spin opens a SQLite connection per component instance, whose busy handler
                // (5 s) sleeps in ever longer steps, up to 100 ms: under many writers, the ones
                // that have waited longest keep missing the lock and fail. The waits happen in
                // `sqlite_run` instead, in short steps; SQLite answers "busy" at once. Best
                // effort: a libSQL backend may refuse the pragma, which changes nothing else.
                let _ = conn.execute("PRAGMA busy_timeout = 0", &[]);
                Ok(Conn::Sqlite(conn))
            }
            Backend::Postgres(url) => pg4::Connection::open(url)
                .map(Conn::Postgres)
                .map_err(pg_error),
            Backend::Invalid(message) => Err(StoreError::Unavailable(message.clone())),
        }
    }
}

impl Backend {
    fn from_url(url: &str) -> Self {
        let url = url.trim();
        if url.is_empty() {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres(url.to_owned())
        } else {
            // Never log the URL itself: it usually carries a password.
            Backend::Invalid("database_url must be empty (SQLite) or a postgres:// URL".to_owned())
        }
    }
}

impl SqlStore for SpinSql {
    fn dialect(&self) -> Dialect {
        match self.backend() {
            Backend::Postgres(_) => Dialect::Postgres,
            Backend::Sqlite | Backend::Invalid(_) => Dialect::Sqlite,
        }
    }

    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        match self.conn()? {
            Conn::Sqlite(conn) => {
                let result = sqlite_run(conn, sql, &sqlite_params(params), Wait::ForTheLock)?;
                result
                    .rows
                    .into_iter()
                    .map(|row| row.values.into_iter().map(from_sqlite).collect())
                    .collect()
            }
            Conn::Postgres(conn) => {
                let result = conn.query(sql, &pg_params(params)).map_err(pg_error)?;
                result
                    .rows
                    .into_iter()
                    .map(|row| row.into_iter().map(from_pg).collect())
                    .collect()
            }
        }
    }

    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        match self.conn()? {
            Conn::Sqlite(conn) => sqlite_execute(conn, sql, &sqlite_params(params), Wait::ForTheLock),
            Conn::Postgres(conn) => conn.execute(sql, &pg_params(params)).map_err(pg_error),
        }
    }

    async fn check_ready(&self) -> Result<(), StoreError> {
        self.conn()?.check_ready()
    }

    async fn transaction(&self, statements: &[Statement]) -> Result<Vec<u64>, StoreError> {
        let conn = self.conn()?;
        // SQLite: take the write lock up front, so that two writers never deadlock upgrading
        // a read lock (the busy timeout then makes the second one wait).
        let begin = match conn {
            Conn::Sqlite(_) => "BEGIN IMMEDIATE",
            Conn::Postgres(_) => "BEGIN",
        };
        conn.run(begin, &[], Wait::ForTheLock)?;
        let mut changed = Vec::with_capacity(statements.len());
        for statement in statements {
            // Inside a transaction a "busy" is not waited out: it ends the transaction.
            match conn.run(&statement.sql, &statement.params, Wait::No) {
                Ok(n) => changed.push(n),
                Err(e) => {
                    let _ = conn.run("ROLLBACK", &[], Wait::No);
                    return Err(e);
                }
            }
        }
        if let Err(e) = conn.run("COMMIT", &[], Wait::ForTheLock) {
            let _ = conn.run("ROLLBACK", &[], Wait::No);
            return Err(e);
        }
        Ok(changed)
    }
}

impl Conn {
    /// Opens a transaction without taking the write lock (SQLite's `BEGIN` is deferred), so
    /// that a connection that cannot start one is found, and ends it.
    fn check_ready(&self) -> Result<(), StoreError> {
        self.run("BEGIN", &[], Wait::No)?;
        let checked = self.run("SELECT 1", &[], Wait::No).map(drop);
        let ended = self.run("ROLLBACK", &[], Wait::No).map(drop);
        checked.and(ended)
    }

    /// Runs one statement and returns the number of rows it changed.
    fn run(&self, sql: &str, params: &[Value], wait: Wait) -> Result<u64, StoreError> {
        match self {
            Conn::Sqlite(conn) => sqlite_execute(conn, sql, &sqlite_params(params), wait),
            Conn::Postgres(conn) => conn.execute(sql, &pg_params(params)).map_err(pg_error),
        }
    }
}

/// Whether a SQLite statement waits while another connection holds the database's lock.
#[derive(Clone, Copy, PartialEq)]
enum Wait {
    /// A statement on its own (it did nothing when SQLite said "busy"), `BEGIN` or `COMMIT`:
    /// tried again until [`SQLITE_PATIENCE_MS`].
    ForTheLock,
    No,
}

/// How long a SQLite statement waits for the lock before the request answers 503: as long as
/// host-runner's writers queue.
const SQLITE_PATIENCE_MS: u64 = 5_000;
/// The longest pause between two tries: short enough that a writer that has waited long still
/// gets its turn among many.
const SQLITE_MAX_PAUSE_MS: u64 = 8;

/// Runs a statement, trying again in short pauses while SQLite answers "busy" (another
/// instance's connection holds the lock).
fn sqlite_run(
    conn: &sqlite::Connection,
    sql: &str,
    params: &[sqlite::Value],
    wait: Wait,
) -> Result<sqlite::QueryResult, StoreError> {
    let started = wasi::clocks::monotonic_clock::now();
    let mut pause_ms = 1;
    loop {
        match conn.execute(sql, params) {
            Err(sqlite::Error::Io(message)) if wait == Wait::ForTheLock && is_busy(&message) => {
                let waited_ms = (wasi::clocks::monotonic_clock::now() - started) / 1_000_000;
                if waited_ms >= SQLITE_PATIENCE_MS {
                    return Err(classify_sqlite(message));
                }
                wasi::clocks::monotonic_clock::subscribe_duration(pause_ms * 1_000_000).block();
                pause_ms = (pause_ms * 2).min(SQLITE_MAX_PAUSE_MS);
            }
            result => return result.map_err(sqlite_error),
        }
    }
}

/// SQLITE_BUSY and SQLITE_LOCKED, as rusqlite words them.
fn is_busy(message: &str) -> bool {
    message.contains("database is locked") || message.contains("database table is locked")
}

/// `fermyon:spin/sqlite@2.0.0` returns rows only: the change count is SQLite's `changes()` of
/// the same connection, read right after the statement.
fn sqlite_execute(
    conn: &sqlite::Connection,
    sql: &str,
    params: &[sqlite::Value],
    wait: Wait,
) -> Result<u64, StoreError> {
    sqlite_run(conn, sql, params, wait)?;
    let result = conn
        .execute("SELECT changes()", &[])
        .map_err(sqlite_error)?;
    match result.rows.first().and_then(|row| row.values.first()) {
        Some(sqlite::Value::Integer(n)) => Ok(u64::try_from(*n).unwrap_or(0)),
        _ => Err(StoreError::Other(
            "changes() returned no integer".to_owned(),
        )),
    }
}

// ---- values -------------------------------------------------------------------------------

fn sqlite_params(params: &[Value]) -> Vec<sqlite::Value> {
    params
        .iter()
        .map(|value| match value {
            Value::Null => sqlite::Value::Null,
            Value::Integer(i) => sqlite::Value::Integer(*i),
            Value::Real(r) => sqlite::Value::Real(*r),
            Value::Text(s) => sqlite::Value::Text(s.clone()),
            // SQLite has no boolean type.
            Value::Bool(b) => sqlite::Value::Integer(i64::from(*b)),
        })
        .collect()
}

fn from_sqlite(value: sqlite::Value) -> Result<Value, StoreError> {
    Ok(match value {
        sqlite::Value::Null => Value::Null,
        sqlite::Value::Integer(i) => Value::Integer(i),
        sqlite::Value::Real(r) => Value::Real(r),
        sqlite::Value::Text(s) => Value::Text(s),
        sqlite::Value::Blob(bytes) => Value::Text(
            String::from_utf8(bytes)
                .map_err(|_| StoreError::Other("non-UTF-8 BLOB column".to_owned()))?,
        ),
    })
}

fn pg_params(params: &[Value]) -> Vec<pg4::ParameterValue> {
    params
        .iter()
        .map(|value| match value {
            Value::Null => pg4::ParameterValue::DbNull,
            Value::Integer(i) => pg4::ParameterValue::Int64(*i),
            Value::Real(r) => pg4::ParameterValue::Floating64(*r),
            Value::Text(s) => pg4::ParameterValue::Str(s.clone()),
            Value::Bool(b) => pg4::ParameterValue::Boolean(*b),
        })
        .collect()
}

fn from_pg(value: pg4::DbValue) -> Result<Value, StoreError> {
    use pg4::DbValue as V;
    Ok(match value {
        V::DbNull => Value::Null,
        V::Boolean(b) => Value::Bool(b),
        V::Int8(i) => Value::Integer(i.into()),
        V::Int16(i) => Value::Integer(i.into()),
        V::Int32(i) => Value::Integer(i.into()),
        V::Int64(i) => Value::Integer(i),
        V::Floating32(f) => Value::Real(f.into()),
        V::Floating64(f) => Value::Real(f),
        V::Str(s) | V::Uuid(s) => Value::Text(s),
        V::Jsonb(bytes) | V::Binary(bytes) => Value::Text(
            String::from_utf8(bytes)
                .map_err(|_| StoreError::Other("non-UTF-8 bytes in a column".to_owned()))?,
        ),
        // NUMERIC: a number to the core; its exact text only when f64 cannot read it.
        V::Decimal(s) => s.parse::<f64>().map(Value::Real).unwrap_or(Value::Text(s)),
        V::Timestamp(seconds) => Value::Integer(seconds),
        V::Date((y, m, d)) => Value::Text(format!("{y:04}-{m:02}-{d:02}")),
        V::Time((h, min, s, ns)) => Value::Text(format!("{h:02}:{min:02}:{s:02}.{:06}", ns / 1000)),
        // TIMESTAMP/TIMESTAMPTZ come as UTC parts: RFC 3339 with microseconds, as the contract.
        V::Datetime((y, mon, d, h, min, s, ns)) => Value::Text(format!(
            "{y:04}-{mon:02}-{d:02}T{h:02}:{min:02}:{s:02}.{:06}Z",
            ns / 1000
        )),
        _ => {
            return Err(StoreError::Other(
                "unsupported PostgreSQL column type".to_owned(),
            ))
        }
    })
}

// ---- errors -------------------------------------------------------------------------------

fn sqlite_error(e: sqlite::Error) -> StoreError {
    match e {
        sqlite::Error::NoSuchDatabase => {
            StoreError::Unavailable("SQLite database `default` does not exist".to_owned())
        }
        sqlite::Error::AccessDenied => StoreError::Unavailable(
            "component has no sqlite_databases = [\"default\"] grant".to_owned(),
        ),
        sqlite::Error::InvalidConnection => {
            StoreError::Unavailable("invalid SQLite connection".to_owned())
        }
        sqlite::Error::DatabaseFull => StoreError::Other("SQLite database is full".to_owned()),
        sqlite::Error::Io(message) => classify_sqlite(message),
    }
}

/// SQLite reports everything else as text (rusqlite's error message).
fn classify_sqlite(message: String) -> StoreError {
    if message.contains("UNIQUE constraint failed") {
        StoreError::Conflict(message)
    } else if is_busy(&message) || message.contains("unable to open database")
    {
        StoreError::Unavailable(message)
    } else {
        StoreError::Other(message)
    }
}

fn pg_error(e: pg4::PgError) -> StoreError {
    use pg4::{PgError as E, QueryError};
    match e {
        E::ConnectionFailed(message) => StoreError::Unavailable(message),
        E::QueryFailed(QueryError::DbError(db)) => {
            // Code and message only: `detail` quotes row values.
            classify_sqlstate(&db.code, format!("{} {}", db.code, db.message))
        }
        E::QueryFailed(QueryError::Text(message)) => classify_pg_text(message),
        E::BadParameter(message) | E::ValueConversionFailed(message) => StoreError::Other(message),
        E::Other(message) => classify_pg_text(message),
    }
}

/// SQLSTATE classes: 23505 unique_violation; 08 connection exception, 53 insufficient
/// resources (too many connections), 57P0x operator intervention (shutdown, restart).
fn classify_sqlstate(code: &str, message: String) -> StoreError {
    if code == "23505" {
        StoreError::Conflict(message)
    } else if code.starts_with("08") || code.starts_with("53") || code.starts_with("57P0") {
        StoreError::Unavailable(message)
    } else {
        StoreError::Other(message)
    }
}

fn classify_pg_text(message: String) -> StoreError {
    let lower = message.to_ascii_lowercase();
    if lower.contains("23505") || lower.contains("duplicate key value violates unique constraint") {
        StoreError::Conflict(message)
    } else if lower.contains("connection") || lower.contains("timed out") {
        StoreError::Unavailable(message)
    } else {
        StoreError::Other(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_chooses_the_backend() {
        assert!(matches!(Backend::from_url(""), Backend::Sqlite));
        assert!(matches!(Backend::from_url("  "), Backend::Sqlite));
        assert!(matches!(
            Backend::from_url("postgres://u:p@db:5432/spincrud"),
            Backend::Postgres(_)
        ));
        assert!(matches!(
            Backend::from_url("postgresql://db/spincrud"),
            Backend::Postgres(_)
        ));
        match Backend::from_url("mysql://u:secret@db/x") {
            Backend::Invalid(message) => assert!(!message.contains("secret")),
            _ => panic!("mysql:// must be rejected"),
        }
    }

    #[test]
    fn sqlite_errors_are_classified() {
        let conflict = classify_sqlite("UNIQUE constraint failed: users.username".into());
        assert!(matches!(conflict, StoreError::Conflict(_)));
        let locked = classify_sqlite("database is locked".into());
        assert!(matches!(locked, StoreError::Unavailable(_)));
        let other = classify_sqlite("no such table: cats".into());
        assert!(matches!(other, StoreError::Other(_)));
        assert!(matches!(
            sqlite_error(sqlite::Error::AccessDenied),
            StoreError::Unavailable(_)
        ));
    }

    #[test]
    fn postgres_errors_are_classified() {
        assert!(matches!(
            classify_sqlstate("23505", "dup".into()),
            StoreError::Conflict(_)
        ));
        assert!(matches!(
            classify_sqlstate("08006", "gone".into()),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            classify_sqlstate("57P01", "admin shutdown".into()),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            classify_sqlstate("42P01", "undefined table".into()),
            StoreError::Other(_)
        ));
        assert!(matches!(
            pg_error(pg4::PgError::ConnectionFailed("refused".into())),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            classify_pg_text("error 23505: duplicate key value violates unique constraint".into()),
            StoreError::Conflict(_)
        ));
    }

    #[test]
    fn values_convert_both_ways() {
        let params = sqlite_params(&[Value::Bool(true), Value::Bool(false), Value::Null]);
        assert!(matches!(
            params.as_slice(),
            [
                sqlite::Value::Integer(1),
                sqlite::Value::Integer(0),
                sqlite::Value::Null
            ]
        ));
        assert_eq!(
            from_pg(pg4::DbValue::Datetime((
                2026,
                11,
                21,
                5,
                37,
                0,
                123_456_789
            )))
            .unwrap(),
            Value::Text("2026-11-21T05:37:00.123456Z".into())
        );
        assert_eq!(from_pg(pg4::DbValue::Int32(7)).unwrap(), Value::Integer(7));
        assert_eq!(
            from_pg(pg4::DbValue::Decimal("22.5".into())).unwrap(),
            Value::Real(22.5)
        );
    }
}
