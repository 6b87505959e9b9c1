//! The server span of a request, in HTTP's semantic conventions: it continues the caller's W3C
//! `traceparent`/`tracestate`, is named `{method} {route template}` once the engine has routed
//! the request (as Spin names its own), and gives the caller its `traceparent` back.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;

use opentelemetry::propagation::{Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use spincrud_core::http::{HeaderMap, Method, Request, Version};
use tracing::field::Empty;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The span of one request, child of the caller's span when the request carries a
/// `traceparent`. Disabled (and free) when telemetry is off.
pub fn server_span<B>(req: &Request<B>) -> Span {
    let span = tracing::info_span!(
        "request",
        otel.name = %req.method(),
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = %req.method(),
        http.route = Empty,
        http.response.status_code = Empty,
        url.path = req.uri().path(),
        url.scheme = "http",
        network.protocol.version = protocol_version(req.version()),
        client.address = Empty,
        network.peer.address = Empty,
        network.peer.port = Empty,
        user_agent.original = Empty,
        error.type = Empty,
        spincrud.request_id = Empty,
    );
    if span.is_disabled() {
        return span;
    }
    let headers = req.headers();
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    let _ = span.set_parent(parent);
    if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
        // The client is the peer unless a proxy says otherwise (the first X-Forwarded-For).
        let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()).and_then(|v| v.split(',').next()).map(str::trim);
        span.record("client.address", forwarded.filter(|f| !f.is_empty()).map_or_else(|| peer.ip().to_string(), str::to_owned));
        span.record("network.peer.address", peer.ip().to_string());
        span.record("network.peer.port", peer.port());
    }
    if let Some(agent) = headers.get("user-agent").and_then(|v| v.to_str().ok()) {
        span.record("user_agent.original", agent);
    }
    span
}

/// Completes the span with what the answer says, adds `traceparent` to the answer, and
/// returns the trace id for the request's log line (`None` with telemetry off).
pub fn finish(span: &Span, method: &Method, route: &str, status: u16, request_id: &str, headers: &mut HeaderMap) -> Option<String> {
    if span.is_disabled() {
        return None;
    }
    span.record("http.response.status_code", status);
    span.record("spincrud.request_id", request_id);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
        span.record("error.type", status.to_string());
    }
    let context = span.context();
    if route != "unmatched" {
        span.record("http.route", route);
        // The span has started (it was entered): its name is the OpenTelemetry span's to change.
        context.span().update_name(format!("{method} {route}"));
    }
    let span_context = context.span().span_context().clone();
    if !span_context.is_valid() {
        return None;
    }
    TraceContextPropagator::new().inject_context(&context, &mut NonEmpty(HeaderInjector(headers)));
    Some(span_context.trace_id().to_string())
}

fn protocol_version(version: Version) -> &'static str {
    match version {
        Version::HTTP_10 => "1.0",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

/// Leaves out empty values (an empty `tracestate`).
struct NonEmpty<'a>(HeaderInjector<'a>);

impl Injector for NonEmpty<'_> {
    fn set(&mut self, key: &str, value: String) {
        if !value.is_empty() {
            self.0.set(key, value);
        }
    }
}
