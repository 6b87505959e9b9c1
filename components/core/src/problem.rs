//! RFC 9457 problem documents: the one shape every error takes.

use http::{header, HeaderValue, StatusCode};
use serde_json::{json, Map, Value as Json};

use crate::response::{json_bytes, Response};
use crate::store::StoreError;

/// A validation or conflict message about one field of a body.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// Dotted path with `[i]` for array items; `""` is the body itself.
    pub field: String,
    pub message: String,
    /// File line of a CSV import (header = line 1).
    pub line: Option<u64>,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into(), line: None }
    }

    fn to_json(&self) -> Json {
        let mut m = Map::new();
        if let Some(line) = self.line {
            m.insert("line".into(), json!(line));
        }
        m.insert("field".into(), json!(self.field));
        m.insert("message".into(), json!(self.message));
        Json::Object(m)
    }
}

/// Everything a handler can fail with. Each variant maps to one status and problem type.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    BadRequest(String),
    Unauthorized,
    NotFound(String),
    MethodNotAllowed(&'static [http::Method]),
    Conflict(String, Vec<FieldError>),
    PreconditionFailed,
    ContentTooLarge(usize),
    UnsupportedMediaType(String),
    Validation(String, Vec<FieldError>),
    /// `503` with `Retry-After`. The body gets `extra`'s members; `cause` (a store's own error
    /// text, which may name hosts) goes to the engine's log via [`UnavailableCause`], never to
    /// the client.
    Unavailable { extra: Json, cause: Option<String> },
    /// The message goes to the engine's log (via [`InternalError`]), never to the client.
    Internal(String),
    /// A setting cannot be read or does not parse: `500`, with the message for the log.
    Misconfigured(String),
}

/// Attached to a `500` response so that the engine can log what the client is not told.
#[derive(Debug, Clone)]
pub struct InternalError(pub String);

/// Attached to a `503` response: why the store was unavailable (for the engine's log or the
/// component's stderr, never for the client).
#[derive(Debug, Clone)]
pub struct UnavailableCause(pub String);

/// Seconds a client is asked to wait after a `503`.
pub const RETRY_AFTER_SECONDS: u32 = 1;

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => ApiError::unavailable("A backing store is unavailable; try again later.", Some(m)),
            StoreError::Conflict(_) => ApiError::Conflict("The item conflicts with an existing one.".into(), vec![]),
            StoreError::Other(m) => ApiError::Internal(m),
        }
    }
}

impl ApiError {
    /// A `503` whose body says `detail`.
    pub fn unavailable(detail: &str, cause: Option<String>) -> ApiError {
        ApiError::Unavailable { extra: json!({ "detail": detail }), cause }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(..) => StatusCode::CONFLICT,
            ApiError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ApiError::ContentTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Validation(..) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) | ApiError::Misconfigured(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn into_response(self) -> Response {
        let status = self.status();
        let mut body = Map::new();
        let (slug, title) = problem_type(status);
        body.insert("type".into(), json!(format!("{PROBLEM_BASE}{slug}")));
        body.insert("title".into(), json!(title));
        body.insert("status".into(), json!(status.as_u16()));
        let mut extra_headers = Vec::new();
        let mut internal = None;
        let detail = match self {
            ApiError::BadRequest(d) | ApiError::NotFound(d) | ApiError::UnsupportedMediaType(d) => d,
            ApiError::Unauthorized => {
                extra_headers.push((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
                "A valid bearer token is required.".into()
            }
            ApiError::MethodNotAllowed(allowed) => {
                let allow = allow_header(allowed);
                let d = format!("Allowed methods: {allow}.");
                extra_headers.push((header::ALLOW, HeaderValue::from_str(&allow).expect("method names are valid header text")));
                d
            }
            ApiError::Conflict(d, errors) | ApiError::Validation(d, errors) => {
                if !errors.is_empty() {
                    body.insert("detail".into(), json!(d));
                    body.insert("errors".into(), Json::Array(errors.iter().map(FieldError::to_json).collect()));
                    return finish(status, body, extra_headers, None);
                }
                d
            }
            ApiError::PreconditionFailed => "The item has changed since the given ETag; nothing was changed.".into(),
            ApiError::ContentTooLarge(limit) => format!("The request body is larger than {limit} bytes."),
            ApiError::Unavailable { extra, cause } => {
                if let Json::Object(extra) = extra {
                    body.extend(extra);
                }
                let mut resp = finish(status, body, extra_headers, None);
                if let Some(cause) = cause {
                    resp.extensions_mut().insert(UnavailableCause(cause));
                }
                return resp;
            }
            ApiError::Internal(m) => {
                internal = Some(InternalError(m));
                "The server could not complete the request.".into()
            }
            ApiError::Misconfigured(m) => {
                internal = Some(InternalError(format!("configuration error: {m}")));
                "The server is not configured correctly.".into()
            }
        };
        body.insert("detail".into(), json!(detail));
        finish(status, body, extra_headers, internal)
    }
}

fn finish(
    status: StatusCode,
    body: Map<String, Json>,
    extra_headers: Vec<(header::HeaderName, HeaderValue)>,
    internal: Option<InternalError>,
) -> Response {
    let mut resp = http::Response::new(json_bytes(&Json::Object(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
    }
    for (name, value) in extra_headers {
        resp.headers_mut().insert(name, value);
    }
    if let Some(internal) = internal {
        resp.extensions_mut().insert(internal);
    }
    resp
}

pub const PROBLEM_JSON: &str = "application/problem+json";
pub const PROBLEM_BASE: &str = "https://spincrud.dev/problems/";

/// The problem type slug and RFC 9110 title of a status.
pub fn problem_type(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => ("bad-request", "Bad Request"),
        401 => ("unauthorized", "Unauthorized"),
        404 => ("not-found", "Not Found"),
        405 => ("method-not-allowed", "Method Not Allowed"),
        408 => ("request-timeout", "Request Timeout"),
        409 => ("conflict", "Conflict"),
        412 => ("precondition-failed", "Precondition Failed"),
        413 => ("content-too-large", "Content Too Large"),
        414 => ("uri-too-long", "URI Too Long"),
        415 => ("unsupported-media-type", "Unsupported Media Type"),
        422 => ("validation-error", "Unprocessable Content"),
        431 => ("request-header-fields-too-large", "Request Header Fields Too Large"),
        503 => ("service-unavailable", "Service Unavailable"),
        504 => ("timeout", "Gateway Timeout"),
        _ => ("internal-error", "Internal Server Error"),
    }
}

/// A problem document built outside the API's handlers (an engine's own `500`/`504`).
pub fn problem_response(status: StatusCode, detail: &str) -> Response {
    let (slug, title) = problem_type(status);
    let mut body = Map::new();
    body.insert("type".into(), json!(format!("{PROBLEM_BASE}{slug}")));
    body.insert("title".into(), json!(title));
    body.insert("status".into(), json!(status.as_u16()));
    body.insert("detail".into(), json!(detail));
    finish(status, body, vec![], None)
}

pub fn allow_header(methods: &[http::Method]) -> String {
    methods.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ")
}

pub type ApiResult<T> = Result<T, ApiError>;
