//! `spin:postgres/postgres@4.0.0` over sqlx PostgreSQL pools (the native engine's pool for
//! `DATABASE_URL`, one more pool per other permitted address).
//!
//! `open` checks the address against the component's `allowed_outbound_hosts` (Spin refuses
//! any other with `connection-failed`), then takes one pooled connection that the guest
//! `connection` owns until it is dropped, so that `BEGIN` … `COMMIT` sent as separate calls run
//! on one session. A connection dropped inside a transaction, or while a statement was running
//! (its request ended mid-call), is closed (which rolls it back) rather than returned to the
//! pool. While the database is down, `open` fails at once (the pool's circuit breaker).
//!
//! Values: columns are converted by type as Spin converts them (`bool`, `int2/4/8`,
//! `float4/8`, text types, `bytea`, `uuid`, `json(b)`, `numeric` → decimal text, `date`, `time`,
//! `timestamp(tz)` → UTC parts, `interval`; anything else is `unsupported` with its raw bytes).
//! Parameters: the scalar kinds, `binary` and the `int32`/`int64`/`str` arrays; the kinds that
//! need a typed encoding sqlx does not have here (date/time, uuid, jsonb, decimal, ranges,
//! interval) are refused with `bad-parameter`. spincrud's components send only `int64`,
//! `floating64`, `str`, `boolean` and `db-null`.

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgDatabaseError, PgRow, PgValueFormat};
use sqlx::{Column, Row, TypeInfo, ValueRef};
use tracing::instrument;
use wasmtime::component::Resource;

use super::sqlite::{is_compound, TxTracker};
use super::spin::postgres::postgres::{
    Column as PgColumn, DbDataType, DbError, DbValue, Error, Host, HostConnection, Interval, ParameterValue, QueryError, RowSet,
};
use super::State;
use crate::telemetry::db;
use crate::wasm::outbound::url_allowed;

/// The host side of a guest `connection`.
pub struct Connection {
    address: String,
    conn: Option<PoolConnection<sqlx::Postgres>>,
    tx: TxTracker,
    /// A statement was cut off mid-way (or its effect is not tracked): close, do not pool.
    unclean: bool,
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

impl Host for State {}

impl HostConnection for State {
    #[instrument(name = "spin_outbound_pg.open", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    async fn open(&mut self, address: String) -> wasmtime::Result<Result<Resource<Connection>, Error>> {
        if !url_allowed(&self.grants.allowed_outbound_hosts, &address) {
            // Spin names the address; it usually carries a password, so it is left out here.
            return Ok(Err(Error::ConnectionFailed(format!(
                "address is not permitted: component `{}` has no matching allowed_outbound_hosts entry",
                self.grants.id
            ))));
        }
        let pg = match self.backends.postgres(&address) {
            Ok(pg) => pg,
            Err(e) => return Ok(Err(Error::ConnectionFailed(format!("{e:#}")))),
        };
        match pg.acquire().await {
            Ok(conn) => Ok(Ok(self.table.push(Connection { address, conn: Some(conn), tx: TxTracker::default(), unclean: false })?)),
            Err(e) => Ok(Err(Error::ConnectionFailed(e.to_string()))),
        }
    }

    #[instrument(name = "spin_outbound_pg.query", skip_all, fields(otel.name = %statement, otel.kind = "client", db.system = "postgresql", db.operation = %db::operation(&statement), db.statement = %statement))]
    async fn query(&mut self, connection: Resource<Connection>, statement: String, params: Vec<ParameterValue>) -> wasmtime::Result<Result<RowSet, Error>> {
        let connection = self.table.get_mut(&connection)?;
        let Some(conn) = connection.conn.as_mut() else {
            return Ok(Err(Error::ConnectionFailed("connection is closed".into())));
        };
        let query = match bind(sqlx::query(&statement), &params) {
            Ok(q) => q,
            Err(e) => return Ok(Err(Error::BadParameter(e))),
        };
        let clean = std::mem::replace(&mut connection.unclean, true);
        let result = query.fetch_all(&mut **conn).await;
        connection.unclean = clean || is_compound(&statement);
        let rows = match result {
            Ok(rows) => rows,
            Err(e) => return Ok(Err(query_error(e))),
        };
        connection.tx.record(&statement);
        let columns: Vec<(String, String)> = match rows.first() {
            Some(row) => row.columns().iter().map(|c| (c.name().to_owned(), c.type_info().name().to_owned())).collect(),
            // No row to read them from: described once per statement (see `ColumnCache`).
            None => match self.backends.postgres_columns.get(&connection.address, &statement) {
                Some(columns) => columns.to_vec(),
                None => match sqlx::Executor::describe(&mut **conn, &statement).await {
                    Ok(d) => {
                        let columns: Vec<(String, String)> = d.columns().iter().map(|c| (c.name().to_owned(), c.type_info().name().to_owned())).collect();
                        self.backends.postgres_columns.insert(&connection.address, &statement, columns.clone());
                        columns
                    }
                    Err(_) => Vec::new(),
                },
            },
        };
        let columns = columns.into_iter().map(|(name, ty)| PgColumn { data_type: data_type(&ty), name }).collect();
        let rows = match rows.iter().map(decode_row).collect::<Result<Vec<_>, String>>() {
            Ok(rows) => rows,
            Err(e) => return Ok(Err(Error::ValueConversionFailed(e))),
        };
        Ok(Ok(RowSet { columns, rows }))
    }

    #[instrument(name = "spin_outbound_pg.execute", skip_all, fields(otel.name = %statement, otel.kind = "client", db.system = "postgresql", db.operation = %db::operation(&statement), db.statement = %statement))]
    async fn execute(&mut self, connection: Resource<Connection>, statement: String, params: Vec<ParameterValue>) -> wasmtime::Result<Result<u64, Error>> {
        let connection = self.table.get_mut(&connection)?;
        let Some(conn) = connection.conn.as_mut() else {
            return Ok(Err(Error::ConnectionFailed("connection is closed".into())));
        };
        let query = match bind(sqlx::query(&statement), &params) {
            Ok(q) => q,
            Err(e) => return Ok(Err(Error::BadParameter(e))),
        };
        let clean = std::mem::replace(&mut connection.unclean, true);
        let result = query.execute(&mut **conn).await;
        connection.unclean = clean || is_compound(&statement);
        match result {
            Ok(done) => {
                connection.tx.record(&statement);
                Ok(Ok(done.rows_affected()))
            }
            Err(e) => Ok(Err(query_error(e))),
        }
    }

    async fn drop(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Binds the guest's parameters. A `NULL` is bound as text (PostgreSQL casts it to whatever
/// the placeholder needs), so a statement run with one is not cached: sqlx would keep its
/// parameter types for later runs (as the native engine does).
fn bind<'q>(q: Query<'q>, params: &'q [ParameterValue]) -> Result<Query<'q>, String> {
    let mut q = q.persistent(!params.iter().any(|p| matches!(p, ParameterValue::DbNull)));
    for (i, p) in params.iter().enumerate() {
        q = match p {
            ParameterValue::Boolean(b) => q.bind(*b),
            ParameterValue::Int8(n) => q.bind(*n),
            ParameterValue::Int16(n) => q.bind(*n),
            ParameterValue::Int32(n) => q.bind(*n),
            ParameterValue::Int64(n) => q.bind(*n),
            ParameterValue::Floating32(f) => q.bind(*f),
            ParameterValue::Floating64(f) => q.bind(*f),
            ParameterValue::Str(s) => q.bind(s.as_str()),
            ParameterValue::Binary(b) => q.bind(b.as_slice()),
            ParameterValue::ArrayInt32(a) => q.bind(a.clone()),
            ParameterValue::ArrayInt64(a) => q.bind(a.clone()),
            ParameterValue::ArrayStr(a) => q.bind(a.clone()),
            ParameterValue::DbNull => q.bind(None::<String>),
            _ => return Err(format!("parameter ${}: this kind of value is not supported by host-runner", i + 1)),
        };
    }
    Ok(q)
}

fn query_error(e: sqlx::Error) -> Error {
    if let sqlx::Error::Database(db) = &e {
        if let Some(pg) = db.try_downcast_ref::<PgDatabaseError>() {
            let mut extras = Vec::new();
            for (name, value) in [
                ("hint", pg.hint()),
                ("schema", pg.schema()),
                ("table", pg.table()),
                ("column", pg.column()),
                ("constraint", pg.constraint()),
            ] {
                if let Some(value) = value {
                    extras.push((name.to_owned(), value.to_owned()));
                }
            }
            // PostgreSQL's own spelling (ERROR, FATAL, ...).
            let severity = format!("{:?}", pg.severity()).to_ascii_uppercase();
            return Error::QueryFailed(QueryError::DbError(DbError {
                as_text: format!("db error: {severity}: {}", pg.message()),
                severity,
                code: pg.code().to_owned(),
                message: pg.message().to_owned(),
                detail: pg.detail().map(str::to_owned),
                extras,
            }));
        }
    }
    Error::QueryFailed(QueryError::Text(e.to_string()))
}

fn data_type(name: &str) -> DbDataType {
    match name {
        "BOOL" => DbDataType::Boolean,
        "\"CHAR\"" | "CHAR" => DbDataType::Int8,
        "INT2" => DbDataType::Int16,
        "INT4" => DbDataType::Int32,
        "INT8" => DbDataType::Int64,
        "FLOAT4" => DbDataType::Floating32,
        "FLOAT8" => DbDataType::Floating64,
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => DbDataType::Str,
        "BYTEA" => DbDataType::Binary,
        "DATE" => DbDataType::Date,
        "TIME" => DbDataType::Time,
        "TIMESTAMP" | "TIMESTAMPTZ" => DbDataType::Datetime,
        "UUID" => DbDataType::Uuid,
        "JSONB" | "JSON" => DbDataType::Jsonb,
        "NUMERIC" => DbDataType::Decimal,
        "INT4RANGE" => DbDataType::RangeInt32,
        "INT8RANGE" => DbDataType::RangeInt64,
        "NUMRANGE" => DbDataType::RangeDecimal,
        "INT4[]" => DbDataType::ArrayInt32,
        "INT8[]" => DbDataType::ArrayInt64,
        "NUMERIC[]" => DbDataType::ArrayDecimal,
        "TEXT[]" | "VARCHAR[]" | "BPCHAR[]" => DbDataType::ArrayStr,
        "INTERVAL" => DbDataType::Interval,
        other => DbDataType::Other(other.to_owned()),
    }
}

fn decode_row(row: &PgRow) -> Result<Vec<DbValue>, String> {
    let mut out = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let raw = row.try_get_raw(i).map_err(|e| e.to_string())?;
        if raw.is_null() {
            out.push(DbValue::DbNull);
            continue;
        }
        let e = |e: sqlx::Error| format!("column {}: {e}", column.name());
        let value = match column.type_info().name() {
            "BOOL" => DbValue::Boolean(row.try_get(i).map_err(e)?),
            "\"CHAR\"" | "CHAR" => DbValue::Int8(row.try_get(i).map_err(e)?),
            "INT2" => DbValue::Int16(row.try_get(i).map_err(e)?),
            "INT4" => DbValue::Int32(row.try_get(i).map_err(e)?),
            "INT8" => DbValue::Int64(row.try_get(i).map_err(e)?),
            "FLOAT4" => DbValue::Floating32(row.try_get(i).map_err(e)?),
            "FLOAT8" => DbValue::Floating64(row.try_get(i).map_err(e)?),
            "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => DbValue::Str(row.try_get(i).map_err(e)?),
            "BYTEA" => DbValue::Binary(row.try_get(i).map_err(e)?),
            "INT4[]" => DbValue::ArrayInt32(row.try_get(i).map_err(e)?),
            "INT8[]" => DbValue::ArrayInt64(row.try_get(i).map_err(e)?),
            "TEXT[]" | "VARCHAR[]" | "BPCHAR[]" => DbValue::ArrayStr(row.try_get(i).map_err(e)?),
            name => {
                let binary = raw.format() == PgValueFormat::Binary;
                let bytes = raw.as_bytes().map_err(|err| format!("column {}: {err}", column.name()))?;
                match (name, binary) {
                    (_, false) => DbValue::Unsupported(bytes.to_vec()),
                    ("UUID", true) => binary::uuid(bytes).map(DbValue::Uuid).unwrap_or_else(|| DbValue::Unsupported(bytes.to_vec())),
                    ("JSONB", true) => DbValue::Jsonb(bytes.strip_prefix(&[1]).unwrap_or(bytes).to_vec()),
                    ("JSON", true) => DbValue::Jsonb(bytes.to_vec()),
                    ("NUMERIC", true) => binary::numeric(bytes).map(DbValue::Decimal).unwrap_or_else(|| DbValue::Unsupported(bytes.to_vec())),
                    ("DATE", true) => binary::date(bytes).map(DbValue::Date).unwrap_or_else(|| DbValue::Unsupported(bytes.to_vec())),
                    ("TIME", true) => binary::time(bytes).map(DbValue::Time).unwrap_or_else(|| DbValue::Unsupported(bytes.to_vec())),
                    ("TIMESTAMP" | "TIMESTAMPTZ", true) => binary::datetime(bytes).map(DbValue::Datetime).unwrap_or_else(|| DbValue::Unsupported(bytes.to_vec())),
                    ("INTERVAL", true) => binary::interval(bytes)
                        .map(|(micros, days, months)| DbValue::Interval(Interval { micros, days, months }))
                        .unwrap_or_else(|| DbValue::Unsupported(bytes.to_vec())),
                    _ => DbValue::Unsupported(bytes.to_vec()),
                }
            }
        };
        out.push(value);
    }
    Ok(out)
}

/// PostgreSQL's binary encodings of the types sqlx decodes only behind features this build
/// leaves off (chrono/time/uuid/decimal).
mod binary {
    /// Days from 0000-03-01 to 2000-01-01 (PostgreSQL's epoch), for `civil`.
    const PG_EPOCH_DAYS_FROM_UNIX: i64 = 10_957;

    fn be_i64(b: &[u8]) -> Option<i64> {
        Some(i64::from_be_bytes(b.get(..8)?.try_into().ok()?))
    }

    fn be_i32(b: &[u8]) -> Option<i32> {
        Some(i32::from_be_bytes(b.get(..4)?.try_into().ok()?))
    }

    /// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
    fn civil(days: i64) -> (i64, u8, u8) {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let y = yoe + era * 400 + i64::from(m <= 2);
        (y, m, d)
    }

    pub fn uuid(b: &[u8]) -> Option<String> {
        if b.len() != 16 {
            return None;
        }
        let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
        Some(format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]))
    }

    pub fn date(b: &[u8]) -> Option<(i32, u8, u8)> {
        let (y, m, d) = civil(i64::from(be_i32(b)?) + PG_EPOCH_DAYS_FROM_UNIX);
        Some((i32::try_from(y).ok()?, m, d))
    }

    pub fn time(b: &[u8]) -> Option<(u8, u8, u8, u32)> {
        let micros = be_i64(b)?;
        let secs = micros.div_euclid(1_000_000);
        let ns = (micros.rem_euclid(1_000_000) * 1000) as u32;
        Some(((secs / 3600) as u8, ((secs / 60) % 60) as u8, (secs % 60) as u8, ns))
    }

    pub fn datetime(b: &[u8]) -> Option<(i32, u8, u8, u8, u8, u8, u32)> {
        let micros = be_i64(b)?;
        let secs = micros.div_euclid(1_000_000);
        let ns = (micros.rem_euclid(1_000_000) * 1000) as u32;
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil(days + PG_EPOCH_DAYS_FROM_UNIX);
        Some((i32::try_from(y).ok()?, m, d, (sod / 3600) as u8, ((sod / 60) % 60) as u8, (sod % 60) as u8, ns))
    }

    pub fn interval(b: &[u8]) -> Option<(i64, i32, i32)> {
        Some((be_i64(b)?, be_i32(b.get(8..)?)?, be_i32(b.get(12..)?)?))
    }

    /// NUMERIC: ndigits, weight, sign, dscale, then base-10000 digits.
    pub fn numeric(b: &[u8]) -> Option<String> {
        let u16_at = |i: usize| Some(u16::from_be_bytes(b.get(i..i + 2)?.try_into().ok()?));
        let ndigits = usize::from(u16_at(0)?);
        let weight = i16::from_be_bytes(b.get(2..4)?.try_into().ok()?);
        let sign = u16_at(4)?;
        let dscale = usize::from(u16_at(6)?);
        match sign {
            0xC000 => return Some("NaN".into()),
            0xD000 => return Some("Infinity".into()),
            0xF000 => return Some("-Infinity".into()),
            0x0000 | 0x4000 => {}
            _ => return None,
        }
        let digits: Vec<u16> = (0..ndigits).map(|i| u16_at(8 + 2 * i)).collect::<Option<_>>()?;
        let mut int_part = String::new();
        let weight = i32::from(weight);
        for pos in 0..=weight.max(-1) {
            let d = digits.get(pos as usize).copied().unwrap_or(0);
            if int_part.is_empty() {
                if d != 0 || pos == weight {
                    int_part = d.to_string();
                }
            } else {
                int_part.push_str(&format!("{d:04}"));
            }
        }
        if int_part.is_empty() {
            int_part.push('0');
        }
        let mut frac = String::new();
        let mut pos = weight + 1;
        while frac.len() < dscale {
            let d = if pos < 0 { 0 } else { digits.get(pos as usize).copied().unwrap_or(0) };
            frac.push_str(&format!("{d:04}"));
            pos += 1;
        }
        frac.truncate(dscale);
        let sign = if sign == 0x4000 { "-" } else { "" };
        Some(if frac.is_empty() { format!("{sign}{int_part}") } else { format!("{sign}{int_part}.{frac}") })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn dates_and_times() {
            assert_eq!(date(&0i32.to_be_bytes()), Some((2000, 1, 1)));
            assert_eq!(date(&(-1i32).to_be_bytes()), Some((1999, 12, 31)));
            assert_eq!(date(&9_821i32.to_be_bytes()), Some((2026, 11, 21)));
            let micros: i64 = (9_821 * 86_400 + 5 * 3600 + 37 * 60) * 1_000_000 + 123_456;
            assert_eq!(datetime(&micros.to_be_bytes()), Some((2026, 11, 21, 5, 37, 0, 123_456_000)));
            assert_eq!(time(&((13 * 3600 + 4 * 60 + 5) * 1_000_000i64 + 7).to_be_bytes()), Some((13, 4, 5, 7000)));
        }

        #[test]
        fn numerics() {
            // 12345.678: ndigits 3, weight 1, sign +, dscale 3, digits [1, 2345, 6780]
            let mut b = vec![0, 3, 0, 1, 0, 0, 0, 3];
            for d in [1u16, 2345, 6780] {
                b.extend(d.to_be_bytes());
            }
            assert_eq!(numeric(&b).as_deref(), Some("12345.678"));
            // -0.05: ndigits 1, weight -1, sign -, dscale 2, digits [500]
            let b = [0, 1, 0xFF, 0xFF, 0x40, 0, 0, 2, 0x01, 0xF4];
            assert_eq!(numeric(&b).as_deref(), Some("-0.05"));
            // 0: ndigits 0, weight 0, dscale 0
            assert_eq!(numeric(&[0, 0, 0, 0, 0, 0, 0, 0]).as_deref(), Some("0"));
            // 22.5 with dscale 1: digits [22, 5000], weight 0
            let b = [0, 2, 0, 0, 0, 0, 0, 1, 0, 22, 0x13, 0x88];
            assert_eq!(numeric(&b).as_deref(), Some("22.5"));
        }

        #[test]
        fn uuids() {
            let b: Vec<u8> = (0..16).collect();
            assert_eq!(uuid(&b).as_deref(), Some("00010203-0405-0607-0809-0a0b0c0d0e0f"));
        }
    }
}
