//! Reading requests: request ids, content types, JSON bodies, query strings.

use http::{header, HeaderMap, HeaderValue};
use serde_json::Value as Json;

use crate::problem::{ApiError, ApiResult};
use crate::Request;

/// The client's `x-request-id`, if it is one to echo (not empty, at most 200 bytes). Every
/// answer carries this or, without one, a [`new_request_id`]; the engines' own answers too.
pub fn client_request_id(headers: &HeaderMap) -> Option<HeaderValue> {
    headers.get("x-request-id").filter(|v| !v.is_empty() && v.len() <= 200).cloned()
}

/// A fresh request id (a UUID).
pub fn new_request_id() -> HeaderValue {
    HeaderValue::from_str(&crate::clock::new_id()).expect("a UUID is a valid header value")
}

/// The media types a body may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyType {
    Json,
    MergePatch,
    Csv,
}

impl BodyType {
    fn media_type(self) -> &'static str {
        match self {
            BodyType::Json => "application/json",
            BodyType::MergePatch => "application/merge-patch+json",
            BodyType::Csv => "text/csv",
        }
    }
}

/// The request's `Content-Type`, if it is one of `accepted`; `415` otherwise.
pub fn content_type(req: &Request, accepted: &[BodyType]) -> ApiResult<BodyType> {
    let expected = || accepted.iter().map(|t| t.media_type()).collect::<Vec<_>>().join(" or ");
    let Some(raw) = req.headers().get(header::CONTENT_TYPE) else {
        return Err(ApiError::UnsupportedMediaType(format!("A Content-Type header is required: {}.", expected())));
    };
    let raw = raw.to_str().unwrap_or("");
    let mut parts = raw.split(';');
    let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    for param in parts {
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        if name.trim().eq_ignore_ascii_case("charset") && !value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8") {
            return Err(ApiError::UnsupportedMediaType("Only the UTF-8 charset is accepted.".into()));
        }
    }
    accepted
        .iter()
        .copied()
        .find(|t| t.media_type() == media)
        .ok_or_else(|| ApiError::UnsupportedMediaType(format!("Content-Type must be {}.", expected())))
}

/// Parses a JSON body. Empty, non-UTF-8, malformed or too deeply nested bodies are `400`.
pub fn json_body(body: &[u8]) -> ApiResult<Json> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest("The request body is empty; a JSON document is required.".into()));
    }
    let text = std::str::from_utf8(body).map_err(|_| ApiError::BadRequest("The request body is not valid UTF-8.".into()))?;
    serde_json::from_str(text).map_err(|e| {
        let what = if e.to_string().contains("recursion limit") { "nested too deeply" } else { "not valid JSON" };
        ApiError::BadRequest(format!("The request body is {what} (line {}, column {}).", e.line(), e.column()))
    })
}

/// Query parameters, each name at most once (`400` for a repeated one).
#[derive(Debug, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(req: &Request) -> ApiResult<Query> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (k, v) in form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()) {
            if pairs.iter().any(|(name, _)| *name == k) {
                return Err(ApiError::BadRequest(format!("The query parameter `{k}` is given more than once.")));
            }
            pairs.push((k.into_owned(), v.into_owned()));
        }
        Ok(Query { pairs })
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// A non-negative integer parameter, at most `max`.
    pub fn count(&self, name: &str, default: u64, max: Option<u64>) -> ApiResult<u64> {
        let Some(raw) = self.get(name) else { return Ok(default) };
        let bad = || match max {
            Some(max) => ApiError::BadRequest(format!("`{name}` must be an integer from 0 to {max}.")),
            None => ApiError::BadRequest(format!("`{name}` must be a non-negative integer.")),
        };
        let n: u64 = raw.parse().map_err(|_| bad())?;
        match max {
            Some(max) if n > max => Err(bad()),
            _ => Ok(n),
        }
    }
}

/// Builds `path?query` from parameters, percent-encoding them.
pub fn link(path: &str, pairs: &[(String, String)]) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        ser.append_pair(k, v);
    }
    format!("{path}?{}", ser.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_request_ids_are_echoed_within_bounds() {
        let with = |id: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("x-request-id", HeaderValue::from_str(id).unwrap());
            client_request_id(&headers)
        };
        assert_eq!(with("abc-123").unwrap(), "abc-123");
        assert_eq!(with(&"a".repeat(200)).unwrap().len(), 200);
        assert!(with(&"a".repeat(201)).is_none());
        assert!(with("").is_none());
        assert!(client_request_id(&HeaderMap::new()).is_none());
        let made = new_request_id();
        assert!(crate::clock::canonical_uuid(made.to_str().unwrap()).is_some());
        assert_ne!(made, new_request_id());
    }
}
