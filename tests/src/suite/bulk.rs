//! `POST /<resource>` with a JSON array: one transaction, all or nothing.

use serde_json::Value;

use super::resource_tests;
use super::resources::Resource;
use super::support::*;
use crate::harness::Ctx;

pub const TESTS: super::PerResource = resource_tests![
    array_creates_all_items,
    one_invalid_item_stores_nothing,
    empty_array_creates_nothing
];

fn array_creates_all_items(ctx: &Ctx, r: &'static Resource) {
    let tags: Vec<String> = (0..3).map(|_| tag(r.name)).collect();
    let bodies: Vec<Value> = tags.iter().map(|t| (r.sample)(t)).collect();
    let resp = ctx
        .api()
        .post(r.path)
        .json(&Value::Array(bodies.clone()))
        .send();
    let created = resp.expect_json(201);
    let items = created
        .as_array()
        .unwrap_or_else(|| panic!("a bulk create answers with an array\n{}", resp.describe()));
    resp.check(items.len() == 3, "one answer item per created item");
    resp.check(
        resp.header("location").is_none(),
        "bulk creates have no Location",
    );
    for (item, body) in items.iter().zip(&bodies) {
        resp.check(
            keys(item) == r.fields,
            &format!("representation keys should be {:?}", r.fields),
        );
        for (k, v) in body.as_object().unwrap() {
            assert_json_eq(
                &resp,
                &item[k],
                v,
                &format!("field {k} of each item, in request order"),
            );
        }
        let got = ctx.api().get(&r.item_path(item)).send();
        assert_json_eq(
            &got,
            &got.expect_json(200),
            item,
            "each created item can be read back",
        );
    }
}

fn one_invalid_item_stores_nothing(ctx: &Ctx, r: &'static Resource) {
    let tags: Vec<String> = (0..3).map(|_| tag(r.name)).collect();
    let (invalid, field) = (r.invalid_item)(&tags[1]);
    let body = Value::Array(vec![(r.sample)(&tags[0]), invalid, (r.sample)(&tags[2])]);
    assert_invalid(
        &ctx.api().post(r.path).json(&body).send(),
        &format!("[1].{field}"),
    );
    for t in [&tags[0], &tags[2]] {
        let page = list(ctx.api(), &r.list_target(t));
        page.resp.check(
            page.total == 0 && page.items.is_empty(),
            "a failed bulk create stores nothing",
        );
    }
}

fn empty_array_creates_nothing(ctx: &Ctx, r: &'static Resource) {
    let resp = ctx.api().post(r.path).json(&serde_json::json!([])).send();
    assert_json_eq(
        &resp,
        &resp.expect_json(201),
        &serde_json::json!([]),
        "[] answers 201 []",
    );
}
