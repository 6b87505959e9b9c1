//! Operations routes: liveness, readiness, greeting.

use http::StatusCode;
use serde_json::json;

use crate::problem::{ApiError, ApiResult};
use crate::response::{self, Response};
use crate::store::{KvStore, SqlStore};

/// `GET /healthz`: the process answers; no store is touched. (The bodies here are written out:
/// nothing is built per request that could be static.)
pub fn healthz() -> Response {
    response::bytes(StatusCode::OK, br#"{"status":"ok"}"#.to_vec())
}

/// `GET /hello`: the seed service's greeting.
pub fn hello() -> Response {
    response::bytes(StatusCode::OK, br#"{"message":"Hello from spincrud!"}"#.to_vec())
}

/// `GET /readyz`: the SQL store could run a write (see [`SqlStore::check_ready`]) and the
/// key-value store answers. The causes of a failure go to the engine's log, not the client.
pub async fn readyz<S: SqlStore, K: KvStore>(sql: &S, kv: &K) -> ApiResult<Response> {
    let sql_result = sql.check_ready().await;
    let kv_result = kv.get("readyz:probe").await.map(drop);
    let status = |r: &Result<(), _>| if r.is_ok() { "ok" } else { "unavailable" };
    let checks = json!({ "sql": status(&sql_result), "kv": status(&kv_result) });
    let detail = match (&sql_result, &kv_result) {
        (Ok(()), Ok(())) => return Ok(response::json(StatusCode::OK, &json!({ "status": "ready", "checks": checks }))),
        (Err(_), Err(_)) => "The SQL store and the key-value store are unavailable.",
        (Err(_), Ok(())) => "The SQL store is unavailable.",
        (Ok(()), Err(_)) => "The key-value store is unavailable.",
    };
    let cause = [("sql", sql_result), ("kv", kv_result)]
        .into_iter()
        .filter_map(|(store, r)| r.err().map(|e| format!("{store}: {e}")))
        .collect::<Vec<_>>()
        .join("; ");
    Err(ApiError::Unavailable { extra: json!({ "detail": detail, "checks": checks }), cause: Some(cause) })
}

/// `GET /readyz` of a server that is shutting down: it still serves what reaches it, but wants
/// no new work (see [`crate::readyz_while_draining`]).
pub fn shutting_down() -> ApiError {
    let extra = json!({ "detail": "The server is shutting down.", "checks": { "server": "shutting-down" } });
    ApiError::Unavailable { extra, cause: None }
}
