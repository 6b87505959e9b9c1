//! Operations: health, readiness, OpenAPI, metrics, HEAD.

use super::resources::{config, passenger};
use super::routing::ROUTES;
use super::support::*;
use super::tests;
use crate::harness::{Ctx, Engine};

pub const TESTS: super::Plain = tests![healthz, readyz, openapi_describes_every_route, head_mirrors_get];

/// `/metrics` is host-runner's own (Spin's metrics and traces go out by OpenTelemetry).
pub const HOST_RUNNER_TESTS: super::Plain = tests![metrics_are_prometheus_text, the_wasm_engine_has_metrics_per_component];

/// Only the wasm engine runs the components itself, and so can count their memory's growths.
pub const WASM_TESTS: super::Plain = tests![typical_requests_do_not_grow_the_components_memory];

/// On Spin, `/metrics` is an unknown route like any other.
pub const SPIN_TESTS: super::Plain = tests![metrics_is_not_a_route_on_spin];

fn healthz(ctx: &Ctx) {
    let resp = ctx.api().get("/healthz").send();
    assert_json_eq(
        &resp,
        &resp.expect_json(200),
        &json!({"status": "ok"}),
        "GET /healthz",
    );
}

fn readyz(ctx: &Ctx) {
    let resp = ctx.api().get("/readyz").send();
    let expected = json!({"status": "ready", "checks": {"sql": "ok", "kv": "ok"}});
    assert_json_eq(&resp, &resp.expect_json(200), &expected, "GET /readyz");
}

fn openapi_describes_every_route(ctx: &Ctx) {
    let resp = ctx.api().get("/openapi.json").send();
    let doc = resp.expect_json(200);
    resp.check(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "`openapi` should start with 3.1",
    );
    resp.check(
        doc["info"]["title"].is_string() && doc["info"]["version"].is_string(),
        "info.title and info.version",
    );
    let paths = doc["paths"]
        .as_object()
        .unwrap_or_else(|| panic!("`paths` should be an object\n{}", resp.describe()));
    let mut missing = Vec::new();
    for (route, methods) in ROUTES {
        match paths.get(*route) {
            None => missing.push(route.to_string()),
            Some(item) => {
                for m in *methods {
                    let op = &item[m.to_lowercase()];
                    if !op.is_object() || op["responses"].as_object().is_none_or(|r| r.is_empty()) {
                        missing.push(format!("{m} {route} (with responses)"));
                    }
                }
            }
        }
    }
    resp.check(
        missing.is_empty(),
        &format!("the OpenAPI document should describe {missing:?}"),
    );
    let mut undocumented = Vec::new();
    for (route, methods) in ROUTES {
        for m in *methods {
            let responses = &paths[*route][m.to_lowercase()]["responses"];
            for status in documented_statuses(route, m) {
                let range = format!("{}XX", &status[..1]);
                if responses.get(status).is_none() && responses.get(&range).is_none() {
                    undocumented.push(format!("{m} {route} {status}"));
                }
            }
        }
    }
    resp.check(
        undocumented.is_empty(),
        &format!("the OpenAPI document should list these answers: {undocumented:?}"),
    );
    let post_cats = &paths["/cats"]["post"];
    resp.check(
        post_cats["requestBody"].is_object(),
        "POST /cats documents its request body",
    );
    let statuses: Vec<&String> = post_cats["responses"]
        .as_object()
        .map(|r| r.keys().collect())
        .unwrap_or_default();
    for s in ["201", "400", "415", "422"] {
        resp.check(
            statuses.iter().any(|k| *k == s),
            &format!("POST /cats documents a {s} answer"),
        );
    }
    let params: Vec<&str> = paths["/cats"]["get"]["parameters"]
        .as_array()
        .map(|p| p.iter().filter_map(|x| x["name"].as_str()).collect())
        .unwrap_or_default();
    for p in ["limit", "offset", "order"] {
        resp.check(
            params.contains(&p),
            &format!("GET /cats documents the {p} parameter (found {params:?})"),
        );
    }
}

fn metrics_are_prometheus_text(ctx: &Ctx) {
    let api = ctx.api();
    api.get("/healthz").send().expect(200);
    api.get("/cats?limit=1").send().expect(200);
    api.get("/nope").send().expect(404);
    let resp = api.get("/metrics").send();
    resp.expect(200);
    resp.check(
        resp.media_type().as_deref() == Some("text/plain"),
        "Prometheus text is served as text/plain",
    );
    let text = resp.text();
    let requests = text.lines().find(|l| l.starts_with("http_requests_total{"));
    resp.check(
        requests.is_some_and(|l| {
            l.contains("route=\"") && l.contains("method=\"") && l.contains("status=\"")
        }),
        "an http_requests_total{route,method,status} sample",
    );
    resp.check(
        text.lines()
            .any(|l| l.starts_with("http_request_duration_seconds_bucket{")),
        "an http_request_duration_seconds histogram",
    );
    resp.check(
        text.contains("# TYPE http_request_duration_seconds histogram"),
        "http_request_duration_seconds is declared a histogram",
    );
}

fn metrics_is_not_a_route_on_spin(ctx: &Ctx) {
    assert_not_found(&ctx.api().get("/metrics").send());
}

/// The value of the sample whose line starts with `series` (name and labels), if any.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn the_wasm_engine_has_metrics_per_component(ctx: &Ctx) {
    let api = ctx.api();
    let metrics = || {
        let resp = api.get("/metrics").send();
        resp.expect(200);
        resp.text()
    };
    let requests = r#"wasm_component_requests_total{component="cats",status="200"}"#;
    let instantiations = r#"wasm_instantiation_duration_seconds_count{component="cats"}"#;
    let before = metrics();
    for _ in 0..3 {
        api.get("/cats?limit=1").send().expect(200);
    }
    let after = metrics();
    if ctx.engine == Engine::Native {
        let wasm: Vec<&str> = after.lines().filter(|l| l.contains("wasm_")).collect();
        assert!(wasm.is_empty(), "the native engine has no components: {wasm:?}");
        return;
    }
    for series in [requests, instantiations] {
        let (was, is) = (sample(&before, series).unwrap_or(0.0), sample(&after, series));
        assert!(is.is_some_and(|n| n >= was + 3.0), "{series}: {was} before three requests, {is:?} after:\n{after}");
    }
    for series in [
        r#"wasm_component_duration_seconds_bucket{component="cats",le="+Inf"}"#,
        r#"wasm_instances_in_use{component="cats"}"#,
        r#"wasm_component_failures_total{component="cats",kind="trap"}"#,
        "wasm_instances_max",
    ] {
        assert!(sample(&after, series).is_some(), "no {series} in /metrics:\n{after}");
    }
}

fn head_mirrors_get(ctx: &Ctx) {
    let api = ctx.api();
    let cat = create(api, "/cats", &json!({"name": "Headless"}));
    let path = format!("/cats/{}", cat["id"].as_str().unwrap());
    for target in [path.as_str(), "/healthz", "/hello"] {
        let get = api.get(target).send();
        let head = api.head(target).send();
        head.expect(200);
        head.check(head.body.is_empty(), "HEAD has no body");
        head.check(
            head.header("content-type") == get.header("content-type"),
            "HEAD has GET's Content-Type",
        );
        head.check(
            head.header("etag") == get.header("etag"),
            "HEAD has GET's ETag",
        );
    }
    let tag_ = etag(&api.get(&path).send());
    let cached = api.head(&path).if_none_match(&tag_).send();
    cached.expect(304);
    cached.check(
        cached.header("etag") == Some(tag_.as_str()),
        "HEAD with If-None-Match: 304 with the ETag",
    );
}

/// Answers api.md promises for a route and method, that its OpenAPI operation must list.
fn documented_statuses(route: &str, method: &str) -> Vec<&'static str> {
    let item = route.contains('{');
    let resource = !["/hello", "/healthz", "/readyz", "/openapi.json"].contains(&route);
    let mut s = match method {
        "GET" => vec!["200"],
        "POST" => vec!["201"],
        "PUT" | "PATCH" => vec!["200"],
        _ => vec!["204"],
    };
    if item {
        s.push("404");
    }
    if resource && method == "GET" && !item {
        s.push("400");
    }
    if matches!(method, "POST" | "PUT" | "PATCH") {
        s.extend(["400", "413", "415", "422"]);
    }
    if item && matches!(method, "PUT" | "PATCH") && route != "/data/{id}" {
        s.push("412");
    }
    s
}

/// The components that serve resources start with room for a typical request's heap
/// (`components/instance-memory.rs`), since on Spin an instance whose memory grows costs far
/// more than one that starts larger. The wasm engine counts growths (`wasm_memory_grows_total`),
/// so a change that needs more heap per request fails here. A server of its own: other tests'
/// bulk writes and long pages may grow memory, as they should.
fn typical_requests_do_not_grow_the_components_memory(ctx: &Ctx) {
    let server = ctx.start_dedicated("memory", &[]);
    let api = server.api();

    let cat = create(api, "/cats", &json!({"name": "Tom", "breed": "Siamese", "age": 3, "color": "black"}));
    let path = format!("/cats/{}", cat["id"].as_str().unwrap());
    api.get(&path).send().expect(200);
    api.patch(&path).json(&json!({"age": 4})).send().expect(200);
    api.put(&path).json(&json!({"name": "Tom", "age": 5})).send().expect(200);
    api.get("/cats?limit=20").send().expect(200);
    api.get("/cats?name=Tom&order=age.desc").send().expect(200);
    assert_not_found(&api.get("/cats/no-such-cat").send());
    assert_invalid(&api.post("/cats").json(&json!({"name": ""})).send(), "name");
    api.delete(&path).send().expect(204);

    let p = create(api, "/passengers", &passenger("Mr. Owen Harris Braund"));
    api.get(&format!("/passengers/{}", p["id"].as_str().unwrap())).send().expect(200);
    api.get("/passengers?limit=20").send().expect(200);
    create(api, "/configs", &config("dc-memory", "ops"));
    api.get("/configs/dc-memory").send().expect(200);
    let u = create(api, "/users", &json!({"username": "memory", "email": "memory@example.com"}));
    api.get(&format!("/users/{}", u["id"].as_str().unwrap())).send().expect(200);
    api.get("/data?limit=20").send().expect(200);
    assert_not_found(&api.get("/data/1").send());
    api.get("/healthz").send().expect(200);

    let resp = api.get("/metrics").send();
    resp.expect(200);
    let text = resp.text();
    for component in ["cats", "passengers", "configs", "users", "data", "ops"] {
        let served: f64 = text
            .lines()
            .filter(|l| l.starts_with(&format!("wasm_component_requests_total{{component=\"{component}\",")))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        assert!(served > 0.0, "{component} served none of these requests:\n{text}");
        let grows = sample(&text, &format!("wasm_memory_grows_total{{component=\"{component}\"}}"));
        assert_eq!(grows, Some(0.0), "{component}'s instances grew their memory (sized in components/instance-memory.rs):\n{text}");
    }
}
