//! spincrud's Spin component for the API explorer page: `/docs`, `/docs/...`.
//!
//! The page is Swagger UI rendering `/openapi.json`: static files assembled into `target/docs-ui`
//! by `scripts/build-docs-ui.sh`, which `spin.toml` mounts at `/` with `files`. They are read
//! through WASI's filesystem per request, never compiled in. What each path answers is
//! `site.rs`, which host-runner's native engine shares, so both engines answer byte for byte alike.

mod site;

use std::path::Path;

use spin_sdk::http::IncomingRequest;
use spincrud_core::http::{self, HeaderMap, HeaderValue};
use spincrud_core::request::{client_request_id, new_request_id};
use spincrud_core::InternalError;

/// Where `spin.toml`'s `files` mount puts the site in the component's filesystem.
const SITE_ROOT: &str = "/";

#[spin_sdk::http_component]
fn handle(req: IncomingRequest) -> http::Response<Vec<u8>> {
    let path_and_query = req.path_with_query().unwrap_or_default();
    let path = path_and_query.split('?').next().unwrap_or_default();
    let mut resp = site::answer(Path::new(SITE_ROOT), &req.method().to_string(), path);
    if let Some(InternalError(cause)) = resp.extensions().get() {
        // The engine's log keeps a component's stderr; the client gets no internals.
        eprintln!("spincrud-docs: {cause}");
    }
    // Like every answer of the API: the client's x-request-id echoed, or a new one.
    let id = request_id(&req).unwrap_or_else(new_request_id);
    resp.headers_mut().insert("x-request-id", id);
    resp
}

fn request_id(req: &IncomingRequest) -> Option<HeaderValue> {
    let value = req.headers().get("x-request-id").into_iter().next()?;
    let mut headers = HeaderMap::new();
    headers.insert("x-request-id", HeaderValue::from_bytes(&value).ok()?);
    client_request_id(&headers)
}
