//! Operations routes: liveness, readiness, greeting.

use http::StatusCode;
use serde_json::json;

use crate::problem::{ApiError, ApiResult};
use crate::response::{self, Response};
use crate::store::{KvStore, SqlStore};

/// `GET /healthz`: the process answers; no store is touched.
pub fn healthz() -> Response {
    response::json(StatusCode::OK, &json!({ "status": "ok" }))
}

/// `GET /hello`: the seed service's greeting.
pub fn hello() -> Response {
    response::json(StatusCode::OK, &json!({ "message": "Hello from spincrud!" }))
}

/// `GET /readyz`: both stores answer a trivial request.
pub async fn readyz<S: SqlStore, K: KvStore>(sql: &S, kv: &K) -> ApiResult<Response> {
    let sql_ok = sql.query("SELECT 1", &[]).await.is_ok();
    let kv_ok = kv.get("readyz:probe").await.is_ok();
    let status = |ok: bool| if ok { "ok" } else { "unavailable" };
    let checks = json!({ "sql": status(sql_ok), "kv": status(kv_ok) });
    if sql_ok && kv_ok {
        return Ok(response::json(StatusCode::OK, &json!({ "status": "ready", "checks": checks })));
    }
    let failed = match (sql_ok, kv_ok) {
        (false, false) => "The SQL store and the key-value store are unavailable.",
        (false, true) => "The SQL store is unavailable.",
        _ => "The key-value store is unavailable.",
    };
    Err(ApiError::Unavailable(json!({ "detail": failed, "checks": checks })))
}
