//! SQLite through sqlx: the embedded default.

use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{Row as _, TypeInfo, ValueRef};
use spincrud_core::store::{Row, Statement, StoreError, Value};
use tracing::Instrument as _;

use super::write_gate::{may_write, WriteGate, WriteTurn};
use super::{ensure_parent, sqlx_error, SQLITE_PATIENCE};
use crate::telemetry::db;

/// The SQL store on SQLite.
pub struct Sqlite {
    pub db: SqliteDb,
}

/// One SQLite database file: its connection pool and the queue of its writers. Shared by the SQL
/// store, the embedded key-value store (another file) and the wasm engine's host interfaces.
#[derive(Clone)]
pub struct SqliteDb {
    pub pool: SqlitePool,
    pub gate: WriteGate,
}

/// WAL with `synchronous = FULL`: a write is acknowledged only after the WAL is synced, so a
/// `kill -9` (or a power cut) loses nothing that a client was told succeeded.
fn connect_options(path: &Path) -> anyhow::Result<SqliteConnectOptions> {
    ensure_parent(path)?;
    Ok(SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(SQLITE_PATIENCE))
}

impl SqliteDb {
    /// Opens the database file `path` (created if missing).
    pub async fn open(path: &Path, pool_size: u32) -> anyhow::Result<SqliteDb> {
        let pool = SqlitePoolOptions::new()
            .max_connections(pool_size)
            .acquire_timeout(SQLITE_PATIENCE)
            // No ping before handing out a connection: a SQLite connection lives in this process
            // and cannot go stale, and the ping is a round trip to its worker thread per acquire.
            .test_before_acquire(false)
            .connect_with(connect_options(path)?)
            .await?;
        Ok(SqliteDb { pool, gate: WriteGate::new(SQLITE_PATIENCE) })
    }

    /// The writer's turn, if `sql` may write.
    pub async fn turn_for(&self, sql: &str) -> Result<Option<WriteTurn>, StoreError> {
        if may_write(sql) {
            Ok(Some(self.gate.enter().await?))
        } else {
            Ok(None)
        }
    }
}

impl Sqlite {
    pub async fn open(path: &Path, pool_size: u32) -> anyhow::Result<Sqlite> {
        Ok(Sqlite { db: SqliteDb::open(path, pool_size).await? })
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        let _turn = self.db.gate.enter().await?;
        sqlx::migrate!("../migrations/sqlite").run(&self.db.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.db.pool.close().await;
    }

    pub async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        db::run(db::sql("sqlite", sql), async {
            let _turn = self.db.turn_for(sql).await?;
            let rows = bind(sqlx::query(sql), params).fetch_all(&self.db.pool).await.map_err(sqlx_error)?;
            rows.iter().map(decode_row).collect()
        })
        .await
    }

    pub async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        db::run(db::sql("sqlite", sql), async {
            let _turn = self.db.turn_for(sql).await?;
            let done = bind(sqlx::query(sql), params).execute(&self.db.pool).await.map_err(sqlx_error)?;
            Ok(done.rows_affected())
        })
        .await
    }

    pub async fn transaction(&self, statements: &[Statement]) -> Result<Vec<u64>, StoreError> {
        db::run(db::transaction("sqlite", statements.len()), async {
            let _turn = self.db.gate.enter().await?;
            // One statement is atomic on its own: no BEGIN and COMMIT around it.
            if let [s] = statements {
                let done = bind(sqlx::query(&s.sql), &s.params).execute(&self.db.pool).instrument(db::sql("sqlite", &s.sql)).await.map_err(sqlx_error)?;
                return Ok(vec![done.rows_affected()]);
            }
            let mut tx = self.db.pool.begin().await.map_err(sqlx_error)?;
            let mut counts = Vec::with_capacity(statements.len());
            for s in statements {
                let done = bind(sqlx::query(&s.sql), &s.params).execute(&mut *tx).instrument(db::sql("sqlite", &s.sql)).await.map_err(sqlx_error)?;
                counts.push(done.rows_affected());
            }
            tx.commit().await.map_err(sqlx_error)?;
            Ok(counts)
        })
        .await
    }

    /// A deferred transaction (no write lock) that reads nothing, rolled back.
    pub async fn check_ready(&self) -> Result<(), StoreError> {
        let mut tx = self.db.pool.begin().await.map_err(sqlx_error)?;
        sqlx::query("SELECT 1").execute(&mut *tx).await.map_err(sqlx_error)?;
        tx.rollback().await.map_err(sqlx_error)
    }
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

fn bind<'q>(mut q: Query<'q>, params: &'q [Value]) -> Query<'q> {
    for p in params {
        q = match p {
            Value::Null => q.bind(None::<String>),
            Value::Integer(n) => q.bind(*n),
            Value::Real(f) => q.bind(*f),
            Value::Text(s) => q.bind(s.as_str()),
            // SQLite has no boolean type.
            Value::Bool(b) => q.bind(i64::from(*b)),
        };
    }
    q
}

/// Decodes by each value's storage class: SQLite columns are dynamically typed.
fn decode_row(row: &SqliteRow) -> Result<Row, StoreError> {
    let mut out = Vec::with_capacity(row.len());
    for i in 0..row.len() {
        let raw = row.try_get_raw(i).map_err(sqlx_error)?;
        if raw.is_null() {
            out.push(Value::Null);
            continue;
        }
        let value = match raw.type_info().name() {
            "INTEGER" => Value::Integer(row.try_get(i).map_err(sqlx_error)?),
            "REAL" => Value::Real(row.try_get(i).map_err(sqlx_error)?),
            "TEXT" => Value::Text(row.try_get(i).map_err(sqlx_error)?),
            other => return Err(StoreError::Other(format!("unexpected SQLite value type {other} in column {i}"))),
        };
        out.push(value);
    }
    Ok(out)
}
