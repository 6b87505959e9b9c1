//! Spans for store operations, in the database semantic conventions: `db.system`,
//! `db.operation` and the statement's shape (`db.statement`: the SQL text with its `?1` / `$1`
//! placeholders, never a value; for Redis only the command). SQL spans are named by their
//! statement, as Spin names its SQLite and PostgreSQL spans, so a trace from Spin and one from
//! host-runner read alike. All are disabled (and free) when telemetry is off. (The wasm
//! engine's host interfaces declare theirs with `#[instrument]`, with Spin's span names.)

use std::future::Future;

use spincrud_core::store::StoreError;
use tracing::field::Empty;
use tracing::{Instrument as _, Span};

/// Runs a store operation in its span, and marks the span failed when the operation fails.
pub async fn run<T>(span: Span, operation: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
    let result = operation.instrument(span.clone()).await;
    if let Err(e) = &result {
        failed(
            &span,
            match e {
                StoreError::Unavailable(_) => "unavailable",
                StoreError::Conflict(_) => "conflict",
                StoreError::Other(_) => "other",
            },
        );
    }
    result
}

/// Marks a span failed, with the kind of failure (never the message: it may quote values).
pub fn failed(span: &Span, kind: &str) {
    span.record("otel.status_code", "ERROR");
    span.record("error.type", kind);
}

/// One SQL statement (or one key-value operation on the embedded store's table).
pub fn sql(system: &'static str, statement: &str) -> Span {
    tracing::info_span!(
        "db",
        otel.name = statement,
        otel.kind = "client",
        db.system = system,
        db.operation = operation(statement),
        db.statement = statement,
        db.operation.batch.size = Empty,
        otel.status_code = Empty,
        error.type = Empty,
    )
}

/// A transaction: its statements are its children.
pub fn transaction(system: &'static str, statements: usize) -> Span {
    tracing::info_span!(
        "db",
        otel.name = "TRANSACTION",
        otel.kind = "client",
        db.system = system,
        db.operation = "TRANSACTION",
        db.operation.batch.size = statements,
        otel.status_code = Empty,
        error.type = Empty,
    )
}

/// One Redis command (no key, no value).
pub fn redis(command: &'static str) -> Span {
    tracing::info_span!(
        "db",
        otel.name = command,
        otel.kind = "client",
        db.system = "redis",
        db.operation = command,
        db.operation.batch.size = Empty,
        otel.status_code = Empty,
        error.type = Empty,
    )
}

/// Marks a span that covers several keys or rows.
pub fn batch(span: &Span, size: usize) {
    span.record("db.operation.batch.size", size);
}

/// The statement's first keyword: `SELECT`, `INSERT`, `BEGIN`, ...
pub fn operation(statement: &str) -> String {
    statement.trim_start().split(|c: char| c.is_whitespace() || c == '(' || c == ';').next().unwrap_or("").to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    #[test]
    fn operations_are_first_keywords() {
        assert_eq!(super::operation("  select id FROM cats WHERE id = ?1"), "SELECT");
        assert_eq!(super::operation("BEGIN IMMEDIATE"), "BEGIN");
        assert_eq!(super::operation("WITH x AS (SELECT 1) SELECT * FROM x"), "WITH");
    }
}
