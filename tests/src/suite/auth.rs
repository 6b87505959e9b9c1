//! Bearer tokens for writes (`auth` server) and for reads too (`auth_reads` server).

use super::resources::{config, passenger};
use super::support::*;
use super::tests;
use crate::harness::http::{Request, Response};
use crate::harness::{Api, Ctx, ServerKind, TOKENS};

pub const TESTS: super::Plain = tests![
    writes_need_a_valid_token,
    either_token_works,
    every_write_route_needs_a_token,
    auth_is_checked_before_the_body,
    reads_are_public_without_auth_reads,
    auth_reads_guards_reads,
    operations_stay_public_with_auth_reads,
    tokens_are_never_logged,
];

#[track_caller]
fn assert_unauthorized(resp: &Response) {
    assert_problem(resp, 401, "unauthorized");
    let challenge = resp.header("www-authenticate").unwrap_or("");
    resp.check(
        challenge.split_whitespace().next() == Some("Bearer"),
        "401 carries WWW-Authenticate: Bearer",
    );
}

/// Bad `Authorization` values (and none).
fn bad_credentials(req: impl Fn() -> Request) -> Vec<Response> {
    let mut answers = vec![req().without_header("Authorization").send()];
    for value in [
        "Bearer wrong".to_string(),
        "Bearer ".to_string(),
        format!("Bearer {}x", TOKENS[0]),
        format!("Bearer {}", &TOKENS[0][..TOKENS[0].len() - 1]),
        format!("Bearer {}", TOKENS.join(",")),
        format!("Basic {}", TOKENS[0]),
        TOKENS[0].to_string(),
    ] {
        answers.push(req().header("Authorization", &value).send());
    }
    answers
}

fn writes_need_a_valid_token(ctx: &Ctx) {
    let api = ctx.api_on(ServerKind::Auth);
    let authed = api.token(TOKENS[0]);
    let color = tag("auth");
    for resp in bad_credentials(|| {
        api.post("/cats")
            .json(&json!({"name": "Sneaky", "color": color}))
    }) {
        assert_unauthorized(&resp);
    }
    let page = list(api, &format!("/cats?color={color}"));
    page.resp
        .check(page.total == 0, "rejected writes store nothing");

    let cat = create(authed, "/cats", &json!({"name": "Owned", "color": color}));
    let path = format!("/cats/{}", cat["id"].as_str().unwrap());
    for resp in bad_credentials(|| api.put(&path).json(&json!({"name": "Changed"}))) {
        assert_unauthorized(&resp);
    }
    for resp in bad_credentials(|| api.patch(&path).json(&json!({"name": "Changed"}))) {
        assert_unauthorized(&resp);
    }
    for resp in bad_credentials(|| api.delete(&path)) {
        assert_unauthorized(&resp);
    }
    let got = api.get(&path).send();
    assert_json_eq(
        &got,
        &got.expect_json(200),
        &cat,
        "rejected writes change nothing",
    );
}

fn either_token_works(ctx: &Ctx) {
    let api = ctx.api_on(ServerKind::Auth);
    let (one, two) = (api.token(TOKENS[0]), api.token(TOKENS[1]));
    let cat = create(
        two,
        "/cats",
        &json!({"name": "Shared", "color": tag("either")}),
    );
    let path = format!("/cats/{}", cat["id"].as_str().unwrap());
    one.put(&path)
        .json(&json!({"name": "Shared II"}))
        .send()
        .expect(200);
    two.patch(&path).json(&json!({"age": 4})).send().expect(200);
    one.delete(&path).send().expect(204);
    assert_not_found(&two.get(&path).send());
}

fn every_write_route_needs_a_token(ctx: &Ctx) {
    let api = ctx.api_on(ServerKind::Auth);
    let authed = api.token(TOKENS[1]);
    let t = tag("routes");
    let cat = create(authed, "/cats", &json!({"name": "Guarded"}));
    let p = create(authed, "/passengers", &passenger(&format!("Guarded {t}")));
    let user = create(
        authed,
        "/users",
        &json!({"username": t, "email": format!("{t}@example.com")}),
    );
    create(authed, "/configs", &config(&t, &t));
    let (cat_id, p_id, user_id) = (
        cat["id"].as_str().unwrap(),
        p["id"].as_str().unwrap(),
        user["id"].as_str().unwrap(),
    );
    let csv = "Survived,Pclass,Name,Sex,Age,Siblings/Spouses Aboard,Parents/Children Aboard,Fare\n1,1,Csv Guarded,male,30,0,0,10\n";
    let requests: Vec<Request> = vec![
        api.post("/cats").json(&json!({"name": "x"})),
        api.put(&format!("/cats/{cat_id}"))
            .json(&json!({"name": "x"})),
        api.patch(&format!("/cats/{cat_id}"))
            .json(&json!({"name": "x"})),
        api.delete(&format!("/cats/{cat_id}")),
        api.post("/passengers").json(&passenger("x")),
        api.post("/passengers").content_type("text/csv").body(csv),
        api.put(&format!("/passengers/{p_id}"))
            .json(&passenger("x")),
        api.patch(&format!("/passengers/{p_id}"))
            .json(&json!({"fare": 1.0})),
        api.delete(&format!("/passengers/{p_id}")),
        api.post("/postpassenger").json(&passenger("x")),
        api.put(&format!("/putpassenger/{p_id}"))
            .json(&passenger("x")),
        api.delete(&format!("/deletepassenger/{p_id}")),
        api.post("/configs").json(&config(&format!("{t}-x"), &t)),
        api.put(&format!("/configs/{t}")).json(&config(&t, "x")),
        api.patch(&format!("/configs/{t}"))
            .json(&json!({"metadata": {"x": 1}})),
        api.delete(&format!("/configs/{t}")),
        api.post("/users")
            .json(&json!({"username": format!("{t}x"), "email": "x@example.com"})),
        api.put(&format!("/users/{user_id}"))
            .json(&json!({"username": t, "email": "y@example.com"})),
        api.patch(&format!("/users/{user_id}"))
            .json(&json!({"email": "z@example.com"})),
        api.delete(&format!("/users/{user_id}")),
        api.post("/data"),
        api.post("/data").json(&json!([{"id": format!("{t}-m")}])),
        api.delete("/data"),
        api.delete(&format!("/data/{t}-m")),
    ];
    for req in requests {
        assert_unauthorized(&req.send());
    }
    // Everything is still there.
    for path in [
        format!("/cats/{cat_id}"),
        format!("/passengers/{p_id}"),
        format!("/users/{user_id}"),
        format!("/configs/{t}"),
    ] {
        api.get(&path).send().expect(200);
    }
}

fn auth_is_checked_before_the_body(ctx: &Ctx) {
    let api = ctx.api_on(ServerKind::Auth);
    assert_unauthorized(&api.post("/cats").json(&json!({"name": ""})).send());
    assert_unauthorized(&api.post("/cats").json_text("{not json").send());
    assert_unauthorized(
        &api.post("/cats")
            .content_type("text/plain")
            .body("x")
            .send(),
    );
}

fn reads_are_public_without_auth_reads(ctx: &Ctx) {
    let api = ctx.api_on(ServerKind::Auth);
    let cat = create(api.token(TOKENS[0]), "/cats", &json!({"name": "Public"}));
    let path = format!("/cats/{}", cat["id"].as_str().unwrap());
    for target in [
        path.as_str(),
        "/cats",
        "/passengers",
        "/passengerlist",
        "/configs",
        "/search",
        "/users",
        "/data",
        "/hello",
    ] {
        api.get(target).send().expect(200);
    }
    api.head(&path).send().expect(200);
}

fn auth_reads_guards_reads(ctx: &Ctx) {
    let api = ctx.api_on(ServerKind::AuthReads);
    let authed = api.token(TOKENS[0]);
    let cat = create(authed, "/cats", &json!({"name": "Private"}));
    let path = format!("/cats/{}", cat["id"].as_str().unwrap());
    let p = create(
        authed,
        "/passengers",
        &passenger(&format!("Private {}", tag("priv"))),
    );
    let targets = [
        path.clone(),
        "/cats".to_string(),
        "/passengers".to_string(),
        "/passengerlist".to_string(),
        format!("/getpassenger/{}", p["id"].as_str().unwrap()),
        "/configs".to_string(),
        "/search".to_string(),
        "/users".to_string(),
        "/data".to_string(),
    ];
    for target in &targets {
        for resp in bad_credentials(|| api.get(target)) {
            assert_unauthorized(&resp);
        }
        api.token(TOKENS[1]).get(target).send().expect(200);
    }
    let head = api.head(&path).send();
    head.expect(401);
    head.check(
        head.header("www-authenticate")
            .is_some_and(|v| v.starts_with("Bearer")),
        "HEAD 401 carries WWW-Authenticate",
    );
    authed.head(&path).send().expect(200);
    let got = authed.get(&path).send();
    assert_json_eq(
        &got,
        &got.expect_json(200),
        &cat,
        "with a token the item reads as usual",
    );
    assert_unauthorized(&api.post("/cats").json(&json!({"name": "x"})).send());
}

fn operations_stay_public_with_auth_reads(ctx: &Ctx) {
    let api: Api = ctx.api_on(ServerKind::AuthReads);
    for target in ["/healthz", "/readyz", "/openapi.json", "/hello"] {
        api.get(target).send().expect(200);
    }
    // host-runner's metrics need no token either; on Spin there is no such route, and an
    // unknown route is a 404 for anyone.
    let metrics = api.get("/metrics").send();
    if ctx.engine.is_host_runner() {
        metrics.expect(200);
    } else {
        assert_not_found(&metrics);
    }
}

fn tokens_are_never_logged(ctx: &Ctx) {
    let wrong = format!("wrong-{}", tag("secret"));
    for kind in [ServerKind::Auth, ServerKind::AuthReads] {
        let server = ctx.server(kind);
        let api = server.api();
        create(api.token(TOKENS[0]), "/cats", &json!({"name": "Logged?"}));
        api.token(TOKENS[1]).get("/cats?limit=1").send().expect(200);
        assert_unauthorized(
            &api.post("/cats")
                .bearer(&wrong)
                .json(&json!({"name": "x"}))
                .send(),
        );
        assert_unauthorized(
            &api.delete(&format!("/cats/{}", random_uuid()))
                .bearer(&wrong)
                .send(),
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
        let log = server.log_text();
        assert!(
            log.contains(server.ready_line()),
            "the server log of `{}` should be readable",
            server.name
        );
        for secret in [TOKENS[0], TOKENS[1], wrong.as_str()] {
            if let Some(line) = log.lines().find(|l| l.contains(secret)) {
                panic!(
                    "server `{}` logged a token ({secret}):\n{line}",
                    server.name
                );
            }
        }
    }
}
