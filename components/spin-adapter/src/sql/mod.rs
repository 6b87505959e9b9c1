//! [`SqlStore`] over Spin's SQLite database `default` or over PostgreSQL (`spin_sdk::pg4`).

mod postgres;
mod sqlite;

use std::cell::OnceCell;

use spin_sdk::pg4;
use spincrud_core::store::{Dialect, Row, SqlStore, Statement, StoreError, Value};

use self::sqlite::{Sqlite, Wait};
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
    Sqlite(Sqlite),
    Postgres(pg4::Connection),
}

impl SpinSql {
    /// The backend the `database_url` variable chooses (read on first use).
    pub fn from_variables() -> Self {
        SpinSql { backend: OnceCell::new(), conn: OnceCell::new() }
    }

    fn backend(&self) -> &Backend {
        self.backend.get_or_init(|| match settings::get("database_url", false) {
            Ok(url) => Backend::from_url(&url),
            Err(message) => Backend::Invalid(message),
        })
    }

    fn conn(&self) -> Result<&Conn, StoreError> {
        self.conn.get_or_init(|| self.open()).as_ref().map_err(Clone::clone)
    }

    fn open(&self) -> Result<Conn, StoreError> {
        match self.backend() {
            Backend::Sqlite => Sqlite::open().map(Conn::Sqlite),
            Backend::Postgres(url) => pg4::Connection::open(url).map(Conn::Postgres).map_err(postgres::error),
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
            Conn::Sqlite(conn) => sqlite::rows(conn.run(sql, params, Wait::ForTheLock)?),
            Conn::Postgres(conn) => postgres::rows(conn.query(sql, &postgres::params(params)).map_err(postgres::error)?),
        }
    }

    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        self.conn()?.execute(sql, params, Wait::ForTheLock)
    }

    async fn check_ready(&self) -> Result<(), StoreError> {
        self.conn()?.check_ready()
    }

    async fn transaction(&self, statements: &[Statement]) -> Result<Vec<u64>, StoreError> {
        let conn = self.conn()?;
        // One statement is atomic on its own: no BEGIN and COMMIT around it. On SQLite that
        // also holds the write lock for the statement only, not across the three host calls
        // of a transaction, which under many writers is what everyone waits for.
        if let [statement] = statements {
            return Ok(vec![conn.execute(&statement.sql, &statement.params, Wait::ForTheLock)?]);
        }
        // SQLite: take the write lock up front, so that two writers never deadlock upgrading
        // a read lock.
        let begin = match conn {
            Conn::Sqlite(_) => "BEGIN IMMEDIATE",
            Conn::Postgres(_) => "BEGIN",
        };
        conn.execute(begin, &[], Wait::ForTheLock)?;
        let mut changed = Vec::with_capacity(statements.len());
        for statement in statements {
            match conn.execute(&statement.sql, &statement.params, Wait::No) {
                Ok(n) => changed.push(n),
                Err(e) => {
                    let _ = conn.execute("ROLLBACK", &[], Wait::No);
                    return Err(e);
                }
            }
        }
        if let Err(e) = conn.execute("COMMIT", &[], Wait::ForTheLock) {
            let _ = conn.execute("ROLLBACK", &[], Wait::No);
            return Err(e);
        }
        Ok(changed)
    }
}

impl Conn {
    /// Opens a transaction without taking the write lock (SQLite's `BEGIN` is deferred), so
    /// that a connection that cannot start one is found, and ends it.
    fn check_ready(&self) -> Result<(), StoreError> {
        self.execute("BEGIN", &[], Wait::No)?;
        let checked = self.execute("SELECT 1", &[], Wait::No).map(drop);
        let ended = self.execute("ROLLBACK", &[], Wait::No).map(drop);
        checked.and(ended)
    }

    /// Runs one statement and returns the number of rows it changed. (`wait` is SQLite's.)
    fn execute(&self, sql: &str, params: &[Value], wait: Wait) -> Result<u64, StoreError> {
        match self {
            Conn::Sqlite(conn) => conn.execute(sql, params, wait),
            Conn::Postgres(conn) => conn.execute(sql, &postgres::params(params)).map_err(postgres::error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_chooses_the_backend() {
        assert!(matches!(Backend::from_url(""), Backend::Sqlite));
        assert!(matches!(Backend::from_url("  "), Backend::Sqlite));
        assert!(matches!(Backend::from_url("postgres://u:p@db:5432/spincrud"), Backend::Postgres(_)));
        assert!(matches!(Backend::from_url("postgresql://db/spincrud"), Backend::Postgres(_)));
        match Backend::from_url("mysql://u:secret@db/x") {
            Backend::Invalid(message) => assert!(!message.contains("secret")),
            _ => panic!("mysql:// must be rejected"),
        }
    }
}
