//! CORS: off by default; with `CORS_ORIGINS` (Spin: `cors_origins`), preflights from a listed
//! origin are answered and every answer to it carries what its page needs to read it; other
//! origins get no CORS header. (A real browser runs the same exchange in
//! `tests/cors-page/cors_page.py`.)

use super::support::*;
use super::tests;
use crate::harness::http::Response;
use crate::harness::{Ctx, ServerKind, TOKENS};

pub const TESTS: super::Plain = tests![
    off_by_default,
    preflight_from_a_listed_origin,
    answers_to_a_listed_origin_can_be_read_by_its_page,
    unlisted_origins_get_no_cors_headers,
];

const ORIGIN: &str = "https://app.example.com";
/// Listed as `HTTP://LOCALHOST:8080/`: browsers write it like this.
const OTHER_ORIGIN: &str = "http://localhost:8080";
const ALLOWED_HEADERS: &str = "Authorization, Content-Type, If-Match, If-None-Match, Prefer, X-Request-Id";
const EXPOSED_HEADERS: &str = "ETag, Location, Link, X-Total-Count, Retry-After, Preference-Applied, X-Request-Id";

fn cors_headers(resp: &Response) -> Vec<&str> {
    resp.headers.iter().filter(|(n, _)| n.starts_with("access-control-")).map(|(n, _)| n.as_str()).collect()
}

fn vary(resp: &Response) -> Vec<String> {
    resp.headers_named("vary").iter().flat_map(|v| v.split(',')).map(|t| t.trim().to_ascii_lowercase()).collect()
}

fn off_by_default(ctx: &Ctx) {
    let api = ctx.api();
    let resp = api.get("/healthz").header("Origin", ORIGIN).send();
    resp.expect(200);
    resp.check(cors_headers(&resp).is_empty(), "no CORS header when CORS_ORIGINS is empty");
    resp.check(vary(&resp) == ["origin"], "Vary: Origin whether CORS is on or not");
    let preflight = api.request("OPTIONS", "/cats").header("Origin", ORIGIN).header("Access-Control-Request-Method", "POST").send();
    assert_problem(&preflight, 405, "method-not-allowed");
    preflight.check(cors_headers(&preflight).is_empty(), "a preflight is an OPTIONS like any other");
}

fn preflight_from_a_listed_origin(ctx: &Ctx) {
    let api = ctx.api_on(ServerKind::Cors);
    for (origin, path, methods) in [
        (ORIGIN, "/cats".to_string(), "GET, HEAD, POST"),
        (OTHER_ORIGIN, format!("/cats/{}", random_uuid()), "GET, HEAD, PUT, PATCH, DELETE"),
        (ORIGIN, "/data".to_string(), "GET, HEAD, POST, DELETE"),
        (ORIGIN, "/search".to_string(), "GET, HEAD"),
        (ORIGIN, "/healthz".to_string(), "GET, HEAD"),
    ] {
        // Browsers send a preflight without credentials: it needs no token.
        let resp = api
            .request("OPTIONS", &path)
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "PATCH")
            .header("Access-Control-Request-Headers", "authorization,content-type,if-match")
            .send();
        resp.expect(204);
        let what = format!("preflight of {path} from {origin}");
        resp.check(resp.header("access-control-allow-origin") == Some(origin), &format!("{what}: the origin is allowed"));
        resp.check(resp.header("access-control-allow-methods") == Some(methods), &format!("{what}: the route's methods"));
        resp.check(resp.header("access-control-allow-headers") == Some(ALLOWED_HEADERS), &format!("{what}: the request headers"));
        resp.check(resp.header("access-control-max-age") == Some("600"), &format!("{what}: max-age"));
        resp.check(vary(&resp) == ["origin"], &format!("{what}: Vary: Origin"));
        resp.check(resp.body.is_empty() && resp.header("access-control-allow-credentials").is_none(), &format!("{what}: no body, no credentials"));
        resp.check(resp.header("x-request-id").is_some(), &format!("{what}: a request id, as every answer"));
    }
    // An unknown path has no preflight to give: its 404 problem, readable by the page.
    let resp = api.request("OPTIONS", "/nowhere").header("Origin", ORIGIN).header("Access-Control-Request-Method", "GET").send();
    assert_problem(&resp, 404, "not-found");
    resp.check(resp.header("access-control-allow-origin") == Some(ORIGIN), "the 404 is readable by the page");
}

fn answers_to_a_listed_origin_can_be_read_by_its_page(ctx: &Ctx) {
    let api = ctx.api_on(ServerKind::Cors);
    let color = tag("cors");
    let created = api.post("/cats").bearer(TOKENS[0]).header("Origin", ORIGIN).json(&json!({"name": "Cross", "color": color})).send();
    created.expect(201);
    for resp in [&created] {
        resp.check(resp.header("access-control-allow-origin") == Some(ORIGIN), "ACAO on a create");
        resp.check(resp.header("access-control-expose-headers") == Some(EXPOSED_HEADERS), "the page may read ETag, Location, …");
        resp.check(vary(resp).contains(&"origin".to_string()), "Vary: Origin");
        resp.check(resp.header("access-control-allow-methods").is_none(), "methods only on a preflight");
    }
    api.post("/cats").bearer(TOKENS[0]).json(&json!({"name": "Cross 2", "color": color})).send().expect(201);
    let page = api.get(&format!("/cats?color={color}&limit=1")).header("Origin", OTHER_ORIGIN).send();
    page.expect(200);
    page.check(page.header("access-control-allow-origin") == Some(OTHER_ORIGIN), "ACAO on a list");
    page.check(page.header("access-control-expose-headers") == Some(EXPOSED_HEADERS), "X-Total-Count and Link readable");
    page.check(vary(&page) == ["prefer", "origin"], "Vary: Prefer, Origin");
    page.check(page.header("x-total-count") == Some("2") && page.header("link").is_some(), "the list's own headers");
    // Errors too: a page must be able to read why its request failed.
    let refused = api.post("/cats").header("Origin", ORIGIN).json(&json!({"name": "No token"})).send();
    assert_problem(&refused, 401, "unauthorized");
    refused.check(refused.header("access-control-allow-origin") == Some(ORIGIN), "ACAO on a 401");
    let invalid = api.post("/cats").bearer(TOKENS[1]).header("Origin", ORIGIN).json(&json!({"name": ""})).send();
    assert_invalid(&invalid, "name");
    invalid.check(invalid.header("access-control-allow-origin") == Some(ORIGIN), "ACAO on a 422");
    // A HEAD answers the same headers.
    let head = api.head(&format!("/cats?color={color}")).header("Origin", ORIGIN).send();
    head.check(head.header("access-control-allow-origin") == Some(ORIGIN), "ACAO on a HEAD");
}

fn unlisted_origins_get_no_cors_headers(ctx: &Ctx) {
    let api = ctx.api_on(ServerKind::Cors);
    for origin in ["https://evil.example.com", "http://app.example.com", "https://app.example.com:8443", "null"] {
        let resp = api.get("/healthz").header("Origin", origin).send();
        resp.expect(200);
        resp.check(cors_headers(&resp).is_empty(), &format!("{origin}: no CORS header"));
        resp.check(vary(&resp) == ["origin"], &format!("{origin}: the answer still varies by Origin"));
        let preflight = api.request("OPTIONS", "/cats").header("Origin", origin).header("Access-Control-Request-Method", "POST").send();
        assert_problem(&preflight, 405, "method-not-allowed");
        preflight.check(cors_headers(&preflight).is_empty(), &format!("{origin}: its preflight is refused like any OPTIONS"));
    }
    let plain = api.get("/healthz").send();
    plain.check(cors_headers(&plain).is_empty(), "no Origin: no CORS header");
}
