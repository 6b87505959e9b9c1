//! One request through one fresh component instance.
//!
//! 1. Spin's router picks the component; the request gets Spin's `spin-*` headers and an
//!    absolute URI (`http://<Host>/<path>`), as Spin hands it to `wasi:http`.
//! 2. A store with the request's [`State`] (WASI context with captured stdout/stderr, the
//!    component's grants, a memory limiter) and an epoch deadline: every tick the instance
//!    yields to the runtime, and past `--wasm-timeout` it is interrupted.
//! 3. The instance is created from the component's `InstancePre` (pooling allocator,
//!    copy-on-write memory image) and `wasi:http/incoming-handler.handle` runs, while this task
//!    collects the response the guest sets on its `response-outparam` and streams.
//! 4. Failures become the contract's problem documents: a trap or a missing response `500`,
//!    the deadline `504`, a full instance pool `503`. The server goes on serving.
//!
//! The component's metrics count every request and failure; its span
//! (`execute_wasm_component <id>`, as Spin names it) holds the instantiation's span and the
//! host calls' spans.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::ConnectInfo;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use spincrud_core::http::header::HOST;
use spincrud_core::http::{HeaderName, HeaderValue, Method, StatusCode, Uri};
use spincrud_core::request::{client_request_id, new_request_id};
use spincrud_core::{InternalError, RouteTemplate};
use tracing::field::Empty;
use tracing::{info, warn, Instrument as _};
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::WasiHttpView;

use super::host::State;
use crate::metrics::WasmFailure;
use crate::telemetry::db;
use super::router::RouteMatch;
use super::{LoadedComponent, WasmEngine};

/// Extra time, past the instance's deadline, for the deadline to take effect.
const GRACE: std::time::Duration = std::time::Duration::from_millis(500);

pub async fn handle(engine: &WasmEngine, req: spincrud_core::Request) -> spincrud_core::Response {
    let path = req.uri().path().to_owned();
    // The core's route template, for the server's log line and metrics (the same labels as the
    // native engine's); the component itself routes with the same core.
    let template = spincrud_core::router::route(&path).map_or("unmatched", |r| r.template);
    // The client's id; the component echoes it (or makes one, as the core does), so the host
    // makes one only for an answer of its own.
    let client_id = client_request_id(req.headers());

    let mut resp = match engine.router.route(&path) {
        // spin.toml's catch-all `/...` makes this unreachable for spincrud; Spin answers 404.
        None => spincrud_core::problem_response(StatusCode::NOT_FOUND, &format!("There is no route {path}.")),
        Some(m) => match engine.components.get(m.component) {
            Some(component) => run(engine, component, &m, req, client_id.clone()).await,
            None => spincrud_core::problem_response(StatusCode::INTERNAL_SERVER_ERROR, "The server could not complete the request."),
        },
    };
    if !resp.headers().contains_key("x-request-id") {
        resp.headers_mut().insert("x-request-id", client_id.unwrap_or_else(new_request_id));
    }
    resp.extensions_mut().insert(RouteTemplate(template));
    resp
}

/// Why a request got no response from its component.
enum Failure {
    /// The instance trapped or could not be made.
    Guest(wasmtime::Error),
    /// The guest set an error instead of a response.
    ErrorCode(ErrorCode),
    /// The guest returned without setting a response.
    NoResponse,
    /// The response body stream failed.
    Body(String),
    /// `--wasm-timeout` passed.
    Timeout,
}

async fn run(engine: &WasmEngine, component: &LoadedComponent, m: &RouteMatch<'_>, req: spincrud_core::Request, client_id: Option<HeaderValue>) -> spincrud_core::Response {
    let started = Instant::now();
    let id = component.grants.id.as_str();
    let span = tracing::info_span!(
        "execute_wasm_component",
        otel.name = %format_args!("execute_wasm_component {id}"),
        spincrud.component = id,
        otel.status_code = Empty,
        error.type = Empty,
    );
    let (resp, failure) = execute(engine, component, m, req, client_id, started).instrument(span.clone()).await;
    component.metrics.finished(resp.status().as_u16(), started.elapsed(), failure);
    if let Some(failure) = failure {
        db::failed(&span, failure.name());
    }
    resp
}

/// Runs the component on the request: its answer, and why it failed if it did.
async fn execute(
    engine: &WasmEngine,
    component: &LoadedComponent,
    m: &RouteMatch<'_>,
    req: spincrud_core::Request,
    client_id: Option<HeaderValue>,
    started: Instant,
) -> (spincrud_core::Response, Option<WasmFailure>) {
    let deadline = started + engine.timeout;
    let is_head = req.method() == Method::HEAD;
    let hyper_req = incoming_request(m, req);

    let mut store = Store::new(&engine.engine, State::new(component.grants.clone(), engine.backends.clone(), engine.memory_limit));
    store.limiter(|state| &mut state.limits);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| Ok(if Instant::now() >= deadline { UpdateDeadline::Interrupt } else { UpdateDeadline::Yield(1) }));

    let (sender, receiver) = tokio::sync::oneshot::channel();
    let pre = component.pre.clone();
    let metrics = &component.metrics;
    let guest = async move {
        let in_use = metrics.instance();
        let result = async {
            let req = store.data_mut().http().new_incoming_request(Scheme::Http, hyper_req)?;
            let out = store.data_mut().http().new_response_outparam(sender)?;
            let instantiating = Instant::now();
            let proxy = pre.instantiate_async(&mut store).instrument(tracing::info_span!("instantiate_wasm_component")).await?;
            metrics.instantiated(instantiating.elapsed());
            proxy.wasi_http_incoming_handler().call_handle(&mut store, req, out).await
        }
        .await;
        // Dropping the store now drops a `response-outparam` the guest never set, which tells
        // the other half that no response is coming.
        let (stdout, stderr) = (store.data().stdout.text(), store.data().stderr.text());
        let memory_cap_hit = store.data().limits.memory_cap_hit;
        metrics.memory_grew(store.data().limits.memory_grows);
        drop(store);
        drop(in_use);
        (result, stdout, stderr, memory_cap_hit)
    };
    let response = async {
        let head = match receiver.await {
            Ok(Ok(head)) => head,
            Ok(Err(code)) => return Err(Failure::ErrorCode(code)),
            Err(_) => return Err(Failure::NoResponse),
        };
        let (parts, body) = head.into_parts();
        // A HEAD answer's body is never sent, so it is not read either (as Spin's server
        // does): the component states the GET's length and leaves the body unfinished.
        if is_head {
            return Ok(spincrud_core::http::Response::from_parts(parts, Vec::new()));
        }
        let body = body.collect().await.map_err(|e| Failure::Body(format!("{e:?}")))?.to_bytes();
        Ok(spincrud_core::http::Response::from_parts(parts, body.to_vec()))
    };
    let outcome = tokio::time::timeout_at((deadline + GRACE).into(), async { tokio::join!(guest, response) }).await;

    let id = component.grants.id.as_str();
    let (guest_result, mut response, stdout, stderr, memory_cap_hit) = match outcome {
        Ok(((guest_result, stdout, stderr, memory_cap_hit), response)) => (guest_result, response, stdout, stderr, memory_cap_hit),
        Err(_) => (Ok(()), Err(Failure::Timeout), String::new(), String::new(), false),
    };
    // The id the answer carries (the component's own, else the client's, else a new one), so
    // that these lines and the request's log line agree.
    let request_id = match &mut response {
        Ok(resp) => resp.headers_mut().entry("x-request-id").or_insert_with(|| client_id.unwrap_or_else(new_request_id)).clone(),
        Err(_) => client_id.unwrap_or_else(new_request_id),
    };
    let rid = request_id.to_str().unwrap_or("");
    if !stdout.trim().is_empty() {
        info!(component = id, request_id = rid, output = %stdout.trim_end(), "component stdout");
    }

    let failure = match (response, guest_result) {
        (Ok(mut resp), guest_result) => {
            let mut late_failure = None;
            if let Err(e) = guest_result {
                warn!(component = id, request_id = rid, error = %format!("{e:#}"), "component failed after sending its response");
                late_failure = Some(if memory_cap_hit { WasmFailure::MemoryLimit } else { WasmFailure::Trap });
            }
            if !stderr.trim().is_empty() {
                if resp.status() == StatusCode::INTERNAL_SERVER_ERROR {
                    // The server's log line of the request names the cause.
                    resp.extensions_mut().insert(InternalError(format!("component `{id}` stderr: {}", stderr.trim_end())));
                } else {
                    warn!(component = id, request_id = rid, output = %stderr.trim_end(), "component stderr");
                }
            }
            return (resp, late_failure);
        }
        (Err(Failure::NoResponse | Failure::Body(_)), Err(e)) => Failure::Guest(e),
        (Err(failure), _) => failure,
    };

    let kind = match &failure {
        Failure::Guest(e) if is_interrupt(e) => WasmFailure::Timeout,
        Failure::Timeout => WasmFailure::Timeout,
        Failure::Guest(e) if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() => WasmFailure::PoolExhausted,
        Failure::Guest(_) if memory_cap_hit => WasmFailure::MemoryLimit,
        Failure::Guest(_) => WasmFailure::Trap,
        Failure::ErrorCode(_) | Failure::NoResponse | Failure::Body(_) => WasmFailure::NoResponse,
    };
    let (status, detail, cause) = match &failure {
        Failure::Guest(e) if is_interrupt(e) => (StatusCode::GATEWAY_TIMEOUT, "The request took too long.", format!("component `{id}` interrupted at its deadline")),
        Failure::Timeout => (StatusCode::GATEWAY_TIMEOUT, "The request took too long.", format!("component `{id}` did not answer within {:?}", engine.timeout)),
        Failure::Guest(e) if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() => {
            (StatusCode::SERVICE_UNAVAILABLE, "The server is busy; try again.", format!("component `{id}`: {e:#}"))
        }
        Failure::Guest(e) => (StatusCode::INTERNAL_SERVER_ERROR, "The server could not complete the request.", format!("component `{id}` failed: {e:#}")),
        Failure::ErrorCode(code) => (StatusCode::INTERNAL_SERVER_ERROR, "The server could not complete the request.", format!("component `{id}` answered with error {code:?}")),
        Failure::NoResponse => (StatusCode::INTERNAL_SERVER_ERROR, "The server could not complete the request.", format!("component `{id}` returned without a response")),
        Failure::Body(e) => (StatusCode::INTERNAL_SERVER_ERROR, "The server could not complete the request.", format!("component `{id}`: response body failed: {e}")),
    };
    let cause = if stderr.trim().is_empty() { cause } else { format!("{cause}; stderr: {}", stderr.trim_end()) };
    let mut resp = spincrud_core::problem_response(status, detail);
    resp.headers_mut().insert("x-request-id", request_id);
    resp.extensions_mut().insert(InternalError(cause));
    (resp, Some(kind))
}

fn is_interrupt(e: &wasmtime::Error) -> bool {
    matches!(e.downcast_ref::<Trap>(), Some(Trap::Interrupt))
}

type IncomingBody = http_body_util::combinators::MapErr<Full<Bytes>, fn(Infallible) -> wasmtime_wasi_http::Error>;

/// The request as Spin gives it to a component: absolute URI, Spin's headers added.
fn incoming_request(m: &RouteMatch<'_>, req: spincrud_core::Request) -> spincrud_core::http::Request<IncomingBody> {
    let (mut parts, body) = req.into_parts();
    let client: Option<SocketAddr> = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let host = parts.headers.get(HOST).and_then(|h| h.to_str().ok()).filter(|h| !h.is_empty()).unwrap_or("localhost").to_owned();
    let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str()).to_owned();
    let full_url = format!("http://{host}{path_and_query}");
    for (name, value) in m.headers(&full_url, client) {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(&value)) {
            parts.headers.insert(name, value);
        }
    }
    parts.uri = Uri::builder()
        .scheme("http")
        .authority(host.as_str())
        .path_and_query(path_and_query.as_str())
        .build()
        .or_else(|_| Uri::builder().scheme("http").authority("localhost").path_and_query(path_and_query.as_str()).build())
        .unwrap_or_else(|_| Uri::from_static("http://localhost/"));
    let never: fn(Infallible) -> wasmtime_wasi_http::Error = |never| match never {};
    spincrud_core::http::Request::from_parts(parts, Full::new(Bytes::from(body)).map_err(never))
}
