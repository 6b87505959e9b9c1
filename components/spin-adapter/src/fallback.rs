//! The few answers given before the core can run (an unreadable request, a broken configuration).
//!
//! They follow the contract's problem format (`docs/contract-notes.md`) so that a client cannot
//! tell them from the core's own problems.

use crate::http::{self, header, HeaderValue, StatusCode};

fn problem(status: StatusCode, slug: &str, detail: &str) -> http::Response<Vec<u8>> {
    // `detail` is a fixed text from this crate: never a store message or a request value.
    let body = format!(
        r#"{{"type":"https://spincrud.dev/problems/{slug}","title":"{title}","status":{code},"detail":"{detail}"}}"#,
        title = status.canonical_reason().unwrap_or(""),
        code = status.as_u16(),
    );
    let mut resp = http::Response::new(body.into_bytes());
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    resp
}

/// `500`: the Spin variables do not make a valid configuration (details are in the log).
pub(crate) fn misconfigured() -> http::Response<Vec<u8>> {
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal-error",
        "The server is not configured correctly.",
    )
}

/// `400`: the request could not be turned into an HTTP request the core understands.
pub(crate) fn bad_request(detail: &str) -> http::Response<Vec<u8>> {
    problem(StatusCode::BAD_REQUEST, "bad-request", detail)
}

/// Echoes the client's `x-request-id` (from `spincrud_core::request::client_request_id`), as the
/// core does on every answer.
pub(crate) fn with_request_id(
    mut resp: http::Response<Vec<u8>>,
    request_id: Option<HeaderValue>,
) -> http::Response<Vec<u8>> {
    if let Some(id) = request_id {
        resp.headers_mut().insert("x-request-id", id);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_are_valid_json_documents() {
        let resp = misconfigured();
        assert_eq!(resp.status(), 500);
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let text = String::from_utf8(resp.into_body()).unwrap();
        assert_eq!(
            text,
            r#"{"type":"https://spincrud.dev/problems/internal-error","title":"Internal Server Error","status":500,"detail":"The server is not configured correctly."}"#
        );
    }
}
