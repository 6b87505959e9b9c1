//! The only Spin-specific code of spincrud.
//!
//! Every component crate under `components/` is one `#[http_component]` function that calls
//! [`handle_incoming`]. This crate turns Spin's WASI HTTP request into the `http` request the core
//! expects, reads the configuration from Spin variables, gives the core its storage through
//! spin-sdk (`sqlite` or `pg4`, and `key_value`), and writes the core's response back. Routing,
//! authentication, validation, SQL text and error documents all live in `spincrud-core`.
//!
//! What is read from Spin, per request and only when the request needs it (each costs a host
//! call):
//! - the component's variables `api_tokens`, `auth_reads`, `body_limit`, `cors_origins` (the core's
//!   [`spincrud_core::Settings`]), and `database_url`: empty → the SQLite database `default`,
//!   `postgres://…` → PostgreSQL;
//! - the key-value store `default`.
//!
//! Stores are opened lazily, on first use: a component only needs the grants (`sqlite_databases`,
//! `key_value_stores`, `allowed_outbound_hosts`) for the stores its routes actually touch.

mod fallback;
mod kv;
mod settings;
mod sql;
mod wasi_http;

pub use spincrud_core::http;

pub use kv::SpinKv;
pub use sql::SpinSql;
pub use wasi_http::handle_incoming;

/// Serves one request with the core: reads the configuration from Spin variables, opens the
/// stores on demand and runs [`spincrud_core::handle`].
///
/// The request's URI may be absolute (`http://host/cats?x=1`) or in origin form (`/cats?x=1`):
/// the core always gets the origin form, as every other engine gives it.
pub async fn serve(req: http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
    serve_with(req, &settings::SpinSettings::default()).await
}

/// [`serve`] with the request's settings (some of which may have been read already).
pub(crate) async fn serve_with(req: http::Request<Vec<u8>>, settings: &settings::SpinSettings) -> http::Response<Vec<u8>> {
    let req = origin_form(req);
    let sql = SpinSql::from_variables();
    let kv = SpinKv::new();
    let resp = spincrud_core::handle(req, &sql, &kv, settings).await;
    // The client's 500 or 503 carries no internals; the cause (for a 503, the store's own
    // error text: a refused connection, a failed TLS handshake) goes to the component's stderr,
    // which Spin (and host-runner's wasm engine, in its log) keeps.
    if let Some(spincrud_core::InternalError(cause)) = resp.extensions().get() {
        eprintln!("spincrud: internal error: {cause}");
    }
    if let Some(spincrud_core::UnavailableCause(cause)) = resp.extensions().get() {
        eprintln!("spincrud: store unavailable: {cause}");
    }
    resp
}

/// Drops scheme and authority from an absolute request URI, keeping path and query.
fn origin_form(mut req: http::Request<Vec<u8>>) -> http::Request<Vec<u8>> {
    if req.uri().scheme().is_some() || req.uri().authority().is_some() {
        let path_and_query = req
            .uri()
            .path_and_query()
            .map(|pq| pq.as_str())
            .unwrap_or("/");
        if let Ok(uri) = http::Uri::try_from(path_and_query) {
            *req.uri_mut() = uri;
        }
    }
    req
}
