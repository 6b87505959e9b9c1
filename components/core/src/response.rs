//! Building successful answers.

use http::{header, HeaderValue, StatusCode};
use serde_json::Value as Json;

pub type Response = http::Response<Vec<u8>>;

pub fn json_bytes(value: &Json) -> Vec<u8> {
    serde_json::to_vec(value).expect("a serde_json::Value always serializes")
}

/// A JSON answer.
pub fn json(status: StatusCode, value: &Json) -> Response {
    bytes(status, json_bytes(value))
}

/// A JSON answer from bytes that are already JSON.
pub fn bytes(status: StatusCode, body: Vec<u8>) -> Response {
    let mut resp = http::Response::new(body);
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

pub fn no_content() -> Response {
    let mut resp = http::Response::new(Vec::new());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp
}

/// Sets a header whose value the API built itself (ids, counts, paths it percent-encoded).
pub fn set_header(resp: &mut Response, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

/// Adds `token` to the answer's `Vary`, kept as one field line (`Vary: Prefer, Origin`) so that
/// every engine writes it alike.
pub fn add_vary(resp: &mut Response, token: &str) {
    let value = match resp.headers().get(header::VARY).and_then(|v| v.to_str().ok()) {
        Some(current) if current.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)) => return,
        Some(current) if !current.trim().is_empty() => format!("{current}, {token}"),
        _ => token.to_string(),
    };
    set_header(resp, header::VARY, &value);
}
