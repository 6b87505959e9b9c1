//! PostgreSQL through `spin:postgres@4.0.0` (`spin_sdk::pg4`): values and errors.

use spin_sdk::pg4;
use spincrud_core::store::{StoreError, Value};

pub(super) fn rows(result: pg4::RowSet) -> Result<Vec<Vec<Value>>, StoreError> {
    result.rows.into_iter().map(|row| row.into_iter().map(from_pg).collect()).collect()
}

pub(super) fn params(params: &[Value]) -> Vec<pg4::ParameterValue> {
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

pub(super) fn error(e: pg4::PgError) -> StoreError {
    use pg4::{PgError as E, QueryError};
    match e {
        E::ConnectionFailed(message) => StoreError::Unavailable(message),
        E::QueryFailed(QueryError::DbError(db)) => {
            // Code and message only: `detail` quotes row values.
            classify_sqlstate(&db.code, format!("{} {}", db.code, db.message))
        }
        E::QueryFailed(QueryError::Text(message)) => classify_text(message),
        E::BadParameter(message) | E::ValueConversionFailed(message) => StoreError::Other(message),
        E::Other(message) => classify_text(message),
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

fn classify_text(message: String) -> StoreError {
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
            error(pg4::PgError::ConnectionFailed("refused".into())),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            classify_text("error 23505: duplicate key value violates unique constraint".into()),
            StoreError::Conflict(_)
        ));
    }

    #[test]
    fn values_convert() {
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
