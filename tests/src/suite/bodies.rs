//! Request bodies: media types, malformed JSON, size limits, deep nesting.

use super::support::*;
use super::tests;
use crate::harness::{Ctx, ServerKind, SMALL_BODY_LIMIT};

pub const TESTS: super::Plain = tests![
    writes_without_content_type_are_415,
    other_media_types_are_415,
    json_with_charset_is_accepted,
    malformed_json_is_400,
    empty_json_body_is_400,
    non_utf8_body_is_400,
    deeply_nested_json_is_4xx_and_harmless,
    the_deepest_json_allowed_round_trips,
    default_limit_is_one_mebibyte,
    configured_limit_applies_to_every_write,
    chunked_bodies_are_limited_too,
    non_object_bodies_are_422_at_the_root,
];

const MIB: usize = 1024 * 1024;

/// A valid cat body of exactly `len` bytes (padded with JSON whitespace).
fn cat_of_size(color: &str, len: usize) -> Vec<u8> {
    let body = format!(r#"{{"name":"Big","color":"{color}"}}"#);
    assert!(len > body.len());
    let mut bytes = body.as_bytes()[..body.len() - 1].to_vec();
    bytes.resize(len - 1, b' ');
    bytes.push(b'}');
    bytes
}

/// An existing cat's path.
fn a_cat(ctx: &Ctx) -> String {
    let cat = create(
        ctx.api(),
        "/cats",
        &json!({"name": "Body", "color": tag("body")}),
    );
    format!("/cats/{}", cat["id"].as_str().unwrap())
}

fn writes_without_content_type_are_415(ctx: &Ctx) {
    let api = ctx.api();
    let path = a_cat(ctx);
    let body = br#"{"name":"NoType"}"#.to_vec();
    for req in [
        api.post("/cats").body(body.clone()),
        api.put(&path).body(body.clone()),
        api.patch(&path).body(body.clone()),
    ] {
        assert_problem(&req.send(), 415, "unsupported-media-type");
    }
    // Even with an empty body.
    assert_problem(
        &api.post("/cats").body(Vec::new()).send(),
        415,
        "unsupported-media-type",
    );
    assert_problem(&api.post("/cats").send(), 415, "unsupported-media-type");
    assert_problem(
        &api.post("/passengers").body(Vec::new()).send(),
        415,
        "unsupported-media-type",
    );
}

fn other_media_types_are_415(ctx: &Ctx) {
    let api = ctx.api();
    let path = a_cat(ctx);
    let body = br#"{"name":"WrongType"}"#.to_vec();
    for ct in [
        "text/plain",
        "application/xml",
        "application/x-www-form-urlencoded",
        "application/jsonx",
    ] {
        assert_problem(
            &api.post("/cats").content_type(ct).body(body.clone()).send(),
            415,
            "unsupported-media-type",
        );
        assert_problem(
            &api.patch(&path).content_type(ct).body(body.clone()).send(),
            415,
            "unsupported-media-type",
        );
    }
    // merge-patch+json is for PATCH only.
    assert_problem(
        &api.post("/cats")
            .content_type("application/merge-patch+json")
            .body(body.clone())
            .send(),
        415,
        "unsupported-media-type",
    );
    assert_problem(
        &api.put(&path)
            .content_type("application/merge-patch+json")
            .body(body.clone())
            .send(),
        415,
        "unsupported-media-type",
    );
}

fn json_with_charset_is_accepted(ctx: &Ctx) {
    let api = ctx.api();
    let color = tag("charset");
    let body = format!(r#"{{"name":"Charset","color":"{color}"}}"#);
    let resp = api
        .post("/cats")
        .content_type("application/json; charset=utf-8")
        .body(body)
        .send();
    let cat = resp.expect_json(201);
    let path = format!("/cats/{}", cat["id"].as_str().unwrap());
    api.put(&path)
        .content_type("application/json; charset=utf-8")
        .body(r#"{"name":"Charset2"}"#)
        .send()
        .expect(200);
}

fn malformed_json_is_400(ctx: &Ctx) {
    let api = ctx.api();
    let path = a_cat(ctx);
    for text in [
        r#"{"name": "#,
        r#"{"name":"a"} x"#,
        "{'name':'a'}",
        r#"{"name":"a",}"#,
        "nul",
        r#"{"name":"a""age":1}"#,
    ] {
        assert_bad_request(&api.post("/cats").json_text(text).send());
        assert_bad_request(&api.patch(&path).json_text(text).send());
        assert_bad_request(&api.put(&path).json_text(text).send());
    }
}

fn empty_json_body_is_400(ctx: &Ctx) {
    let api = ctx.api();
    let path = a_cat(ctx);
    assert_bad_request(&api.post("/cats").json_text("").send());
    assert_bad_request(&api.put(&path).json_text("").send());
    assert_bad_request(&api.patch(&path).json_text("").send());
    assert_bad_request(
        &api.patch(&path)
            .content_type("application/merge-patch+json")
            .body(Vec::new())
            .send(),
    );
}

fn non_utf8_body_is_400(ctx: &Ctx) {
    let api = ctx.api();
    let path = a_cat(ctx);
    let bytes = b"{\"name\":\"caf\xe9\"}".to_vec();
    assert_bad_request(
        &api.post("/cats")
            .content_type("application/json")
            .body(bytes.clone())
            .send(),
    );
    assert_bad_request(
        &api.patch(&path)
            .content_type("application/json")
            .body(bytes.clone())
            .send(),
    );
    assert_bad_request(
        &api.post("/cats")
            .content_type("application/json")
            .body(b"\xff\xfe{}".to_vec())
            .send(),
    );
}

/// JSON nested as deep as the parser allows (128 levels, the whole document counted) is stored,
/// read, patched and searched: the components' stack (256 KiB, scripts/build-components.sh) holds
/// the deepest recursion of parsing, validating, merging and writing it.
fn the_deepest_json_allowed_round_trips(ctx: &Ctx) {
    let api = ctx.api();
    let depth = 125;
    let deep = (0..depth).fold("1".to_owned(), |inner, _| format!(r#"{{"a":{inner}}}"#));
    let array = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let name = tag("deepest");
    let body = format!(r#"{{"dcname":"{name}","metadata":{{"limits":{{"cpu":{{"enabled":true}}}},"monitoring":{{"enabled":true}},"deep":{deep},"array":{array}}}}}"#);
    let created = api.post("/configs").json_text(&body).send();
    created.expect(201);
    let item = format!("/configs/{name}");
    let read = api.get(&item).send();
    read.expect(200);
    read.check(read.text().contains(&deep) && read.text().contains(&array), "the nested values come back as sent");
    let patched = api.patch(&item).content_type("application/merge-patch+json").body(format!(r#"{{"metadata":{{"deep":{deep},"more":{array}}}}}"#).into_bytes()).send();
    patched.expect(200);
    patched.check(patched.text().contains(&format!(r#""more":{array}"#)), "the patch merged the nested value");
    let found = api.get("/search?metadata.monitoring.enabled=true&limit=1000").send();
    found.expect(200);
    found.check(found.text().contains(&name), "search reads it back");
}

fn deeply_nested_json_is_4xx_and_harmless(ctx: &Ctx) {
    let api = ctx.api();
    let depth = 10_000;
    let open_only = "[".repeat(depth);
    let balanced = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let objects = format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
    let in_metadata = format!(
        r#"{{"dcname":"{}","metadata":{{"limits":{{"cpu":{{"enabled":true}}}},"monitoring":{{"enabled":true}},"deep":{}}}}}"#,
        tag("deep"),
        balanced
    );
    let cases = [
        ("/cats", open_only.clone()),
        ("/cats", balanced.clone()),
        ("/cats", objects.clone()),
        ("/configs", in_metadata),
        ("/users", objects),
    ];
    for (path, text) in cases {
        let resp = api.post(path).json_text(&text).send();
        resp.check(
            (400..500).contains(&resp.status),
            "deeply nested JSON must be a 4xx",
        );
        assert_problem(&resp, resp.status, slug_of(resp.status));
    }
    {
        let _guard = ctx.lock_data(); // `/data` is shared with the data tests
        let resp = api.post("/data").json_text(&balanced).send();
        resp.check(
            (400..500).contains(&resp.status),
            "deeply nested JSON must be a 4xx",
        );
        assert_problem(&resp, resp.status, slug_of(resp.status));
    }
    let health = api.get("/healthz").send();
    assert_json_eq(
        &health,
        &health.expect_json(200),
        &json!({"status": "ok"}),
        "the server still answers",
    );
    create(api, "/cats", &json!({"name": "After the deep dive"}));
}

fn slug_of(status: u16) -> &'static str {
    match status {
        400 => "bad-request",
        413 => "content-too-large",
        415 => "unsupported-media-type",
        422 => "validation-error",
        _ => "(a 400, 413 or 422 problem)",
    }
}

fn default_limit_is_one_mebibyte(ctx: &Ctx) {
    let api = ctx.api();
    let color = tag("mib");
    let resp = api
        .post("/cats")
        .content_type("application/json")
        .body(cat_of_size(&color, MIB))
        .send();
    resp.expect(201);
    let resp = api
        .post("/cats")
        .content_type("application/json")
        .body(cat_of_size(&color, MIB + 1))
        .send();
    assert_problem(&resp, 413, "content-too-large");
    let page = list(api, &format!("/cats?color={color}"));
    page.resp
        .check(page.total == 1, "only the 1 MiB cat was stored");
    // The server still answers afterwards.
    api.get("/healthz").send().expect(200);
}

fn configured_limit_applies_to_every_write(ctx: &Ctx) {
    let api = ctx.api_on(ServerKind::SmallBody);
    let color = tag("small");
    let resp = api
        .post("/cats")
        .content_type("application/json")
        .body(cat_of_size(&color, SMALL_BODY_LIMIT))
        .send();
    let cat = resp.expect_json(201);
    let path = format!("/cats/{}", cat["id"].as_str().unwrap());
    let over = cat_of_size(&color, SMALL_BODY_LIMIT + 1);
    assert_problem(
        &api.post("/cats")
            .content_type("application/json")
            .body(over.clone())
            .send(),
        413,
        "content-too-large",
    );
    assert_problem(
        &api.put(&path)
            .content_type("application/json")
            .body(over.clone())
            .send(),
        413,
        "content-too-large",
    );
    assert_problem(
        &api.patch(&path)
            .content_type("application/json")
            .body(over.clone())
            .send(),
        413,
        "content-too-large",
    );
    let mut csv =
        b"Survived,Pclass,Name,Sex,Age,Siblings/Spouses Aboard,Parents/Children Aboard,Fare\n"
            .to_vec();
    while csv.len() <= SMALL_BODY_LIMIT {
        csv.extend_from_slice(b"1,1,Limit Test,male,30,0,0,10\n");
    }
    assert_problem(
        &api.post("/passengers")
            .content_type("text/csv")
            .body(csv)
            .send(),
        413,
        "content-too-large",
    );
    let page = list(api, &format!("/cats?color={color}"));
    page.resp
        .check(page.total == 1, "only the cat at the limit was stored");
    let resp = api
        .put(&path)
        .content_type("application/json")
        .body(cat_of_size(&color, SMALL_BODY_LIMIT))
        .send();
    resp.expect(200);
}

fn chunked_bodies_are_limited_too(ctx: &Ctx) {
    let api = ctx.api_on(ServerKind::SmallBody);
    let color = tag("chunked");
    let ok = api
        .post("/cats")
        .content_type("application/json")
        .body(cat_of_size(&color, SMALL_BODY_LIMIT))
        .chunked()
        .send();
    ok.expect(201);
    let over = api
        .post("/cats")
        .content_type("application/json")
        .body(cat_of_size(&color, SMALL_BODY_LIMIT + 1))
        .chunked()
        .send();
    assert_problem(&over, 413, "content-too-large");
    let big = api
        .post("/cats")
        .content_type("application/json")
        .body(cat_of_size(&color, 4 * MIB))
        .chunked()
        .send();
    assert_problem(&big, 413, "content-too-large");
    let page = list(api, &format!("/cats?color={color}"));
    page.resp
        .check(page.total == 1, "only the cat at the limit was stored");
}

fn non_object_bodies_are_422_at_the_root(ctx: &Ctx) {
    let api = ctx.api();
    let path = a_cat(ctx);
    let before = get_json(api, &path);
    for text in ["42", "\"Tom\"", "null", "true"] {
        assert_invalid(&api.post("/cats").json_text(text).send(), "");
        assert_invalid(&api.put(&path).json_text(text).send(), "");
    }
    let color = tag("root");
    let bulk = format!(r#"[{{"name":"ok","color":"{color}"}},7]"#);
    assert_invalid(&api.post("/cats").json_text(&bulk).send(), "[1]");
    let page = list(api, &format!("/cats?color={color}"));
    page.resp.check(page.total == 0, "nothing stored");
    assert_eq!(
        get_json(api, &path),
        before,
        "rejected writes change nothing"
    );
}
