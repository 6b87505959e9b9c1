//! OpenTelemetry traces: a request that carries a W3C `traceparent` yields, on the suite's own
//! OTLP/HTTP receiver, a server span in the caller's trace (named after the route template, with
//! HTTP's semantic-convention attributes) and store spans beneath it (`db.system`, the
//! statement's shape, no values); the log line carries the trace id; and a collector that never
//! answers costs requests nothing but one warning in the log.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::support::*;
use super::tests;
use crate::harness::otlp::{new_trace_id, DeadCollector, Receiver, Span, KIND_SERVER};
use crate::harness::{Ctx, Engine, Server, Stores};

pub const TESTS: super::Plain = tests![
    a_traced_request_has_a_server_span_and_store_spans,
    key_value_operations_have_store_spans,
    an_unsampled_trace_is_not_exported,
    a_dead_collector_costs_requests_nothing,
];

/// The caller's span id in every `traceparent` sent here.
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// How long spans may take to arrive (the servers export every 100 ms).
const ARRIVAL: Duration = Duration::from_secs(15);

/// A server that exports to the suite's receiver, shared by this module's tests.
struct Traced {
    receiver: Receiver,
    server: Server,
}

fn traced(ctx: &Ctx) -> &'static Traced {
    static TRACED: OnceLock<Traced> = OnceLock::new();
    TRACED.get_or_init(|| {
        let receiver = Receiver::start();
        let endpoint = receiver.endpoint();
        let server = ctx.start_dedicated("telemetry", &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint), ("OTEL_BSP_SCHEDULE_DELAY", "100")]);
        Traced { receiver, server }
    })
}

fn traceparent(trace_id: &str, sampled: bool) -> String {
    format!("00-{trace_id}-{CALLER_SPAN}-{}", if sampled { "01" } else { "00" })
}

/// The span's ancestors within its trace, nearest first.
fn ancestors<'a>(span: &Span, trace: &'a [Span]) -> Vec<&'a Span> {
    let mut out = Vec::new();
    let mut parent = span.parent_span_id.clone();
    while let Some(p) = trace.iter().find(|s| s.span_id == parent) {
        out.push(p);
        parent = p.parent_span_id.clone();
    }
    out
}

fn describe(trace: &[Span]) -> String {
    trace.iter().map(|s| format!("  {} [{}] parent={} {:?}", s.name, s.span_id, s.parent_span_id, s.attributes)).collect::<Vec<_>>().join("\n")
}

fn server_span(trace: &[Span]) -> Option<&Span> {
    trace.iter().find(|s| s.kind == KIND_SERVER)
}

/// Store spans below the server span whose `db.system` is `system`.
fn store_spans<'a>(trace: &'a [Span], system: &str) -> Vec<&'a Span> {
    let Some(server) = server_span(trace) else { return Vec::new() };
    trace
        .iter()
        .filter(|s| s.attr("db.system") == Some(system) && ancestors(s, trace).iter().any(|a| a.span_id == server.span_id))
        .collect()
}

fn sql_system(ctx: &Ctx) -> &'static str {
    match ctx.stores {
        Stores::Embedded => "sqlite",
        Stores::PostgresRedis => "postgresql",
    }
}

fn kv_system(ctx: &Ctx) -> &'static str {
    match ctx.stores {
        // The embedded key-value store is a SQLite table.
        Stores::Embedded => "sqlite",
        Stores::PostgresRedis => "redis",
    }
}

fn a_traced_request_has_a_server_span_and_store_spans(ctx: &Ctx) {
    let t = traced(ctx);
    let api = t.server.api();
    let name = tag("otel");
    let cat = create(api, "/cats", &json!({"name": name, "breed": "Siamese", "age": 3, "color": "traced"}));
    let id = cat["id"].as_str().expect("id").to_owned();

    let trace_id = new_trace_id();
    let resp = api
        .get(&format!("/cats/{id}"))
        .header("traceparent", &traceparent(&trace_id, true))
        .header("tracestate", "spincrud-tests=1")
        .send();
    resp.expect(200);
    let system = sql_system(ctx);
    let trace = t.receiver.wait_for(&trace_id, ARRIVAL, |spans| !store_spans(spans, system).is_empty());
    let shown = describe(&trace);

    let server = server_span(&trace).unwrap_or_else(|| panic!("no server span in trace {trace_id}:\n{shown}"));
    assert_eq!(server.parent_span_id, CALLER_SPAN, "the server span continues the caller's span:\n{shown}");
    assert_eq!(server.name, "GET /cats/{id}", "named after the route template:\n{shown}");
    for (key, value) in [("http.request.method", "GET"), ("http.route", "/cats/{id}"), ("http.response.status_code", "200"), ("client.address", "127.0.0.1")] {
        assert_eq!(server.attr(key), Some(value), "{key} of the server span:\n{shown}");
    }
    assert_eq!(server.resource.get("service.name").map(String::as_str), Some("spincrud"));
    let engine = match ctx.engine {
        Engine::Native => "native",
        Engine::Wasm => "wasm",
        Engine::Spin => unreachable!("host-runner's spans"),
    };
    assert_eq!(server.resource.get("spincrud.engine").map(String::as_str), Some(engine));

    // The caller learns the server span's context.
    let returned = resp.header("traceparent").unwrap_or_else(|| panic!("no traceparent in the answer\n{}", resp.describe()));
    assert_eq!(returned, format!("00-{trace_id}-{}-01", server.span_id), "the answer's traceparent");

    // Store spans: the statement's shape, never a value.
    let stores = store_spans(&trace, system);
    assert!(!stores.is_empty(), "no {system} span below the server span:\n{shown}");
    let statements: Vec<&str> = stores.iter().filter_map(|s| s.attr("db.statement")).collect();
    assert!(statements.iter().any(|q| q.contains("FROM cats") && (q.contains("?1") || q.contains("$1"))), "the SELECT with its placeholder:\n{shown}");
    for span in &stores {
        if span.attr("db.statement").is_some() {
            assert!(span.attr("db.operation").is_some_and(|op| !op.is_empty()), "db.operation:\n{shown}");
        }
        for (key, value) in &span.attributes {
            assert!(!value.contains(&id) && !value.contains(&name), "{key} of a store span carries a value: {value}");
        }
    }

    if ctx.engine == Engine::Wasm {
        let execute = trace.iter().find(|s| s.name == "execute_wasm_component cats").unwrap_or_else(|| panic!("no execute_wasm_component span:\n{shown}"));
        assert!(stores.iter().all(|s| ancestors(s, &trace).iter().any(|a| a.span_id == execute.span_id)), "store spans below the component's:\n{shown}");
        assert!(trace.iter().any(|s| s.name == "instantiate_wasm_component"), "no instantiation span:\n{shown}");
    }

    // The request's log line names the trace.
    let request_id = resp.header("x-request-id").expect("x-request-id").to_owned();
    let log = t.server.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("\"message\":\"request\"") && l.contains(&request_id))
        .unwrap_or_else(|| panic!("no log line for request {request_id}"));
    assert!(line.contains(&format!("\"trace_id\":\"{trace_id}\"")), "the log line carries the trace id: {line}");
}

fn key_value_operations_have_store_spans(ctx: &Ctx) {
    let t = traced(ctx);
    let trace_id = new_trace_id();
    let resp = t.server.api().get("/data?limit=1").header("traceparent", &traceparent(&trace_id, true)).send();
    resp.expect(200);
    let system = kv_system(ctx);
    let is_kv = |s: &&Span| system == "redis" || s.attr("db.statement").is_some_and(|q| q.contains("spin_key_value"));
    let trace = t.receiver.wait_for(&trace_id, ARRIVAL, |spans| store_spans(spans, system).iter().any(is_kv));
    let shown = describe(&trace);
    assert_eq!(server_span(&trace).map(|s| s.name.as_str()), Some("GET /data"), "{shown}");
    assert!(store_spans(&trace, system).iter().any(is_kv), "no key-value span ({system}) below the server span:\n{shown}");
    if ctx.engine == Engine::Wasm {
        let host_call = |s: &Span| s.name.starts_with("spin_key_value.") || s.name.starts_with("wasi_keyvalue.");
        assert!(trace.iter().any(host_call), "no key-value host call span:\n{shown}");
    }
}

fn an_unsampled_trace_is_not_exported(ctx: &Ctx) {
    let t = traced(ctx);
    let api = t.server.api();
    let unsampled = new_trace_id();
    let resp = api.get("/healthz").header("traceparent", &traceparent(&unsampled, false)).send();
    resp.expect(200);
    let returned = resp.header("traceparent").unwrap_or_default();
    assert!(returned.starts_with(&format!("00-{unsampled}-")) && returned.ends_with("-00"), "traceparent: {returned}");
    // Spans are exported in the order they end: once a later trace is in, the first would be.
    let sampled = new_trace_id();
    api.get("/healthz").header("traceparent", &traceparent(&sampled, true)).send().expect(200);
    let later = t.receiver.wait_for(&sampled, ARRIVAL, |spans| server_span(spans).is_some());
    assert!(server_span(&later).is_some(), "the sampled request's span did not arrive");
    assert!(t.receiver.trace(&unsampled).is_empty(), "spans of an unsampled trace were exported:\n{}", describe(&t.receiver.trace(&unsampled)));
}

/// A server whose collector accepts no connection, shared with nothing else.
struct Stranded {
    _collector: DeadCollector,
    server: Server,
}

fn a_dead_collector_costs_requests_nothing(ctx: &Ctx) {
    static STRANDED: OnceLock<Stranded> = OnceLock::new();
    let stranded = STRANDED.get_or_init(|| {
        let collector = DeadCollector::start();
        let endpoint = collector.endpoint();
        let env = [("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()), ("OTEL_BSP_SCHEDULE_DELAY", "100"), ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000")];
        Stranded { server: ctx.start_dedicated("dead_collector", &env), _collector: collector }
    });
    let dead = stranded.server.api();
    let plain = ctx.api();
    let trace_id = new_trace_id();
    // Alternately, so that both see the same load from the tests running beside this one.
    let (mut with_dead, mut without) = (Vec::new(), Vec::new());
    for i in 0..120 {
        for (api, times) in [(dead, &mut with_dead), (plain, &mut without)] {
            let started = Instant::now();
            let mut req = api.get("/healthz");
            if i % 2 == 0 {
                req = req.header("traceparent", &traceparent(&trace_id, true));
            }
            req.send().expect(200);
            times.push(started.elapsed());
        }
    }
    with_dead.sort();
    without.sort();
    let (median_dead, median_plain) = (with_dead[with_dead.len() / 2], without[without.len() / 2]);
    let slowest = *with_dead.last().unwrap();
    assert!(slowest < Duration::from_secs(1), "a request took {slowest:?} with a dead collector");
    assert!(
        median_dead <= median_plain * 3 + Duration::from_millis(5),
        "median {median_dead:?} with a dead collector, {median_plain:?} without"
    );

    // One warning, not one per batch.
    let deadline = Instant::now() + Duration::from_secs(20);
    let warnings = || stranded.server.log_text().matches("cannot export spans").count();
    while warnings() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(warnings(), 1, "the dead collector should be reported once:\n{}", stranded.server.log_tail(20));
    assert!(stranded.server.is_running());
}
