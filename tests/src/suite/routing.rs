//! Routes: unknown paths, wrong methods (405 + Allow), request ids.

use std::collections::BTreeSet;

use super::support::*;
use super::tests;
use crate::harness::Ctx;

pub const TESTS: super::Plain = tests![
    unknown_routes_are_404,
    wrong_methods_are_405_with_allow,
    request_id_is_echoed_or_generated
];

/// Every route of api.md with its methods (HEAD is implied wherever GET is).
pub const ROUTES: &[(&str, &[&str])] = &[
    ("/cats", &["GET", "POST"]),
    ("/cats/{id}", &["GET", "PUT", "PATCH", "DELETE"]),
    ("/passengers", &["GET", "POST"]),
    ("/passengers/{id}", &["GET", "PUT", "PATCH", "DELETE"]),
    ("/configs", &["GET", "POST"]),
    ("/configs/{dcname}", &["GET", "PUT", "PATCH", "DELETE"]),
    ("/search", &["GET"]),
    ("/data", &["GET", "POST", "DELETE"]),
    ("/data/{id}", &["GET", "DELETE"]),
    ("/users", &["GET", "POST"]),
    ("/users/{id}", &["GET", "PUT", "PATCH", "DELETE"]),
    ("/hello", &["GET"]),
    ("/passengerlist", &["GET"]),
    ("/getpassenger/{id}", &["GET"]),
    ("/postpassenger", &["POST"]),
    ("/putpassenger/{id}", &["PUT"]),
    ("/deletepassenger/{id}", &["DELETE"]),
    ("/healthz", &["GET"]),
    ("/readyz", &["GET"]),
    ("/openapi.json", &["GET"]),
];

fn unknown_routes_are_404(ctx: &Ctx) {
    let api = ctx.api();
    let id = random_uuid();
    for target in [
        "/nope",
        "/cats/",
        "/api/cats",
        &format!("/cats/{id}/extra"),
        "/CATS",
        "/search/",
        "/healthz/x",
        "/",
    ] {
        assert_not_found(&api.get(target).send());
    }
    assert_not_found(&api.post("/nope").json(&json!({})).send());
    assert_not_found(&api.delete("/nope/deeper").send());
}

fn wrong_methods_are_405_with_allow(ctx: &Ctx) {
    let api = ctx.api();
    let id = random_uuid();
    for (template, methods) in ROUTES {
        let path = template.replace("{id}", &id).replace("{dcname}", "some-dc");
        let expected: BTreeSet<&str> = methods
            .iter()
            .copied()
            .chain(methods.contains(&"GET").then_some("HEAD"))
            .collect();
        for wrong in ["GET", "POST", "PUT", "PATCH", "DELETE"]
            .into_iter()
            .filter(|m| !expected.contains(m))
        {
            let mut req = api.request(wrong, &path);
            if matches!(wrong, "POST" | "PUT" | "PATCH") {
                req = req.json(&json!({}));
            }
            let resp = req.send();
            assert_problem(&resp, 405, "method-not-allowed");
            let allow: BTreeSet<&str> = resp
                .header("allow")
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            resp.check(
                allow == expected,
                &format!("Allow should list exactly {expected:?}"),
            );
        }
    }
}

fn request_id_is_echoed_or_generated(ctx: &Ctx) {
    let api = ctx.api();
    let mine = tag("req");
    for req in [
        api.get("/healthz"),
        api.get("/nope"),
        api.post("/cats").json(&json!({"name": ""})),
        api.get("/cats?limit=1"),
    ] {
        let resp = req.header("x-request-id", &mine).send();
        resp.check(
            resp.header("x-request-id") == Some(mine.as_str()),
            "x-request-id is echoed",
        );
    }
    for req in [
        api.get("/healthz"),
        api.get("/nope"),
        api.post("/cats").json(&json!({"name": ""})),
    ] {
        let resp = req.send();
        let generated = resp.header("x-request-id").unwrap_or("");
        resp.check(is_uuid(generated), "a generated x-request-id is a UUID");
    }
    let (a, b) = (api.get("/healthz").send(), api.get("/healthz").send());
    a.check(
        a.header("x-request-id") != b.header("x-request-id"),
        "generated request ids differ",
    );
}
