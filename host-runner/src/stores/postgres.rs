//! PostgreSQL through a pooled sqlx connection.

use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{Column, Connection as _, Row as _, TypeInfo, ValueRef};
use spincrud_core::store::{Row, Statement, StoreError, Value};

use super::circuit::Circuit;
use super::sqlx_error;

pub struct Postgres {
    pub pool: PgPool,
    pub circuit: Circuit,
}

impl Postgres {
    /// Connects on first use, so that host-runner starts (and says "not ready") while the
    /// database is still coming up. `timeout` bounds waiting for a pooled connection and making
    /// a new one (sqlx retries a refused connection until then).
    pub fn connect_lazy(url: &str, pool_size: u32, timeout: Duration) -> anyhow::Result<Postgres> {
        let pool = PgPoolOptions::new().max_connections(pool_size).acquire_timeout(timeout).connect_lazy(url)?;
        Ok(Postgres { pool, circuit: Circuit::new("postgres") })
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        sqlx::migrate!("../migrations/postgres").run(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A pooled connection, unless the database is known to be down (see [`Circuit`]).
    pub async fn acquire(&self) -> Result<PoolConnection<sqlx::Postgres>, StoreError> {
        self.circuit.call(async { self.pool.acquire().await.map_err(sqlx_error) }).await
    }

    /// Classifies an error of a statement, and opens the circuit on a lost connection.
    pub fn failed(&self, e: sqlx::Error) -> StoreError {
        let error = sqlx_error(e);
        self.circuit.record(&error);
        error
    }

    pub async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let mut conn = self.acquire().await?;
        let rows = bind(sqlx::query(sql), params).fetch_all(&mut *conn).await.map_err(|e| self.failed(e))?;
        rows.iter().map(decode_row).collect()
    }

    pub async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let mut conn = self.acquire().await?;
        let done = bind(sqlx::query(sql), params).execute(&mut *conn).await.map_err(|e| self.failed(e))?;
        Ok(done.rows_affected())
    }

    pub async fn transaction(&self, statements: &[Statement]) -> Result<Vec<u64>, StoreError> {
        let mut conn = self.acquire().await?;
        // An error (or a request dropped mid-way) drops `tx`, which rolls back.
        let mut tx = conn.begin().await.map_err(|e| self.failed(e))?;
        let mut counts = Vec::with_capacity(statements.len());
        for s in statements {
            let done = bind(sqlx::query(&s.sql), &s.params).execute(&mut *tx).await.map_err(|e| self.failed(e))?;
            counts.push(done.rows_affected());
        }
        tx.commit().await.map_err(|e| self.failed(e))?;
        Ok(counts)
    }

    /// A transaction that reads nothing, rolled back.
    pub async fn check_ready(&self) -> Result<(), StoreError> {
        let mut conn = self.acquire().await?;
        let mut tx = conn.begin().await.map_err(|e| self.failed(e))?;
        sqlx::query("SELECT 1").execute(&mut *tx).await.map_err(|e| self.failed(e))?;
        tx.rollback().await.map_err(|e| self.failed(e))
    }
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// The core casts every placeholder (`$1::bigint`), so a `NULL` may be bound as text. But sqlx
/// caches a prepared statement by its text with the parameter types of its first use: a
/// statement run with a `NULL` is therefore never cached, or a later `i64` in that position would
/// be sent as text.
fn bind<'q>(q: Query<'q>, params: &'q [Value]) -> Query<'q> {
    let mut q = q.persistent(!params.contains(&Value::Null));
    for p in params {
        q = match p {
            Value::Null => q.bind(None::<String>),
            Value::Integer(n) => q.bind(*n),
            Value::Real(f) => q.bind(*f),
            Value::Text(s) => q.bind(s.as_str()),
            Value::Bool(b) => q.bind(*b),
        };
    }
    q
}

fn decode_row(row: &PgRow) -> Result<Row, StoreError> {
    let mut out = Vec::with_capacity(row.columns().len());
    for (i, column) in row.columns().iter().enumerate() {
        if row.try_get_raw(i).map_err(sqlx_error)?.is_null() {
            out.push(Value::Null);
            continue;
        }
        let value = match column.type_info().name() {
            "INT8" => Value::Integer(row.try_get(i).map_err(sqlx_error)?),
            "INT4" => Value::Integer(row.try_get::<i32, _>(i).map_err(sqlx_error)?.into()),
            "FLOAT8" => Value::Real(row.try_get(i).map_err(sqlx_error)?),
            "BOOL" => Value::Bool(row.try_get(i).map_err(sqlx_error)?),
            "TEXT" | "VARCHAR" => Value::Text(row.try_get(i).map_err(sqlx_error)?),
            other => return Err(StoreError::Other(format!("unexpected PostgreSQL type {other} in column {i}"))),
        };
        out.push(value);
    }
    Ok(out)
}
