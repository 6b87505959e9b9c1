//! Cross-origin requests (CORS, as the Fetch standard defines it): which browser origins may call
//! the API, the answer to a preflight, and the headers a cross-origin answer carries. Off unless
//! origins are configured; then every engine answers alike, since this is the core's work.
//!
//! Only the `Origin` of a request is compared; no credentials mode is offered (no
//! `Access-Control-Allow-Credentials`): the API authenticates with a bearer token that a page
//! sends itself, which a preflight allows (`Authorization` is an allowed request header).

use http::header::{self, HeaderValue};
use http::{Method, StatusCode};

use crate::problem::{allow_header, ApiError};
use crate::settings::Settings;
use crate::response::{add_vary, Response};
use crate::Request;

/// The request headers a page may send (the ones the API reads).
pub const ALLOWED_HEADERS: &str = "Authorization, Content-Type, If-Match, If-None-Match, Prefer, X-Request-Id";
/// The answer headers a page may read besides the CORS-safelisted ones (`Content-Type`, …).
pub const EXPOSED_HEADERS: &str = "ETag, Location, Link, X-Total-Count, Retry-After, Preference-Applied, X-Request-Id";
/// How long a browser may reuse a preflight's answer (Chromium caps it at 2 hours).
pub const MAX_AGE_SECONDS: u32 = 600;

/// Which origins may call the API from a browser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CorsOrigins {
    /// No CORS headers at all (the default).
    #[default]
    Off,
    /// `*`: any origin (answers say `Access-Control-Allow-Origin: *`).
    Any,
    /// These origins, each `scheme://host[:port]` as browsers write them.
    Listed(Vec<String>),
}

impl CorsOrigins {
    /// `""` (off), `*`, or a comma-separated list of origins such as
    /// `https://app.example.com, http://localhost:8080`.
    pub fn parse(text: &str) -> Result<CorsOrigins, String> {
        let entries: Vec<&str> = text.split(',').map(str::trim).filter(|e| !e.is_empty()).collect();
        if entries.is_empty() {
            return Ok(CorsOrigins::Off);
        }
        if entries.contains(&"*") {
            return match entries.len() {
                1 => Ok(CorsOrigins::Any),
                _ => Err("cors_origins is either `*` or a list of origins, not both".into()),
            };
        }
        let mut origins = Vec::with_capacity(entries.len());
        for entry in entries {
            let origin = normalize(entry).ok_or_else(|| {
                format!("cors_origins: `{entry}` is not an origin such as `https://app.example.com` (a scheme, a host and an optional port, no path)")
            })?;
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
        Ok(CorsOrigins::Listed(origins))
    }

    /// The `Access-Control-Allow-Origin` of an answer to a request from `origin`, if that
    /// origin may call: `*`, or the request's own `Origin`.
    fn allow(&self, origin: &HeaderValue) -> Option<HeaderValue> {
        match self {
            CorsOrigins::Off => None,
            CorsOrigins::Any => Some(HeaderValue::from_static("*")),
            CorsOrigins::Listed(origins) => {
                let origin_text = normalize(origin.to_str().ok()?)?;
                origins.contains(&origin_text).then(|| origin.clone())
            }
        }
    }
}

/// An origin as browsers serialize it: lowercase scheme and host, no default port, no path
/// (a trailing `/` is dropped). `None` for anything else, `null` included.
fn normalize(text: &str) -> Option<String> {
    let text = text.strip_suffix('/').unwrap_or(text);
    let (scheme, authority) = text.split_once("://")?;
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let authority_ok = !authority.is_empty()
        && authority.chars().all(|c| c.is_ascii_graphic() && !matches!(c, '/' | '?' | '#' | '@' | '\\' | ','));
    if !scheme_ok || !authority_ok {
        return None;
    }
    let scheme = scheme.to_ascii_lowercase();
    // The port follows the last `:` after any IPv6 literal's `]`.
    let (host, port) = match authority.rfind(':').filter(|&i| !authority[i..].contains(']')) {
        Some(i) => (&authority[..i], Some(&authority[i + 1..])),
        None => (authority, None),
    };
    if host.is_empty() || port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let default_port = match scheme.as_str() {
        "http" => Some("80"),
        "https" => Some("443"),
        _ => None,
    };
    let port = port.filter(|p| Some(*p) != default_port).map(|p| format!(":{p}")).unwrap_or_default();
    Some(format!("{scheme}://{}{port}", host.to_ascii_lowercase()))
}

/// What CORS makes of one request: the origin to allow, if any, and whether it is a preflight.
#[derive(Default)]
pub struct CorsRequest {
    allowed: Option<HeaderValue>,
    pub is_preflight: bool,
}

impl CorsRequest {
    /// Reads the `cors_origins` setting only for a request with an `Origin` (on Spin every
    /// setting read is a host call).
    pub fn of<C: Settings>(req: &Request, settings: &C) -> Result<CorsRequest, ApiError> {
        let Some(origin) = req.headers().get(header::ORIGIN) else { return Ok(CorsRequest::default()) };
        let allowed = settings.cors_origins().map_err(ApiError::Misconfigured)?.allow(origin);
        // A preflight is an `OPTIONS` with the method the page wants to send; one from an origin
        // that may not call is answered as any `OPTIONS` would be (`405`), without CORS headers.
        let is_preflight = allowed.is_some()
            && req.method() == Method::OPTIONS
            && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        Ok(CorsRequest { allowed, is_preflight })
    }

    /// Adds the CORS headers to any answer: `Vary: Origin` always (whether an answer carries
    /// CORS headers depends on the request's `Origin` and on the settings, which an answer to a
    /// request without `Origin` does not read), and for an origin that may call,
    /// `Access-Control-Allow-Origin` and which headers it may read.
    pub fn decorate(&self, resp: &mut Response) {
        add_vary(resp, "Origin");
        let Some(allowed) = &self.allowed else { return };
        let headers = resp.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed.clone());
        if !self.is_preflight {
            headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED_HEADERS));
        }
    }
}

/// The answer to a preflight for a route that takes `methods`: `204` with the methods, the
/// request headers a page may send, and how long to keep the answer.
pub fn preflight(methods: &[Method]) -> Response {
    let mut resp = http::Response::new(Vec::new());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    let headers = resp.headers_mut();
    if let Ok(methods) = HeaderValue::from_str(&allow_header(methods)) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, methods);
    }
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOWED_HEADERS));
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(MAX_AGE_SECONDS));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_parse_and_normalize() {
        assert_eq!(CorsOrigins::parse(""), Ok(CorsOrigins::Off));
        assert_eq!(CorsOrigins::parse(" , "), Ok(CorsOrigins::Off));
        assert_eq!(CorsOrigins::parse(" * "), Ok(CorsOrigins::Any));
        assert_eq!(
            CorsOrigins::parse("HTTPS://App.Example.com:443/, http://localhost:8080,http://a.test:80"),
            Ok(CorsOrigins::Listed(vec!["https://app.example.com".into(), "http://localhost:8080".into(), "http://a.test".into()]))
        );
        assert_eq!(CorsOrigins::parse("http://[::1]:3000"), Ok(CorsOrigins::Listed(vec!["http://[::1]:3000".into()])));
        for bad in ["*, https://a.test", "null", "a.test", "https://a.test/app", "https://", "https://a.test:x", "https://u@a.test", "ht tp://a"] {
            assert!(CorsOrigins::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_listed_origins_are_allowed() {
        let listed = CorsOrigins::parse("https://app.example.com").unwrap();
        let allow = |o: &str| listed.allow(&HeaderValue::from_str(o).unwrap());
        assert_eq!(allow("https://app.example.com").unwrap(), "https://app.example.com");
        assert_eq!(allow("https://APP.example.com:443").unwrap(), "https://APP.example.com:443", "echoed as sent");
        for other in ["http://app.example.com", "https://app.example.com:8443", "https://evil.example.com", "null", ""] {
            assert!(allow(other).is_none(), "{other}");
        }
        assert_eq!(CorsOrigins::Any.allow(&HeaderValue::from_static("null")).unwrap(), "*");
        assert!(CorsOrigins::Off.allow(&HeaderValue::from_static("https://app.example.com")).is_none());
    }
}
