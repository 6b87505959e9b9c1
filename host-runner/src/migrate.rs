//! Applying the SQL migrations, with patience for a database that is still starting.

use std::time::Duration;

use tracing::{info, warn};

use crate::stores::Sql;

/// How long `serve` and `migrate` wait for the database to accept the migrations.
const PATIENCE: Duration = Duration::from_secs(60);

pub async fn apply_with_retry(sql: &Sql) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match sql.migrate().await {
            Ok(()) => {
                info!("migrations applied");
                return Ok(());
            }
            Err(e) if tokio::time::Instant::now() < deadline && is_connection_error(&e) => {
                warn!(error = %e, "database not reachable yet; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e.context("applying migrations")),
        }
    }
}

fn is_connection_error(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<sqlx::Error>(),
            Some(sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_))
        ) || matches!(cause.downcast_ref::<sqlx::migrate::MigrateError>(), Some(sqlx::migrate::MigrateError::Execute(sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut)))
    })
}
