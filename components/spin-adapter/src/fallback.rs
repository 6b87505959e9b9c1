//! The few answers given before the core can run (an unreadable request, a broken configuration).
//!
//! They are the core's own problem documents, so that a client cannot tell them apart.

use crate::http::{self, HeaderValue, StatusCode};
use spincrud_core::problem_response as problem;

/// `500`: the Spin variables do not make a valid configuration (details are in the log).
pub(crate) fn misconfigured() -> http::Response<Vec<u8>> {
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        "The server is not configured correctly.",
    )
}

/// `400`: the request could not be turned into an HTTP request the core understands.
pub(crate) fn bad_request(detail: &str) -> http::Response<Vec<u8>> {
    problem(StatusCode::BAD_REQUEST, detail)
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
    use crate::http::header;

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
