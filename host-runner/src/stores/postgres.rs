//! PostgreSQL through a pooled sqlx connection.

use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{Column, Connection as _, Row as _, TypeInfo, ValueRef};
use spincrud_core::store::{Row, Statement, StoreError, Value};
use tracing::Instrument as _;

use super::circuit::Circuit;
use super::{sqlx_error, BUSY_PATIENCE};
use crate::telemetry::db;

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
    ///
    /// Waiting past the store timeout means the database is down, or up and slow to give a
    /// connection (every one busy, a new one slow to open under load); a quick TCP connect
    /// tells which. Down: 503 now, and the circuit opens. Up: the request waits on, up to
    /// [`BUSY_PATIENCE`], and then gets a 503 that does not open the circuit for everyone.
    pub async fn acquire(&self) -> Result<PoolConnection<sqlx::Postgres>, StoreError> {
        let patience = tokio::time::Instant::now() + BUSY_PATIENCE;
        let attempt = self.circuit.call(async {
            loop {
                match self.pool.acquire().await {
                    Ok(conn) => return Ok(Ok(conn)),
                    Err(sqlx::Error::PoolTimedOut) if self.answers_tcp().await => {
                        if tokio::time::Instant::now() >= patience {
                            return Ok(Err(StoreError::Unavailable("no PostgreSQL connection came free in time".into())));
                        }
                    }
                    Err(e) => return Err(sqlx_error(e)),
                }
            }
        });
        attempt.await.and_then(|busy_or_conn| busy_or_conn)
    }

    /// Whether the database's address accepts a TCP connection within 200 ms.
    async fn answers_tcp(&self) -> bool {
        let options = self.pool.connect_options();
        let address = format!("{}:{}", options.get_host(), options.get_port());
        // A Unix socket path is no TCP address: count it as not answering.
        if options.get_host().starts_with('/') {
            return false;
        }
        matches!(tokio::time::timeout(Duration::from_millis(200), tokio::net::TcpStream::connect(address)).await, Ok(Ok(_)))
    }

    /// Classifies an error of a statement, and opens the circuit on a lost connection.
    pub fn failed(&self, e: sqlx::Error) -> StoreError {
        let error = sqlx_error(e);
        self.circuit.record(&error);
        error
    }

    pub async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        db::run(db::sql("postgresql", sql), async {
            let mut conn = self.acquire().await?;
            let rows = bind(sqlx::query(sql), params).fetch_all(&mut *conn).await.map_err(|e| self.failed(e))?;
            rows.iter().map(decode_row).collect()
        })
        .await
    }

    pub async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        db::run(db::sql("postgresql", sql), async {
            let mut conn = self.acquire().await?;
            let done = bind(sqlx::query(sql), params).execute(&mut *conn).await.map_err(|e| self.failed(e))?;
            Ok(done.rows_affected())
        })
        .await
    }

    pub async fn transaction(&self, statements: &[Statement]) -> Result<Vec<u64>, StoreError> {
        db::run(db::transaction("postgresql", statements.len()), async {
            let mut conn = self.acquire().await?;
            // One statement is atomic on its own: no BEGIN and COMMIT round trips around it.
            if let [s] = statements {
                let statement = bind(sqlx::query(&s.sql), &s.params).execute(&mut *conn).instrument(db::sql("postgresql", &s.sql));
                return Ok(vec![statement.await.map_err(|e| self.failed(e))?.rows_affected()]);
            }
            // An error (or a request dropped mid-way) drops `tx`, which rolls back.
            let mut tx = conn.begin().await.map_err(|e| self.failed(e))?;
            let mut counts = Vec::with_capacity(statements.len());
            for s in statements {
                let statement = bind(sqlx::query(&s.sql), &s.params).execute(&mut *tx).instrument(db::sql("postgresql", &s.sql));
                counts.push(statement.await.map_err(|e| self.failed(e))?.rows_affected());
            }
            tx.commit().await.map_err(|e| self.failed(e))?;
            Ok(counts)
        })
        .await
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
