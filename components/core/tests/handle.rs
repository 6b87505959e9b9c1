//! `handle` end to end over in-memory key-value and failing SQL stores: routing, problems,
//! auth, `/data` ordering, and what a `500`/`503` may (not) reveal.

use futures_executor::block_on;
use http::{Method, Request, StatusCode};
use serde_json::{json, Value as Json};
use spincrud_core::store::{Dialect, MemoryKv, Row, SqlStore, Statement, StoreError, Value};
use spincrud_core::{handle, Config, Response};

/// A SQL store that fails every call with the given error.
struct FailingSql(StoreError);

impl SqlStore for FailingSql {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }
    async fn query(&self, _: &str, _: &[Value]) -> Result<Vec<Row>, StoreError> {
        Err(self.0.clone())
    }
    async fn execute(&self, _: &str, _: &[Value]) -> Result<u64, StoreError> {
        Err(self.0.clone())
    }
    async fn transaction(&self, _: &[Statement]) -> Result<Vec<u64>, StoreError> {
        Err(self.0.clone())
    }
    async fn check_ready(&self) -> Result<(), StoreError> {
        Err(self.0.clone())
    }
}

const SECRET: &str = "SELECT secret FROM pg_shadow at 10.0.0.7:5432";

struct Harness {
    kv: MemoryKv,
    sql: FailingSql,
    config: Config,
}

impl Harness {
    fn new() -> Harness {
        Harness { kv: MemoryKv::default(), sql: FailingSql(StoreError::Unavailable(SECRET.into())), config: Config::default() }
    }

    fn call(&self, method: Method, uri: &str, content_type: Option<&str>, body: &str) -> Response {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        block_on(handle(req.body(body.as_bytes().to_vec()).unwrap(), &self.sql, &self.kv, &self.config))
    }

    fn json(&self, method: Method, uri: &str, body: &str) -> (StatusCode, Json) {
        let resp = self.call(method, uri, Some("application/json"), body);
        let json = serde_json::from_slice(resp.body()).unwrap_or(Json::Null);
        (resp.status(), json)
    }
}

fn problem(resp: &Response, status: u16, slug: &str) -> Json {
    assert_eq!(resp.status().as_u16(), status, "{}", String::from_utf8_lossy(resp.body()));
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let body: Json = serde_json::from_slice(resp.body()).unwrap();
    assert_eq!(body["type"], format!("https://spincrud.dev/problems/{slug}"));
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string());
    body
}

#[test]
fn unknown_routes_and_methods() {
    let h = Harness::new();
    problem(&h.call(Method::GET, "/nope", None, ""), 404, "not-found");
    problem(&h.call(Method::GET, "/cats/", None, ""), 404, "not-found");
    problem(&h.call(Method::GET, "/cats/not-a-uuid", None, ""), 404, "not-found");
    let resp = h.call(Method::PUT, "/cats", None, "");
    problem(&resp, 405, "method-not-allowed");
    assert_eq!(resp.headers()["allow"], "GET, HEAD, POST");
    assert_eq!(h.call(Method::POST, "/search", None, "").headers()["allow"], "GET, HEAD");
}

#[test]
fn an_unavailable_store_is_503_without_its_message() {
    let h = Harness::new();
    let resp = h.call(Method::GET, "/cats", None, "");
    let body = problem(&resp, 503, "service-unavailable");
    assert!(!String::from_utf8_lossy(resp.body()).contains("10.0.0.7"), "{body}");
    let ready = h.call(Method::GET, "/readyz", None, "");
    let body = problem(&ready, 503, "service-unavailable");
    assert_eq!(body["checks"], json!({"sql": "unavailable", "kv": "ok"}));
    assert!(body["detail"].as_str().unwrap().contains("SQL"));
    assert_eq!(h.call(Method::GET, "/healthz", None, "").status(), 200);
}

#[test]
fn an_internal_error_is_500_without_internals_but_kept_for_the_log() {
    let mut h = Harness::new();
    h.sql = FailingSql(StoreError::Other(SECRET.into()));
    let resp = h.call(Method::GET, "/cats", None, "");
    problem(&resp, 500, "internal-error");
    assert!(!String::from_utf8_lossy(resp.body()).contains("pg_shadow"));
    assert_eq!(resp.extensions().get::<spincrud_core::InternalError>().unwrap().0, SECRET);
}

#[test]
fn bodies_are_checked_before_any_store_is_touched() {
    let h = Harness::new();
    problem(&h.call(Method::POST, "/cats", None, "{}"), 415, "unsupported-media-type");
    problem(&h.call(Method::POST, "/cats", Some("text/plain"), "{}"), 415, "unsupported-media-type");
    problem(&h.call(Method::PUT, "/cats/5c1a0a5e-0b7e-4b8e-9a8e-6b1f7f1d2c3a", Some("application/merge-patch+json"), "{}"), 415, "unsupported-media-type");
    problem(&h.call(Method::POST, "/cats", Some("application/json"), ""), 400, "bad-request");
    problem(&h.call(Method::POST, "/cats", Some("application/json"), "{\"name\":"), 400, "bad-request");
    let deep = "[".repeat(10_000);
    problem(&h.call(Method::POST, "/cats", Some("application/json"), &deep), 400, "bad-request");
    let body = problem(&h.call(Method::POST, "/cats", Some("application/json; charset=utf-8"), "{\"name\":\"\"}"), 422, "validation-error");
    assert_eq!(body["errors"][0]["field"], "name");
}

#[test]
fn body_limit() {
    let mut h = Harness::new();
    h.config.body_limit = 10;
    problem(&h.call(Method::POST, "/data", Some("application/json"), "[{\"id\":\"1\"}]"), 413, "content-too-large");
}

#[test]
fn auth_guards_writes_and_optionally_reads() {
    let mut h = Harness::new();
    h.config = Config::from_settings("one, two", "false", "", "").unwrap();
    let resp = h.call(Method::POST, "/data", Some("application/json"), "[]");
    problem(&resp, 401, "unauthorized");
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    let with_token = |token: &str| {
        let req = Request::builder().method(Method::POST).uri("/data").header("content-type", "application/json").header("authorization", format!("Bearer {token}"));
        block_on(handle(req.body(b"[]".to_vec()).unwrap(), &h.sql, &h.kv, &h.config)).status()
    };
    assert_eq!(with_token("two"), 201);
    assert_eq!(with_token("tw"), 401);
    assert_eq!(with_token("one, two"), 401);
    assert_eq!(h.call(Method::GET, "/data", None, "").status(), 200);
    h.config.auth_reads = true;
    problem(&h.call(Method::GET, "/data", None, ""), 401, "unauthorized");
    assert_eq!(h.call(Method::GET, "/healthz", None, "").status(), 200);
    assert_eq!(h.call(Method::GET, "/openapi.json", None, "").status(), 200);
}

#[test]
fn data_keeps_dataset_order_and_upserts_in_place() {
    let h = Harness::new();
    let (status, body) = h.json(Method::POST, "/data", r#"[{"id":"a","name":"A"},{"id":"b"},{"id":"c"}]"#);
    assert_eq!((status.as_u16(), body), (201, json!({"loaded": 3})));
    h.json(Method::POST, "/data", r#"[{"id":"b","name":"B2"},{"id":"d"}]"#);
    let resp = h.call(Method::GET, "/data?start=1&limit=2", None, "");
    assert_eq!(resp.headers()["x-total-count"], "4");
    let page: Json = serde_json::from_slice(resp.body()).unwrap();
    assert_eq!(page, json!([{"id": "b", "name": "B2"}, {"id": "c"}]));
    let link = resp.headers()["link"].to_str().unwrap();
    let next = link.strip_prefix('<').and_then(|l| l.strip_suffix(">; rel=\"next\"")).unwrap();
    assert!(next.starts_with("/data?limit=2&cursor="), "{link}");
    // The cursor continues after `c`, even once records before it are gone.
    assert_eq!(h.call(Method::DELETE, "/data/a", None, "").status(), 204);
    let rest = h.call(Method::GET, next, None, "");
    assert_eq!(serde_json::from_slice::<Json>(rest.body()).unwrap(), json!([{"id": "d"}]));
    assert!(rest.headers().get("link").is_none(), "nothing after d");
    let (_, all) = h.json(Method::GET, "/data?start=0", "");
    assert_eq!(all.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect::<Vec<_>>(), ["b", "c", "d"]);
    let (_, past_end) = h.json(Method::GET, "/data?start=9", "");
    assert_eq!(past_end, json!([]));
}

#[test]
fn interleaved_loads_keep_every_record_in_store_order() {
    // Two loads prepared before either is stored: the interleaving that lost records when the
    // order was one shared key. New ids go to the end in the order the loads are stored.
    let h = Harness::new();
    let a = spincrud_core::data::Records::prepare(&json!([{"id": "a1"}, {"id": "a2"}])).unwrap();
    let b = spincrud_core::data::Records::prepare(&json!([{"id": "b1"}])).unwrap();
    block_on(b.store(&h.kv)).unwrap();
    block_on(a.store(&h.kv)).unwrap();
    let (_, all) = h.json(Method::GET, "/data", "");
    let ids: Vec<&str> = all.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["b1", "a1", "a2"]);
}

#[test]
fn an_invalid_record_stores_nothing() {
    let h = Harness::new();
    let resp = h.call(Method::POST, "/data", Some("application/json"), r#"[{"id":"x"},{"id":"y","mass (g)":12},{"name":"no id"},{"id":"z","extra":"1"}]"#);
    let body = problem(&resp, 422, "validation-error");
    let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["[1].mass (g)", "[2].id", "[3].extra"]);
    let (_, all) = h.json(Method::GET, "/data", "");
    assert_eq!(all, json!([]));
}

#[test]
fn bundled_dataset_loads_and_records_have_strong_etags() {
    let h = Harness::new();
    let resp = h.call(Method::POST, "/data", None, "");
    assert_eq!(resp.status(), 201);
    let loaded: Json = serde_json::from_slice(resp.body()).unwrap();
    assert!(loaded["loaded"].as_u64().unwrap() >= 1000);
    let first = h.call(Method::GET, "/data/1", None, "");
    let tag = first.headers()["etag"].to_str().unwrap().to_string();
    assert!(tag.starts_with('"') && tag.len() == 34);
    let req = Request::builder().uri("/data/1").header("if-none-match", format!("W/{tag}")).body(Vec::new()).unwrap();
    let again = block_on(handle(req, &h.sql, &h.kv, &h.config));
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"], tag.as_str());
    assert!(again.body().is_empty());
    let req = Request::builder().method(Method::DELETE).uri("/data/1").header("if-match", "\"nope\"").body(Vec::new()).unwrap();
    assert_eq!(block_on(handle(req, &h.sql, &h.kv, &h.config)).status(), 412);
    assert_eq!(h.call(Method::DELETE, "/data/1", None, "").status(), 204);
    problem(&h.call(Method::GET, "/data/1", None, ""), 404, "not-found");
    assert_eq!(h.call(Method::DELETE, "/data", None, "").status(), 204);
    assert_eq!(h.call(Method::GET, "/data", None, "").headers()["x-total-count"], "0");
}

#[test]
fn request_ids_are_echoed_or_made() {
    let h = Harness::new();
    let req = Request::builder().uri("/healthz").header("x-request-id", "abc-123").body(Vec::new()).unwrap();
    assert_eq!(block_on(handle(req, &h.sql, &h.kv, &h.config)).headers()["x-request-id"], "abc-123");
    let made = h.call(Method::GET, "/healthz", None, "");
    assert_eq!(made.headers()["x-request-id"].len(), 36);
}

#[test]
fn head_answers_headers_without_a_body() {
    let h = Harness::new();
    let resp = h.call(Method::HEAD, "/healthz", None, "");
    assert_eq!(resp.status(), 200);
    assert!(resp.body().is_empty());
}

#[test]
fn openapi_describes_every_route() {
    let h = Harness::new();
    let (status, doc) = h.json(Method::GET, "/openapi.json", "");
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for template in spincrud_core::router::TEMPLATES {
        assert!(doc["paths"].get(*template).is_some(), "{template} missing");
    }
    assert_eq!(doc["paths"].as_object().unwrap().len(), spincrud_core::router::TEMPLATES.len());
    let cat = &doc["components"]["schemas"]["Cat"];
    assert_eq!(cat["properties"]["age"]["maximum"], 40);
    assert_eq!(cat["additionalProperties"], false);
}

#[test]
fn readyz_while_draining_is_503_for_readyz_only() {
    let req = |method: Method, uri: &str| Request::builder().method(method).uri(uri).header("x-request-id", "drain-1").body(Vec::new()).unwrap();
    let get = spincrud_core::readyz_while_draining(&req(Method::GET, "/readyz")).expect("an answer for GET /readyz");
    let body = problem(&get, 503, "service-unavailable");
    assert_eq!(body["checks"], json!({ "server": "shutting-down" }));
    assert_eq!(get.headers()["retry-after"], "1");
    assert_eq!(get.headers()["x-request-id"], "drain-1");
    assert_eq!(get.headers()["content-length"], get.body().len().to_string().as_str());
    let head = spincrud_core::readyz_while_draining(&req(Method::HEAD, "/readyz")).expect("an answer for HEAD /readyz");
    assert!(head.body().is_empty());
    assert_eq!(head.headers()["content-length"], get.headers()["content-length"]);
    // Everything else is served as usual, including what /readyz answers to other methods.
    for (method, uri) in [(Method::GET, "/healthz"), (Method::GET, "/cats"), (Method::POST, "/readyz"), (Method::GET, "/readyz/x")] {
        assert!(spincrud_core::readyz_while_draining(&req(method.clone(), uri)).is_none(), "{method} {uri}");
    }
}

fn request(method: Method, uri: &str, headers: &[(&str, &str)]) -> Request<Vec<u8>> {
    let mut req = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.body(Vec::new()).unwrap()
}

fn header<'a>(resp: &'a Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).map(|v| v.to_str().unwrap())
}

#[test]
fn cors_is_off_until_origins_are_configured() {
    let h = Harness::new();
    let resp = block_on(handle(request(Method::GET, "/healthz", &[("origin", "https://app.example.com")]), &h.sql, &h.kv, &h.config));
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().keys().all(|k| !k.as_str().starts_with("access-control-")), "{resp:?}");
    // Whether an answer carries CORS headers depends on Origin and the settings: it always says so.
    assert_eq!(header(&resp, "vary"), Some("Origin"));
    let preflight = [("origin", "https://app.example.com"), ("access-control-request-method", "POST")];
    let resp = block_on(handle(request(Method::OPTIONS, "/cats", &preflight), &h.sql, &h.kv, &h.config));
    problem(&resp, 405, "method-not-allowed");
}

#[test]
fn cors_answers_preflights_and_marks_answers_for_listed_origins_only() {
    let mut h = Harness::new();
    h.config = Config::from_settings("secret", "true", "", "https://app.example.com, http://localhost:8080").unwrap();
    let call = |method: Method, uri: &str, headers: &[(&str, &str)]| block_on(handle(request(method, uri, headers), &h.sql, &h.kv, &h.config));

    // A preflight needs no token: browsers send none.
    let resp = call(Method::OPTIONS, "/cats/3f1c9a8e-1b2c-4d5e-8f90-123456789abc", &[
        ("origin", "https://app.example.com"),
        ("access-control-request-method", "PATCH"),
        ("access-control-request-headers", "authorization, content-type, if-match"),
    ]);
    assert_eq!(resp.status(), 204);
    assert_eq!(header(&resp, "access-control-allow-origin"), Some("https://app.example.com"));
    assert_eq!(header(&resp, "access-control-allow-methods"), Some("GET, HEAD, PUT, PATCH, DELETE"));
    assert_eq!(header(&resp, "access-control-allow-headers"), Some("Authorization, Content-Type, If-Match, If-None-Match, Prefer, X-Request-Id"));
    assert_eq!(header(&resp, "access-control-max-age"), Some("600"));
    assert_eq!(header(&resp, "vary"), Some("Origin"));
    assert!(resp.body().is_empty() && header(&resp, "content-length").is_none());

    // Every answer to a listed origin, errors included, can be read by its page.
    let resp = call(Method::GET, "/cats", &[("origin", "http://localhost:8080")]);
    problem(&resp, 401, "unauthorized");
    assert_eq!(header(&resp, "access-control-allow-origin"), Some("http://localhost:8080"));
    assert_eq!(header(&resp, "access-control-expose-headers"), Some("ETag, Location, Link, X-Total-Count, Retry-After, Preference-Applied, X-Request-Id"));
    assert_eq!(header(&resp, "vary"), Some("Origin"));
    assert!(header(&resp, "access-control-allow-methods").is_none() && header(&resp, "access-control-allow-credentials").is_none());
    let resp = call(Method::GET, "/nope", &[("origin", "https://app.example.com")]);
    problem(&resp, 404, "not-found");
    assert_eq!(header(&resp, "access-control-allow-origin"), Some("https://app.example.com"));

    // An origin that is not listed gets no CORS header, and its preflight is any OPTIONS.
    for origin in ["https://evil.example.com", "null", "http://app.example.com"] {
        let resp = call(Method::GET, "/healthz", &[("origin", origin)]);
        assert_eq!(resp.status(), 200);
        assert!(resp.headers().keys().all(|k| !k.as_str().starts_with("access-control-")), "{origin}: {resp:?}");
        assert_eq!(header(&resp, "vary"), Some("Origin"), "the answer depends on Origin");
        let resp = call(Method::OPTIONS, "/cats", &[("origin", origin), ("access-control-request-method", "POST")]);
        problem(&resp, 405, "method-not-allowed");
        assert!(header(&resp, "access-control-allow-origin").is_none());
    }
    // Without Origin (not a browser's cross-origin request): nothing but Vary.
    let resp = call(Method::GET, "/healthz", &[]);
    assert!(header(&resp, "access-control-allow-origin").is_none());
    // OPTIONS without Access-Control-Request-Method is no preflight.
    problem(&call(Method::OPTIONS, "/cats", &[("origin", "https://app.example.com")]), 405, "method-not-allowed");

    h.config.cors_origins = spincrud_core::cors::CorsOrigins::Any;
    let resp = block_on(handle(request(Method::GET, "/healthz", &[("origin", "https://any.example.org")]), &h.sql, &h.kv, &h.config));
    assert_eq!(header(&resp, "access-control-allow-origin"), Some("*"));
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read as _;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

#[test]
fn long_answers_are_gzipped_when_asked_with_their_length_and_vary() {
    let h = Harness::new();
    let call = |method: Method, uri: &str, headers: &[(&str, &str)]| block_on(handle(request(method, uri, headers), &h.sql, &h.kv, &h.config));
    let plain = call(Method::GET, "/openapi.json", &[]);
    assert!(plain.body().len() > 10_000);
    assert!(header(&plain, "content-encoding").is_none());
    assert_eq!(header(&plain, "vary"), Some("Accept-Encoding, Origin"), "a long answer varies by Accept-Encoding");
    assert_eq!(header(&plain, "content-length"), Some(plain.body().len().to_string().as_str()));

    let gzipped = call(Method::GET, "/openapi.json", &[("accept-encoding", "br;q=1, gzip;q=0.5")]);
    assert_eq!(header(&gzipped, "content-encoding"), Some("gzip"));
    assert_eq!(header(&gzipped, "vary"), Some("Accept-Encoding, Origin"));
    assert_eq!(header(&gzipped, "content-length"), Some(gzipped.body().len().to_string().as_str()));
    assert!(gzipped.body().len() * 4 < plain.body().len(), "{} of {}", gzipped.body().len(), plain.body().len());
    assert_eq!(gunzip(gzipped.body()), plain.body().to_vec());
    // HEAD states its GET's length: the compressed one.
    let head = call(Method::HEAD, "/openapi.json", &[("accept-encoding", "gzip")]);
    assert!(head.body().is_empty());
    assert_eq!(header(&head, "content-length"), header(&gzipped, "content-length"));
    assert_eq!(header(&head, "content-encoding"), Some("gzip"));

    for refused in ["identity", "gzip;q=0", "br"] {
        let resp = call(Method::GET, "/openapi.json", &[("accept-encoding", refused)]);
        assert!(header(&resp, "content-encoding").is_none(), "{refused}");
        assert_eq!(resp.body(), plain.body());
    }
    // Short answers go out as they are, whatever is asked.
    let short = call(Method::GET, "/healthz", &[("accept-encoding", "gzip")]);
    assert!(header(&short, "content-encoding").is_none() && header(&short, "vary") == Some("Origin"));
    assert_eq!(short.body(), br#"{"status":"ok"}"#);
}

#[test]
fn a_list_varies_by_prefer_accept_encoding_and_origin_in_one_field() {
    let mut h = Harness::new();
    h.config = Config::from_settings("", "", "", "*").unwrap();
    let ids: Vec<String> = (0..60).map(|i| format!(r#"{{"id":"r{i}","name":"a fairly long name of a meteorite {i}"}}"#)).collect();
    let load = Request::builder().method(Method::POST).uri("/data").header("content-type", "application/json").body(format!("[{}]", ids.join(",")).into_bytes()).unwrap();
    assert_eq!(block_on(handle(load, &h.sql, &h.kv, &h.config)).status(), 201);
    let resp = block_on(handle(request(Method::GET, "/data?limit=50", &[("accept-encoding", "gzip"), ("origin", "https://a.test")]), &h.sql, &h.kv, &h.config));
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "vary"), Some("Accept-Encoding, Origin"));
    assert_eq!(resp.headers().get_all("vary").iter().count(), 1);
    assert_eq!(header(&resp, "content-encoding"), Some("gzip"));
    let page: Json = serde_json::from_slice(&gunzip(resp.body())).unwrap();
    assert_eq!(page.as_array().unwrap().len(), 50);
}
