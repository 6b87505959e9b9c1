//! gzip: answers of 1 KiB or more are compressed when `Accept-Encoding` takes gzip, say
//! `Vary: Accept-Encoding`, and state the compressed length (a `HEAD` too); shorter ones, and
//! requests that do not take gzip, get the answer as it is.

use std::io::Read as _;

use serde_json::Value;

use super::support::*;
use super::tests;
use crate::harness::http::Response;
use crate::harness::Ctx;

pub const TESTS: super::Plain = tests![
    long_answers_are_gzipped_when_asked,
    short_answers_and_other_codings_are_sent_as_they_are,
    head_states_the_compressed_length,
];

fn gunzip(resp: &Response) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&resp.body[..])
        .read_to_end(&mut out)
        .unwrap_or_else(|e| panic!("the body is not gzip ({e})\n{}", resp.describe()));
    out
}

fn varies_by_encoding(resp: &Response) -> bool {
    resp.headers_named("vary").iter().flat_map(|v| v.split(',')).any(|t| t.trim().eq_ignore_ascii_case("accept-encoding"))
}

#[track_caller]
fn check_length(resp: &Response) {
    let stated = resp.header("content-length").and_then(|v| v.parse::<usize>().ok());
    resp.check(stated == Some(resp.body.len()), "Content-Length states the bytes sent");
    resp.check(resp.header("transfer-encoding").is_none(), "not chunked");
}

/// Cats enough for a long page, all of one color.
fn long_list(ctx: &Ctx) -> String {
    let color = tag("gz");
    let cats: Vec<Value> = (0..40).map(|i| json!({"name": format!("Compressible cat {i}"), "breed": "Siamese", "color": color})).collect();
    ctx.api().post("/cats").json(&Value::Array(cats)).send().expect(201);
    format!("/cats?color={color}")
}

fn long_answers_are_gzipped_when_asked(ctx: &Ctx) {
    let api = ctx.api();
    let target = long_list(ctx);
    for (path, min_ratio) in [(target.as_str(), 4), ("/openapi.json", 5)] {
        let plain = api.get(path).send();
        plain.expect(200);
        check_length(&plain);
        plain.check(plain.body.len() >= 1024 && plain.header("content-encoding").is_none(), &format!("{path}: plain without Accept-Encoding"));
        plain.check(varies_by_encoding(&plain), &format!("{path}: a long answer varies by Accept-Encoding"));
        for accept in ["gzip", "gzip, deflate, br, zstd", "br;q=1.0, gzip;q=0.5, *;q=0", "*"] {
            let gz = api.get(path).header("Accept-Encoding", accept).send();
            gz.expect(200);
            let what = format!("{path} with Accept-Encoding: {accept}");
            gz.check(gz.header("content-encoding") == Some("gzip"), &format!("{what}: gzip"));
            gz.check(varies_by_encoding(&gz), &format!("{what}: Vary: Accept-Encoding"));
            gz.check(gz.media_type() == plain.media_type(), &format!("{what}: the same media type"));
            check_length(&gz);
            gz.check(gz.body.len() * min_ratio < plain.body.len(), &format!("{what}: {} bytes of {}", gz.body.len(), plain.body.len()));
            gz.check(gunzip(&gz) == plain.body, &format!("{what}: the same answer once decoded"));
        }
    }
    // `/data` pages too.
    let _guard = ctx.lock_data();
    api.delete("/data").send().expect(204);
    api.post("/data").send().expect(201);
    let plain = api.get("/data?start=100&limit=50").send();
    let gz = api.get("/data?start=100&limit=50").header("Accept-Encoding", "gzip").send();
    gz.check(gz.header("content-encoding") == Some("gzip") && gunzip(&gz) == plain.body, "a /data page, gzipped");
    gz.check(gz.header("link") == plain.header("link") && gz.header("x-total-count") == plain.header("x-total-count"), "headers as without");
}

fn short_answers_and_other_codings_are_sent_as_they_are(ctx: &Ctx) {
    let api = ctx.api();
    let short = api.get("/healthz").header("Accept-Encoding", "gzip").send();
    short.expect(200);
    short.check(short.header("content-encoding").is_none() && short.text() == r#"{"status":"ok"}"#, "a short answer is not compressed");
    short.check(!varies_by_encoding(&short), "nor marked as varying");
    check_length(&short);
    let problem = api.get("/nope").header("Accept-Encoding", "gzip").send();
    assert_problem(&problem, 404, "not-found");
    problem.check(problem.header("content-encoding").is_none(), "a short problem is plain");
    let target = long_list(ctx);
    for accept in ["identity", "gzip;q=0", "br", "deflate", "*;q=0", ""] {
        let resp = api.get(&target).header("Accept-Encoding", accept).send();
        resp.expect(200);
        resp.check(resp.header("content-encoding").is_none(), &format!("Accept-Encoding: {accept:?} takes no gzip"));
        resp.check(varies_by_encoding(&resp), "Vary: Accept-Encoding all the same");
        check_length(&resp);
        resp.json();
    }
}

fn head_states_the_compressed_length(ctx: &Ctx) {
    let api = ctx.api();
    let target = long_list(ctx);
    let gz = api.get(&target).header("Accept-Encoding", "gzip").send();
    let head = api.head(&target).header("Accept-Encoding", "gzip").send();
    head.expect(200);
    head.check(head.body.is_empty(), "HEAD has no body");
    head.check(head.header("content-length") == gz.header("content-length"), "HEAD states its GET's (compressed) length");
    head.check(head.header("content-encoding") == Some("gzip") && varies_by_encoding(&head), "and its coding");
    let plain_head = api.head(&target).send();
    let plain = api.get(&target).send();
    plain_head.check(plain_head.header("content-length") == plain.header("content-length"), "without gzip: the plain length");
}
