//! Helpers shared by every area: unique tags, format checks, problem assertions, creating
//! items and reading lists.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::harness::http::{next_link, Request, Response};
use crate::harness::Api;

pub use crate::harness::http::enc;
pub use serde_json::json;

// ---------------------------------------------------------------- unique values

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn run_stamp() -> u64 {
    static STAMP: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *STAMP.get_or_init(|| {
        let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        (t.as_secs() ^ u64::from(t.subsec_micros())) % 0x100000
    })
}

/// A value unique in this run: `<prefix><run stamp>x<counter>`, only `[a-z0-9]` after the
/// prefix, so it fits every tag field (cat color, dcname, username, ...).
pub fn tag(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{:05x}x{n}", run_stamp())
}

/// A random-looking, well-formed UUID v4 that no server has handed out.
pub fn random_uuid() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut x = t ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let (a, b) = (next(), next());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:x}{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        8 + (b >> 62),
        (b >> 48) & 0xfff,
        b & 0xffff_ffff_ffff
    )
}

// ---------------------------------------------------------------- formats

pub fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, len)| {
            g.len() == len
                && g.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// Lower-case UUID, version 4, RFC variant.
pub fn is_uuid_v4(s: &str) -> bool {
    is_uuid(s) && s.as_bytes()[14] == b'4' && matches!(s.as_bytes()[19], b'8' | b'9' | b'a' | b'b')
}

/// RFC 3339 UTC with microseconds: `2026-11-21T05:37:00.123456Z`.
pub fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| r.into_iter().all(|i| b[i].is_ascii_digit());
    b.len() == 27
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..26)
        && b[26] == b'Z'
}

/// A strong entity tag `"<32 hex>"`.
pub fn is_strong_etag(s: &str) -> bool {
    s.len() == 34
        && s.starts_with('"')
        && s.ends_with('"')
        && s[1..33].bytes().all(|b| b.is_ascii_hexdigit())
}

/// The answer's `ETag`, checked to be strong.
#[track_caller]
pub fn etag(resp: &Response) -> String {
    let tag = resp
        .header("etag")
        .unwrap_or_else(|| panic!("no ETag header\n{}", resp.describe()));
    resp.check(
        is_strong_etag(tag),
        "ETag should be a strong tag \"<32 hex>\"",
    );
    tag.to_string()
}

/// A string of `n` copies of `c` (code points, not bytes).
pub fn chars(c: char, n: usize) -> String {
    std::iter::repeat_n(c, n).collect()
}

// ---------------------------------------------------------------- problems

pub fn title_of(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => panic!("no problem title defined for {status}"),
    }
}

/// Words that would reveal a store or internals in a problem (api.md: none may appear).
const LEAKS: [&str; 9] = [
    "sqlite",
    "postgres",
    "redis",
    "sqlx",
    "duplicate key",
    "unique constraint",
    "panicked",
    "stack backtrace",
    "src/",
];

/// Checks a problem document: status, `application/problem+json`, `type` (slug), `title`,
/// numeric `status`, string `detail`, a non-empty `errors` for 422, no store internals.
#[track_caller]
pub fn assert_problem(resp: &Response, status: u16, slug: &str) -> Value {
    resp.expect(status);
    resp.check(
        resp.media_type().as_deref() == Some("application/problem+json"),
        "Content-Type should be application/problem+json",
    );
    let p = resp.json();
    let want_type = format!("https://spincrud.dev/problems/{slug}");
    resp.check(
        p["type"] == want_type.as_str(),
        &format!("problem `type` should be {want_type:?}"),
    );
    resp.check(
        p["title"] == title_of(status),
        &format!("problem `title` should be {:?}", title_of(status)),
    );
    resp.check(
        p["status"].as_u64() == Some(u64::from(status)),
        &format!("problem `status` should be the number {status}"),
    );
    resp.check(
        p["detail"].is_string(),
        "problem `detail` should be a string",
    );
    if status == 422 {
        let ok = p["errors"].as_array().is_some_and(|e| !e.is_empty());
        resp.check(ok, "a 422 problem should carry a non-empty `errors` array");
    }
    if let Some(errors) = p.get("errors") {
        let well_formed = errors.as_array().is_some_and(|e| {
            e.iter()
                .all(|x| x["field"].is_string() && x["message"].is_string())
        });
        resp.check(
            well_formed,
            "`errors` should be an array of {\"field\": string, \"message\": string}",
        );
    }
    let lower = resp.text().to_lowercase();
    if let Some(word) = LEAKS.iter().find(|w| lower.contains(*w)) {
        panic!("problem reveals internals ({word:?})\n{}", resp.describe());
    }
    p
}

/// The `field` of every entry of `errors`.
pub fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|x| x["field"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A `422 validation-error` whose `errors` name `field`.
#[track_caller]
pub fn assert_invalid(resp: &Response, field: &str) -> Value {
    let p = assert_problem(resp, 422, "validation-error");
    let fields = error_fields(&p);
    resp.check(
        fields.iter().any(|f| f == field),
        &format!("`errors` should name field {field:?} (names {fields:?})"),
    );
    p
}

/// A `409 conflict` whose `errors` name `field`.
#[track_caller]
pub fn assert_conflict(resp: &Response, field: &str) -> Value {
    let p = assert_problem(resp, 409, "conflict");
    let fields = error_fields(&p);
    resp.check(
        fields.iter().any(|f| f == field),
        &format!("409 `errors` should name field {field:?} (names {fields:?})"),
    );
    p
}

#[track_caller]
pub fn assert_bad_request(resp: &Response) -> Value {
    assert_problem(resp, 400, "bad-request")
}

#[track_caller]
pub fn assert_not_found(resp: &Response) -> Value {
    assert_problem(resp, 404, "not-found")
}

// ---------------------------------------------------------------- items and lists

/// `POST path` with a JSON body; expects `201` and returns the JSON answer.
#[track_caller]
pub fn create(api: Api, path: &str, body: &Value) -> Value {
    api.post(path).json(body).send().expect_json(201)
}

/// `GET path`; expects `200` JSON.
#[track_caller]
pub fn get_json(api: Api, path: &str) -> Value {
    api.get(path).send().expect_json(200)
}

/// One page of a list answer.
pub struct Page {
    pub items: Vec<Value>,
    pub total: u64,
    pub next: Option<String>,
    pub resp: Response,
}

/// `GET target` of a list; checks `200`, a JSON array and `X-Total-Count`.
#[track_caller]
pub fn list(api: Api, target: &str) -> Page {
    list_with(api.get(target))
}

#[track_caller]
pub fn list_with(req: Request) -> Page {
    let resp = req.send();
    let body = resp.expect_json(200);
    let items = match body {
        Value::Array(items) => items,
        _ => panic!("a list answer should be a JSON array\n{}", resp.describe()),
    };
    let total = resp
        .header("x-total-count")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "a list answer needs a numeric X-Total-Count\n{}",
                resp.describe()
            )
        });
    let next = next_link(&resp);
    Page {
        items,
        total,
        next,
        resp,
    }
}

/// The values of `field` in `items`, as strings (for readable comparisons).
pub fn pluck(items: &[Value], field: &str) -> Vec<String> {
    items
        .iter()
        .map(|i| match &i[field] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

/// Asserts `actual == expected` with both printed, plus the exchange.
#[track_caller]
pub fn assert_json_eq(resp: &Response, actual: &Value, expected: &Value, what: &str) {
    if actual != expected {
        panic!(
            "{what}\n  expected: {}\n  actual:   {}\n{}",
            serde_json::to_string(expected).unwrap(),
            serde_json::to_string(actual).unwrap(),
            resp.describe()
        );
    }
}

/// The keys of a JSON object, in order.
pub fn keys(v: &Value) -> Vec<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// `base` with the keys of `extra` set (shallow).
pub fn with(base: &Value, extra: Value) -> Value {
    let mut v = base.clone();
    for (k, x) in extra.as_object().expect("`with` takes an object").iter() {
        v[k] = x.clone();
    }
    v
}

/// `base` without `key`.
pub fn without(base: &Value, key: &str) -> Value {
    let mut v = base.clone();
    v.as_object_mut().unwrap().remove(key);
    v
}

/// Sends `n` requests at once (one thread each) and returns the answers in order. A 5xx
/// still fails the test, from the test's own thread.
#[track_caller]
pub fn race(n: usize, request: impl Fn(usize) -> Request + Sync) -> Vec<Response> {
    let answers: Vec<Result<Response, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let request = &request;
                s.spawn(move || request(i).allow_server_error().send())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().map_err(|p| {
                    p.downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default()
                })
            })
            .collect()
    });
    answers
        .into_iter()
        .map(|a| {
            let resp = a.unwrap_or_else(|message| panic!("a racing request failed: {message}"));
            resp.check(resp.status < 500, "the suite never expects a 5xx");
            resp
        })
        .collect()
}

/// The item at `path` still reads exactly as `expected` (after a write that had to be refused).
pub fn assert_unchanged(ctx: &crate::harness::Ctx, path: &str, expected: &Value, what: &str) {
    let after = ctx.api().get(path).send();
    assert_json_eq(&after, &after.expect_json(200), expected, what);
}
