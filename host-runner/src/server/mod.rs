//! The HTTP server: reads each request (within the body limit and its deadline), hands it to
//! the engine — the core compiled in (native) or the Spin components in wasmtime (wasm) — and logs
//! and counts it the same way for both. Connections and their deadlines: `connections`.

mod connections;
mod docs;
mod drain;
mod io;
mod listener;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::Router;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use metrics_exporter_prometheus::PrometheusHandle;
use spincrud_core::http::{header, HeaderValue, Method, StatusCode};
use spincrud_core::{Config, InternalError, RouteTemplate};
use spincrud_core::UnavailableCause;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tracing::{error, info, warn, Instrument as _, Span};

use connections::ConnLimits;
use drain::Drain;

use crate::cli::{self, ServeArgs};
use crate::stores::Stores;
use crate::{metrics, migrate, telemetry, wasm};

struct AppState {
    stores: Arc<Stores>,
    config: Config,
    metrics: PrometheusHandle,
    engine: Engine,
    /// `/docs` for the native engine (the wasm engine runs the docs component).
    docs: Option<docs::DocsSite>,
    /// How long a request's body may take to arrive.
    body_timeout: Duration,
    /// Whether the server is shutting down (then `/readyz` answers `503`).
    drain: Drain,
}

/// Which engine answers a request: the only thing that differs between them.
enum Engine {
    Native,
    Wasm(wasm::WasmEngine),
}

impl AppState {
    async fn run(&self, req: spincrud_core::Request) -> spincrud_core::Response {
        match &self.engine {
            Engine::Native => spincrud_core::handle(req, &self.stores.sql, &self.stores.kv, &self.config).await,
            Engine::Wasm(engine) => engine.handle(req).await,
        }
    }
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::from_settings(&args.api_tokens, &args.auth_reads, &args.body_limit.to_string(), &args.cors_origins).map_err(anyhow::Error::msg)?;
    let metrics = metrics::install()?;
    let settings = args.stores.settings();
    let stores = Arc::new(Stores::open(&settings).await?);
    if !args.skip_migrations {
        migrate::apply_with_retry(&stores.sql).await?;
    }
    let engine = match args.engine {
        cli::Engine::Native => Engine::Native,
        cli::Engine::Wasm => Engine::Wasm(
            wasm::WasmEngine::load(
                wasm::ServeSettings {
                    wasm: &args.wasm,
                    stores: &settings,
                    api_tokens: &args.api_tokens,
                    auth_reads: &args.auth_reads,
                    body_limit: args.body_limit,
                    cors_origins: &args.cors_origins,
                    migrate: !args.skip_migrations,
                },
                stores.clone(),
            )
            .await?,
        ),
    };
    let docs = match args.engine {
        cli::Engine::Native => docs::DocsSite::from_manifest(&args.wasm.manifest),
        cli::Engine::Wasm => None,
    };
    let drain = Drain::default();
    let state = Arc::new(AppState { stores, config, metrics, engine, docs, body_timeout: args.http.body_timeout, drain: drain.clone() });
    let app = Router::new()
        .fallback(handle)
        .with_state(state.clone())
        .layer(CatchPanicLayer::custom(|_| {
            // A panic is a bug; the client still gets a problem document without internals.
            error!("a request handler panicked");
            to_axum(spincrud_core::problem_response(StatusCode::INTERNAL_SERVER_ERROR, "The server could not complete the request."))
        }));

    let limits = ConnLimits {
        header_timeout: args.http.header_timeout,
        keep_alive_timeout: args.http.keep_alive_timeout,
        max_connections: args.http.max_connections,
        max_head_bytes: args.http.max_header_bytes,
    };
    connections::raise_open_file_limit(limits.max_connections);
    let signals = drain::Signals::install();
    let listener = TcpListener::bind(args.listen).await?;
    info!(addr = %listener.local_addr()?, engine = ?args.engine, "listening");
    let shutdown = async {
        drain.on_signal(signals, args.drain_period).await;
        info!("shutting down: no new connections, finishing in-flight requests");
    };
    let grace = Duration::from_secs(args.shutdown_timeout);
    if !connections::serve(listener, app, limits, &drain, shutdown, grace).await {
        warn!(seconds = args.shutdown_timeout, "in-flight requests did not finish in time");
    }
    if let Engine::Wasm(engine) = &state.engine {
        engine.close().await;
    }
    state.stores.close().await;
    info!("stopped");
    Ok(())
}

/// Every request, in its server span: read the body within the limit and the deadline, run
/// the engine, log and count.
async fn handle(State(state): State<Arc<AppState>>, req: axum::extract::Request) -> axum::response::Response {
    let started = Instant::now();
    let method = req.method().clone();
    let span = telemetry::http::server_span(&req);
    let (resp, route) = answer(&state, req).instrument(span.clone()).await;
    log_and_count(&method, route, resp, started, &span)
}

/// The answer to a request, and its route template (the label of its log line and metrics).
async fn answer(state: &AppState, req: axum::extract::Request) -> (spincrud_core::Response, &'static str) {
    let (mut parts, body) = req.into_parts();
    let docs_path = docs::is_docs_path(parts.uri.path());

    if state.drain.is_draining() {
        let req = spincrud_core::http::Request::from_parts(parts, Vec::new());
        if let Some(resp) = spincrud_core::readyz_while_draining(&req) {
            return (resp, "/readyz");
        }
        (parts, _) = req.into_parts();
    }
    if parts.uri.path() == "/metrics" {
        return (metrics_response(state, &parts.method), "/metrics");
    }
    if let Some(site) = state.docs.as_ref().filter(|_| docs_path) {
        return (with_request_id(site.answer(&parts.method, parts.uri.path()).await, &parts.headers), docs::ROUTE);
    }
    let limit = state.config.body_limit;
    let body = match tokio::time::timeout(state.body_timeout, Limited::new(body, limit).collect()).await {
        Ok(Ok(collected)) => collected.to_bytes().to_vec(),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            // Let the core answer, as every engine does, from the declared length.
            parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(limit as u64 + 1));
            Vec::new()
        }
        Ok(Err(_)) => {
            let resp = spincrud_core::problem_response(StatusCode::BAD_REQUEST, "The request body could not be read.");
            return (with_request_id(resp, &parts.headers), "unmatched");
        }
        Err(_) => {
            let detail = format!("The request body did not arrive within {} seconds.", state.body_timeout.as_secs_f64());
            let mut resp = spincrud_core::problem_response(StatusCode::REQUEST_TIMEOUT, &detail);
            // The rest of the body may still come: the connection cannot carry another request.
            resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            return (with_request_id(resp, &parts.headers), "unmatched");
        }
    };
    let resp = state.run(spincrud_core::http::Request::from_parts(parts, body)).await;
    let route = if docs_path { docs::ROUTE } else { resp.extensions().get::<RouteTemplate>().map_or("/metrics", |r| r.0) };
    (resp, route)
}

/// The client's request id on an answer of the server's own, or a new one.
fn with_request_id(mut resp: spincrud_core::Response, headers: &spincrud_core::http::HeaderMap) -> spincrud_core::Response {
    let id = spincrud_core::request::client_request_id(headers).unwrap_or_else(spincrud_core::request::new_request_id);
    resp.headers_mut().insert("x-request-id", id);
    resp
}

fn metrics_response(state: &AppState, method: &Method) -> spincrud_core::Response {
    if method != Method::GET && method != Method::HEAD {
        let mut resp = spincrud_core::problem_response(StatusCode::METHOD_NOT_ALLOWED, "Allowed methods: GET, HEAD.");
        resp.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    let mut resp = spincrud_core::http::Response::new(metrics::render(&state.metrics, &state.stores).into_bytes());
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    if method == Method::HEAD {
        resp.body_mut().clear();
    }
    resp
}

fn log_and_count(method: &Method, route: &'static str, mut resp: spincrud_core::Response, started: Instant, span: &Span) -> axum::response::Response {
    let elapsed = started.elapsed();
    let status = resp.status().as_u16();
    // The trace id ties the log line to the trace (telemetry on only: nothing to do otherwise).
    let trace_id = if span.is_disabled() {
        None
    } else {
        let request_id = resp.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        telemetry::http::finish(span, method, route, status, &request_id, resp.headers_mut())
    };
    let trace_id = trace_id.as_deref();
    let request_id = resp.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
    if let Some(InternalError(message)) = resp.extensions().get::<InternalError>() {
        error!(request_id, trace_id, route, error = %message, "internal error");
    }
    if let Some(UnavailableCause(cause)) = resp.extensions().get::<UnavailableCause>() {
        warn!(request_id, trace_id, route, cause = %cause, "store unavailable");
    }
    info!(method = %method, route, status, latency_ms = elapsed.as_secs_f64() * 1000.0, request_id, trace_id, "request");
    metrics::record_request(route, method.as_str(), status, elapsed);
    to_axum(resp)
}

fn to_axum(resp: spincrud_core::Response) -> axum::response::Response {
    resp.map(Body::from)
}
