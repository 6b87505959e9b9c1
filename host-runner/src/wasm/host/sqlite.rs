//! `spin:sqlite/sqlite@3.0.0` over the native engine's sqlx SQLite pools.
//!
//! A guest `connection` owns one pooled connection for its whole life: the components run
//! `BEGIN IMMEDIATE` … `COMMIT` as separate `execute` calls, and read `changes()` after them,
//! which must all reach the same SQLite connection. When the guest drops the resource or the instance ends
//! (a response sent, a trap, a deadline, a client that hung up mid-request), the connection goes
//! back to the pool only if it is known to be clean: a connection left inside a transaction, with
//! a statement still running (the request was dropped mid-call), after a statement whose effect
//! is not tracked (several statements in one text), or whose settings the guest changed
//! (`PRAGMA x = y`, `ATTACH`) is closed instead, which rolls back whatever it held. (Under Spin
//! every instance opens a fresh connection, so nothing of one request may reach the next.)
//!
//! Writers take turns ([`crate::stores::SqliteDb`]'s queue), as the native engine's do: a
//! connection takes its turn at `BEGIN IMMEDIATE` (or at its first write) and gives it back when
//! its transaction ends, or after the statement when it writes outside one.
//!
//! One fast path: `PRAGMA busy_timeout = N` (the components shorten it before they write, to
//! wait for Spin's lock in short steps of their own) is answered as SQLite answers it, without
//! changing the pooled connection: here the writers' queue already waits in order, so the
//! components never see a busy database, whatever its timeout.

use futures_util::TryStreamExt;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::SqliteRow;
use sqlx::{Column, Either, Executor, Row, Statement, TypeInfo, ValueRef};
use tracing::instrument;
use wasmtime::component::Resource;

use super::spin::sqlite::sqlite::{Error, Host, HostConnection, QueryResult, RowResult, Value};
use super::State;
use crate::stores::{may_write, SqliteDb, WriteTurn};
use crate::telemetry::db;

/// The host side of a guest `connection`.
pub struct Connection {
    database: String,
    db: SqliteDb,
    conn: Option<PoolConnection<sqlx::Sqlite>>,
    tx: TxTracker,
    /// This connection's turn to write, while it writes.
    turn: Option<WriteTurn>,
    /// The connection may not be clean (settings changed, untracked statements, a statement cut
    /// off mid-way): close rather than pool it.
    unclean: bool,
    /// SQLite's `changes()` and `last_insert_rowid()` after this connection's last write.
    changes: u64,
    last_insert_rowid: i64,
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            if self.tx.open || self.unclean {
                conn.close_on_drop();
            }
        }
    }
}

/// Whether running `statement` needs the writer's turn first.
fn needs_turn(statement: &str) -> bool {
    let mut words = statement.trim_start().split(|c: char| c.is_whitespace() || c == ';').filter(|w| !w.is_empty());
    let first = words.next().unwrap_or("").to_ascii_uppercase();
    match first.as_str() {
        // A deferred transaction takes the turn at its first write.
        "BEGIN" => matches!(words.next().map(str::to_ascii_uppercase).as_deref(), Some("IMMEDIATE" | "EXCLUSIVE")),
        "COMMIT" | "END" | "ROLLBACK" | "ABORT" | "SAVEPOINT" | "RELEASE" => false,
        _ => may_write(statement),
    }
}

/// Whether a statement text holds more than one statement (whose effects are not tracked).
pub(super) fn is_compound(statement: &str) -> bool {
    statement.trim().trim_end_matches(';').contains(';')
}

/// `PRAGMA busy_timeout = N` / `PRAGMA busy_timeout(N)` → N.
fn busy_timeout_pragma(statement: &str) -> Option<i64> {
    let s = statement.trim().trim_end_matches(';').trim_end().to_ascii_lowercase();
    let rest = s.strip_prefix("pragma")?.trim_start();
    let rest = rest.strip_prefix("busy_timeout")?.trim_start();
    let value = match rest.strip_prefix('=') {
        Some(v) => v.trim(),
        None => rest.strip_prefix('(')?.strip_suffix(')')?.trim(),
    };
    value.parse().ok()
}

/// Whether a statement changes the connection's own settings (rather than the database).
fn changes_connection(statement: &str) -> bool {
    let s = statement.trim_start();
    let word = s.split(|c: char| c.is_whitespace() || c == ';').next().unwrap_or("").to_ascii_uppercase();
    match word.as_str() {
        "ATTACH" | "DETACH" => true,
        "PRAGMA" => s.contains('=') || s.contains('('),
        _ => false,
    }
}

/// Whether the statements seen so far leave a transaction open (from their leading keyword).
#[derive(Default)]
pub struct TxTracker {
    pub open: bool,
}

impl TxTracker {
    /// Records a statement that succeeded.
    pub fn record(&mut self, statement: &str) {
        let mut words = statement.trim_start().split(|c: char| c.is_whitespace() || c == ';');
        let first = words.next().unwrap_or("").to_ascii_uppercase();
        match first.as_str() {
            "BEGIN" | "START" | "SAVEPOINT" => self.open = true,
            "COMMIT" | "END" => self.open = false,
            "ROLLBACK" | "ABORT" => {
                let rest: Vec<String> = words.filter(|w| !w.is_empty()).map(str::to_ascii_uppercase).collect();
                // `ROLLBACK TO [SAVEPOINT] x` keeps the transaction open.
                if !rest.iter().any(|w| w == "TO") {
                    self.open = false;
                }
            }
            _ => {}
        }
    }
}

impl Host for State {}

impl HostConnection for State {
    #[instrument(name = "spin_sqlite.open", skip_all, fields(otel.kind = "client", db.system = "sqlite"))]
    async fn open(&mut self, database: String) -> wasmtime::Result<Result<Resource<Connection>, Error>> {
        if !self.grants.sqlite_databases.contains(&database) {
            return Ok(Err(Error::AccessDenied));
        }
        let db = match self.backends.sqlite(&database).await {
            None => return Ok(Err(Error::NoSuchDatabase)),
            Some(Err(message)) => return Ok(Err(Error::Io(message))),
            Some(Ok(handle)) => handle.db.clone(),
        };
        let conn = match db.pool.acquire().await {
            Ok(conn) => conn,
            Err(e) => return Ok(Err(Error::Io(message(e)))),
        };
        let connection = Connection { database, db, conn: Some(conn), tx: TxTracker::default(), turn: None, unclean: false, changes: 0, last_insert_rowid: 0 };
        Ok(Ok(self.table.push(connection)?))
    }

    #[instrument(name = "spin_sqlite.execute", skip_all, fields(otel.name = %statement, otel.kind = "client", db.system = "sqlite", db.operation = %db::operation(&statement), db.statement = %statement))]
    async fn execute(&mut self, connection: Resource<Connection>, statement: String, parameters: Vec<Value>) -> wasmtime::Result<Result<QueryResult, Error>> {
        let connection = self.table.get_mut(&connection)?;
        if connection.conn.is_none() {
            return Ok(Err(Error::InvalidConnection));
        }
        if parameters.is_empty() {
            if let Some(ms) = busy_timeout_pragma(&statement) {
                return Ok(Ok(QueryResult { columns: vec!["timeout".to_owned()], rows: vec![RowResult { values: vec![Value::Integer(ms)] }] }));
            }
        }
        if changes_connection(&statement) || is_compound(&statement) {
            connection.unclean = true;
        }
        if connection.turn.is_none() && needs_turn(&statement) {
            match connection.db.gate.enter().await {
                Ok(turn) => connection.turn = Some(turn),
                // SQLite's own words for it, which the components read as "unavailable".
                Err(e) => return Ok(Err(Error::Io(format!("database is locked: {e}")))),
            }
        }
        let mut query = sqlx::query(&statement);
        for p in &parameters {
            query = match p {
                Value::Integer(i) => query.bind(*i),
                Value::Real(r) => query.bind(*r),
                Value::Text(t) => query.bind(t.as_str()),
                Value::Blob(b) => query.bind(b.as_slice()),
                Value::Null => query.bind(None::<String>),
            };
        }
        let Some(conn) = connection.conn.as_mut() else {
            return Ok(Err(Error::InvalidConnection));
        };
        // Should this call be dropped mid-way (its request ended), the flag stays set and the
        // connection is closed rather than pooled: the statement may have run.
        let clean = std::mem::replace(&mut connection.unclean, true);
        let mut summaries = Vec::new();
        let mut rows = Vec::new();
        let outcome = {
            // Rows, and the summaries that carry rows_affected and last_insert_rowid.
            let mut stream = (&mut **conn).fetch_many(query);
            loop {
                match stream.try_next().await {
                    Ok(Some(Either::Left(summary))) => summaries.push(summary),
                    Ok(Some(Either::Right(row))) => rows.push(row),
                    Ok(None) => break Ok(()),
                    Err(e) => break Err(e),
                }
            }
        };
        connection.unclean = clean;
        if outcome.is_ok() {
            connection.tx.record(&statement);
            // SQLite's changes() and last_insert_rowid(): what the last write left.
            if let (true, Some(summary)) = (may_write(&statement), summaries.last()) {
                connection.changes = summary.rows_affected();
                if summary.last_insert_rowid() != 0 {
                    connection.last_insert_rowid = summary.last_insert_rowid();
                }
            }
        }
        if !connection.tx.open {
            connection.turn = None;
        }
        if let Err(e) = outcome {
            return Ok(Err(Error::Io(message(e))));
        }
        let columns = match rows.first() {
            Some(row) => row.columns().iter().map(|c| c.name().to_owned()).collect(),
            // No row to read the names from: the prepared statement has them.
            None => match self.backends.sqlite_columns.get(&connection.database, &statement) {
                Some(columns) => columns.to_vec(),
                None => match (&mut **conn).prepare(&statement).await {
                    Ok(prepared) => {
                        let columns: Vec<String> = prepared.columns().iter().map(|c| c.name().to_owned()).collect();
                        self.backends.sqlite_columns.insert(&connection.database, &statement, columns.clone());
                        columns
                    }
                    Err(_) => Vec::new(),
                },
            },
        };
        let rows = match rows.iter().map(decode_row).collect::<Result<Vec<_>, String>>() {
            Ok(rows) => rows,
            Err(e) => return Ok(Err(Error::Io(e))),
        };
        Ok(Ok(QueryResult { columns, rows }))
    }

    fn last_insert_rowid(&mut self, connection: Resource<Connection>) -> wasmtime::Result<i64> {
        Ok(self.table.get(&connection)?.last_insert_rowid)
    }

    fn changes(&mut self, connection: Resource<Connection>) -> wasmtime::Result<u64> {
        Ok(self.table.get(&connection)?.changes)
    }

    async fn drop(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

/// Values by their storage class, as SQLite (and Spin) report them.
fn decode_row(row: &SqliteRow) -> Result<RowResult, String> {
    let mut values = Vec::with_capacity(row.len());
    for i in 0..row.len() {
        let raw = row.try_get_raw(i).map_err(message)?;
        if raw.is_null() {
            values.push(Value::Null);
            continue;
        }
        let value = match raw.type_info().name() {
            "INTEGER" => Value::Integer(row.try_get(i).map_err(message)?),
            "REAL" => Value::Real(row.try_get(i).map_err(message)?),
            "TEXT" => Value::Text(row.try_get(i).map_err(message)?),
            _ => Value::Blob(row.try_get(i).map_err(message)?),
        };
        values.push(value);
    }
    Ok(RowResult { values })
}

/// The database's own message (what SQLite itself says, as Spin reports it), else sqlx's.
pub(super) fn message(e: sqlx::Error) -> String {
    match &e {
        sqlx::Error::Database(db) => db.message().to_owned(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{busy_timeout_pragma, changes_connection, is_compound, needs_turn, TxTracker};

    #[test]
    fn writes_take_a_turn_and_reads_do_not() {
        assert!(needs_turn("BEGIN IMMEDIATE"));
        assert!(needs_turn("begin exclusive transaction"));
        assert!(!needs_turn("BEGIN"));
        assert!(!needs_turn("BEGIN DEFERRED"));
        assert!(!needs_turn("COMMIT"));
        assert!(!needs_turn("ROLLBACK"));
        assert!(!needs_turn("SELECT changes()"));
        assert!(needs_turn("INSERT INTO cats (id) VALUES (?1)"));
        assert!(needs_turn("UPDATE cats SET age = 1 RETURNING version"));
        assert!(needs_turn("DELETE FROM cats"));
        assert!(is_compound("SELECT 1; BEGIN"));
        assert!(!is_compound("SELECT 1;"));
    }

    #[test]
    fn busy_timeout_pragmas_are_recognised() {
        assert_eq!(busy_timeout_pragma("PRAGMA busy_timeout = 5000"), Some(5000));
        assert_eq!(busy_timeout_pragma("  pragma BUSY_TIMEOUT=7000; "), Some(7000));
        assert_eq!(busy_timeout_pragma("PRAGMA busy_timeout(10)"), Some(10));
        assert_eq!(busy_timeout_pragma("PRAGMA busy_timeout"), None);
        assert_eq!(busy_timeout_pragma("PRAGMA foreign_keys = 1"), None);
        assert_eq!(busy_timeout_pragma("SELECT 1"), None);
        assert!(changes_connection("PRAGMA foreign_keys = ON"));
        assert!(changes_connection("ATTACH DATABASE 'x' AS y"));
        assert!(!changes_connection("PRAGMA busy_timeout"));
        assert!(!changes_connection("SELECT '=' FROM t"));
    }

    #[test]
    fn transactions_are_tracked_by_keyword() {
        let mut t = TxTracker::default();
        t.record("  begin immediate");
        assert!(t.open);
        t.record("INSERT INTO x VALUES (1)");
        assert!(t.open);
        t.record("ROLLBACK TO SAVEPOINT a");
        assert!(t.open);
        t.record("COMMIT");
        assert!(!t.open);
        t.record("START TRANSACTION");
        t.record("rollback;");
        assert!(!t.open);
        t.record("SELECT changes()");
        assert!(!t.open);
    }
}
