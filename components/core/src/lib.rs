//! spincrud's API, independent of any engine.
//!
//! [`handle`] turns an `http` request into an `http` response. Storage is reached only through
//! the [`store::SqlStore`] and [`store::KvStore`] traits, so this crate has no I/O runtime and
//! builds for `wasm32-wasip1`: the Spin components and host-runner run exactly this code.

pub mod auth;
pub mod clock;
pub mod conditional;
pub mod cursor;
pub mod cors;
pub mod data;
pub mod encoding;
pub mod openapi;
pub mod ops;
pub mod problem;
pub mod request;
pub mod resource;
pub mod response;
pub mod router;
pub mod settings;
pub mod store;

pub use http;
pub use problem::{problem_response, InternalError, UnavailableCause};
pub use router::Route;
pub use settings::{Config, Settings, DEFAULT_BODY_LIMIT};

use http::{header, HeaderValue, Method, StatusCode};

use problem::{ApiError, ApiResult};
use resource::handlers;
use router::Target;
use store::{KvStore, SqlStore};

/// The request and response types every engine converts to and from.
pub type Request = http::Request<Vec<u8>>;
pub type Response = http::Response<Vec<u8>>;

/// The route template a response answered, for metrics and logs (`"unmatched"` for a `404`
/// of an unknown path).
#[derive(Debug, Clone, Copy)]
pub struct RouteTemplate(pub &'static str);

/// Serves one request. Never panics on any input; every error is a problem document.
pub async fn handle<S: SqlStore, K: KvStore, C: Settings>(req: Request, sql: &S, kv: &K, settings: &C) -> Response {
    let request_id = request::client_request_id(req.headers()).unwrap_or_else(request::new_request_id);
    let route = router::route(req.uri().path());
    let (resp, cors) = match cors::CorsRequest::of(&req, settings) {
        Err(e) => (e.into_response(), cors::CorsRequest::default()),
        Ok(cors) => {
            let resp = match &route {
                None => ApiError::NotFound(format!("There is no route {}.", req.uri().path())).into_response(),
                // Before the token check: a browser sends a preflight without credentials.
                Some(route) if cors.is_preflight => cors::preflight(route.methods),
                Some(route) => dispatch(route, &req, sql, kv, settings).await.unwrap_or_else(ApiError::into_response),
            };
            (resp, cors)
        }
    };
    frame(resp, &req, request_id, route.as_ref(), &cors)
}

/// What a server that is shutting down (host-runner's drain period) answers to `GET` or `HEAD
/// /readyz`: `503`, whatever the stores say, so that load balancers take it out of rotation while
/// it finishes its work. `None` for every other request, which is served as usual.
pub fn readyz_while_draining(req: &Request) -> Option<Response> {
    let route = router::route(req.uri().path()).filter(|r| matches!(r.target, Target::Readyz) && r.methods.contains(req.method()))?;
    let request_id = request::client_request_id(req.headers()).unwrap_or_else(request::new_request_id);
    Some(frame(ops::shutting_down().into_response(), req, request_id, Some(&route), &cors::CorsRequest::default()))
}

/// What every answer gets, whoever made it: compression when asked for, its length, CORS
/// headers, the request id.
fn frame(mut resp: Response, req: &Request, request_id: HeaderValue, route: Option<&Route>, cors: &cors::CorsRequest) -> Response {
    encoding::compress(req.headers(), &mut resp);
    // Every answer states its length, so that every engine frames it alike (Spin would send an
    // answer without one chunked); a HEAD answer states the length its GET would have.
    if !matches!(resp.status(), StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED) {
        let length = HeaderValue::from(resp.body().len());
        resp.headers_mut().insert(header::CONTENT_LENGTH, length);
    }
    if req.method() == Method::HEAD {
        resp.body_mut().clear();
    }
    cors.decorate(&mut resp);
    resp.headers_mut().insert("x-request-id", request_id);
    resp.extensions_mut().insert(RouteTemplate(route.map_or("unmatched", |r| r.template)));
    resp
}

async fn dispatch<S: SqlStore, K: KvStore, C: Settings>(route: &Route, req: &Request, sql: &S, kv: &K, settings: &C) -> ApiResult<Response> {
    let method = req.method();
    if !route.methods.contains(method) {
        return Err(ApiError::MethodNotAllowed(route.methods));
    }
    // Settings are read only as far as this request needs them (each may cost a host call).
    if !route.target.is_public() {
        let tokens = settings.api_tokens().map_err(ApiError::Misconfigured)?;
        let is_read = method == Method::GET || method == Method::HEAD;
        if !tokens.is_empty() && (!is_read || settings.auth_reads().map_err(ApiError::Misconfigured)?) && !auth::has_valid_token(req, tokens) {
            return Err(ApiError::Unauthorized);
        }
    }
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if !req.body().is_empty() || declared.is_some_and(|n| n > 0) {
        let limit = settings.body_limit().map_err(ApiError::Misconfigured)?;
        if req.body().len() > limit || declared.is_some_and(|n| n > limit as u64) {
            return Err(ApiError::ContentTooLarge(limit));
        }
    }
    match (&route.target, method.clone()) {
        (Target::Collection(r), Method::POST) => handlers::create(sql, r, req).await,
        (Target::Collection(r), _) => handlers::list(sql, r, req).await,
        (Target::Item(r, None), _) => Err(handlers::not_found(r)),
        (Target::Item(r, Some(key)), Method::PUT) => handlers::replace(sql, r, key, req).await,
        (Target::Item(r, Some(key)), Method::PATCH) => handlers::patch(sql, r, key, req).await,
        (Target::Item(r, Some(key)), Method::DELETE) => handlers::delete(sql, r, key, req).await,
        (Target::Item(r, Some(key)), _) => handlers::get(sql, r, key, req).await,
        (Target::DataCollection, Method::POST) => data::load(kv, req).await,
        (Target::DataCollection, Method::DELETE) => data::clear(kv).await,
        (Target::DataCollection, _) => data::list(kv, req).await,
        (Target::DataItem(id), Method::DELETE) => data::delete(kv, id, req).await,
        (Target::DataItem(id), _) => data::get(kv, id, req).await,
        (Target::Healthz, _) => Ok(ops::healthz()),
        (Target::Readyz, _) => ops::readyz(sql, kv).await,
        (Target::Hello, _) => Ok(ops::hello()),
        (Target::OpenApi, _) => {
            // The document says which operations need a token, as these settings have it.
            let tokens = !settings.api_tokens().map_err(ApiError::Misconfigured)?.is_empty();
            let auth_reads = tokens && settings.auth_reads().map_err(ApiError::Misconfigured)?;
            Ok(openapi::response(openapi::Security { tokens, auth_reads }))
        }
    }
}
