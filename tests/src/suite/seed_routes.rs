//! The seed service's routes behave exactly like the canonical ones.

use super::resources::passenger;
use super::support::*;
use super::tests;
use crate::harness::Ctx;

pub const TESTS: super::Plain = tests![
    hello,
    postpassenger_creates_like_post_passengers,
    getpassenger_equals_get_passenger,
    putpassenger_replaces,
    deletepassenger_deletes,
    passengerlist_takes_the_list_parameters,
];

fn hello(ctx: &Ctx) {
    let resp = ctx.api().get("/hello").send();
    assert_json_eq(
        &resp,
        &resp.expect_json(200),
        &json!({"message": "Hello from spincrud!"}),
        "GET /hello",
    );
}

fn postpassenger_creates_like_post_passengers(ctx: &Ctx) {
    let api = ctx.api();
    let body = passenger(&format!("Seed {}", tag("seed")));
    let resp = api.post("/postpassenger").json(&body).send();
    let created = resp.expect_json(201);
    let id = created["id"].as_str().unwrap_or("");
    resp.check(is_uuid_v4(id), "id is a UUID v4");
    resp.check(
        resp.header("location") == Some(format!("/passengers/{id}").as_str()),
        "Location is /passengers/{id}",
    );
    etag(&resp);
    for (k, v) in body.as_object().unwrap() {
        assert_json_eq(&resp, &created[k], v, k);
    }
    let canonical = api.get(&format!("/passengers/{id}")).send();
    assert_json_eq(
        &canonical,
        &canonical.expect_json(200),
        &created,
        "readable at /passengers/{id}",
    );
    // Same validation, same bulk behaviour.
    assert_invalid(
        &api.post("/postpassenger")
            .json(&with(&body, json!({"passengerClass": 4})))
            .send(),
        "passengerClass",
    );
    let bad_bulk = json!([body.clone(), with(&body, json!({"sex": "x"}))]);
    assert_invalid(
        &api.post("/postpassenger").json(&bad_bulk).send(),
        "[1].sex",
    );
    assert_problem(
        &api.post("/postpassenger")
            .content_type("text/plain")
            .body("x")
            .send(),
        415,
        "unsupported-media-type",
    );
}

fn getpassenger_equals_get_passenger(ctx: &Ctx) {
    let api = ctx.api();
    let created = create(
        api,
        "/passengers",
        &passenger(&format!("Seed {}", tag("seed"))),
    );
    let id = created["id"].as_str().unwrap();
    let seed = api.get(&format!("/getpassenger/{id}")).send();
    let canonical = api.get(&format!("/passengers/{id}")).send();
    assert_json_eq(
        &seed,
        &seed.expect_json(200),
        &canonical.expect_json(200),
        "same body as /passengers/{id}",
    );
    seed.check(
        etag(&seed) == etag(&canonical),
        "same ETag as /passengers/{id}",
    );
    let not_modified = api
        .get(&format!("/getpassenger/{id}"))
        .if_none_match(&etag(&seed))
        .send();
    not_modified.expect(304);
    assert_not_found(&api.get(&format!("/getpassenger/{}", random_uuid())).send());
    assert_not_found(&api.get("/getpassenger/not-a-uuid").send());
}

fn putpassenger_replaces(ctx: &Ctx) {
    let api = ctx.api();
    let name = format!("Seed {}", tag("seed"));
    let created = create(api, "/passengers", &passenger(&name));
    let id = created["id"].as_str().unwrap();
    let mut replacement = passenger(&name);
    replacement["fare"] = json!(99.5);
    replacement["survived"] = json!(false);
    let resp = api
        .put(&format!("/putpassenger/{id}"))
        .json(&replacement)
        .send();
    let put = resp.expect_json(200);
    for (k, v) in replacement.as_object().unwrap() {
        assert_json_eq(&resp, &put[k], v, k);
    }
    let canonical = api.get(&format!("/passengers/{id}")).send();
    assert_json_eq(
        &canonical,
        &canonical.expect_json(200),
        &put,
        "the canonical route sees the replacement",
    );
    assert_invalid(
        &api.put(&format!("/putpassenger/{id}"))
            .json(&json!({"name": "x"}))
            .send(),
        "survived",
    );
    assert_problem(
        &api.put(&format!("/putpassenger/{id}"))
            .if_match("\"0123456789abcdef0123456789abcdef\"")
            .json(&replacement)
            .send(),
        412,
        "precondition-failed",
    );
    assert_not_found(
        &api.put(&format!("/putpassenger/{}", random_uuid()))
            .json(&replacement)
            .send(),
    );
    assert_not_found(
        &api.put("/putpassenger/not-a-uuid")
            .json(&replacement)
            .send(),
    );
}

fn deletepassenger_deletes(ctx: &Ctx) {
    let api = ctx.api();
    let created = create(
        api,
        "/passengers",
        &passenger(&format!("Seed {}", tag("seed"))),
    );
    let id = created["id"].as_str().unwrap();
    let resp = api.delete(&format!("/deletepassenger/{id}")).send();
    resp.expect(204);
    resp.check(resp.body.is_empty(), "204 has no body");
    assert_not_found(&api.get(&format!("/passengers/{id}")).send());
    assert_not_found(&api.get(&format!("/getpassenger/{id}")).send());
    assert_not_found(&api.delete(&format!("/deletepassenger/{id}")).send());
    assert_not_found(&api.delete("/deletepassenger/not-a-uuid").send());
}

fn passengerlist_takes_the_list_parameters(ctx: &Ctx) {
    let api = ctx.api();
    // A fare no other test uses groups this test's passengers.
    let t = tag("seedlist");
    let fare = 5000.5 + t.len() as f64 * 1000.0 + t.bytes().map(f64::from).sum::<f64>();
    for i in 0..3 {
        let mut p = passenger(&format!("Seedlist {t} {i}"));
        p["fare"] = json!(fare);
        p["parentsOrChildrenAboard"] = json!(i);
        create(api, "/passengers", &p);
    }
    for query in [
        format!("fare={fare}"),
        format!("fare={fare}&limit=2"),
        format!("fare={fare}&order=parentsOrChildrenAboard.desc&offset=1"),
    ] {
        let seed = list(api, &format!("/passengerlist?{query}"));
        let canonical = list(api, &format!("/passengers?{query}"));
        let same = seed.items == canonical.items
            && seed.total == canonical.total
            && seed.next.is_some() == canonical.next.is_some();
        seed.resp
            .check(same, &format!("same answer as /passengers?{query}"));
        seed.resp.check(seed.total == 3, "X-Total-Count 3");
    }
    let first = list(api, &format!("/passengerlist?fare={fare}&limit=2"));
    first.resp.check(
        pluck(&first.items, "parentsOrChildrenAboard") == ["0", "1"],
        "creation order, first page",
    );
    let next = first
        .next
        .clone()
        .unwrap_or_else(|| panic!("Link rel=\"next\" expected\n{}", first.resp.describe()));
    let second = list(api, &next);
    second.resp.check(
        pluck(&second.items, "parentsOrChildrenAboard") == ["2"] && second.next.is_none(),
        "following Link gives the rest",
    );
    assert_bad_request(&api.get("/passengerlist?limit=abc").send());
    assert_bad_request(&api.get("/passengerlist?order=nope.asc").send());
}
