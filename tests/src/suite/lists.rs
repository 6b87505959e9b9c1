//! List conventions (shown on cats; search and passenger lists reuse them): order, paging,
//! `X-Total-Count`, `Link rel="next"`, filters and bad parameters.

use serde_json::Value;

use super::support::*;
use super::tests;
use crate::harness::{Api, Ctx};

pub const TESTS: super::Plain = tests![
    default_order_is_creation_order,
    paging_with_link_next,
    limit_bounds,
    offset_bounds,
    bad_or_repeated_parameters_are_400,
    order_asc_desc_and_ties,
    invalid_order_is_400,
    filters_on_scalar_fields,
    filters_compare_typed_values,
    empty_result,
    head_on_a_list,
    unfiltered_totals_stay_exact_through_writes,
    count_none_skips_the_total_and_keeps_the_link,
    default_limit_is_100,
];

/// Creates `n` cats one by one with color `color`, names `<color>-<i>`; returns them.
pub fn cats_in_order(api: Api, color: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            create(
                api,
                "/cats",
                &json!({"name": format!("{color}-{i}"), "color": color, "age": i % 5}),
            )
        })
        .collect()
}

fn names(items: &[Value]) -> Vec<String> {
    pluck(items, "name")
}

fn default_order_is_creation_order(ctx: &Ctx) {
    let color = tag("order");
    let cats = cats_in_order(ctx.api(), &color, 5);
    let page = list(ctx.api(), &format!("/cats?color={color}"));
    page.resp.check(
        names(&page.items) == names(&cats),
        &format!("default order is creation order: {:?}", names(&cats)),
    );
    page.resp.check(page.total == 5, "X-Total-Count is 5");
    page.resp
        .check(page.next.is_none(), "no Link when nothing remains");
    assert_json_eq(
        &page.resp,
        &Value::Array(page.items.clone()),
        &Value::Array(cats),
        "list items are full representations",
    );
}

fn paging_with_link_next(ctx: &Ctx) {
    let color = tag("page");
    let cats = cats_in_order(ctx.api(), &color, 5);
    let all = names(&cats);
    let first = list(ctx.api(), &format!("/cats?color={color}&limit=2"));
    first
        .resp
        .check(names(&first.items) == all[0..2], "first page");
    first.resp.check(
        first.total == 5,
        "X-Total-Count counts matches before paging",
    );
    let next = first
        .next
        .clone()
        .unwrap_or_else(|| panic!("Link rel=\"next\" expected\n{}", first.resp.describe()));
    first.resp.check(
        next.starts_with("/cats?"),
        "Link target is a relative reference to /cats",
    );
    for part in [format!("color={color}"), "limit=2".to_string()] {
        first.resp.check(
            next.split(['?', '&']).any(|p| p == part),
            &format!("Link target should carry {part}"),
        );
    }
    first.resp.check(
        next.split(['?', '&']).any(|p| p.starts_with("cursor=")) && !next.contains("offset="),
        "Link target carries a cursor in place of an offset",
    );
    let second = list(ctx.api(), &next);
    second.resp.check(
        names(&second.items) == all[2..4],
        "following Link gives the next page",
    );
    second
        .resp
        .check(second.total == 5, "X-Total-Count on the second page");
    let third_target = second
        .next
        .clone()
        .unwrap_or_else(|| panic!("Link rel=\"next\" expected\n{}", second.resp.describe()));
    let third = list(ctx.api(), &third_target);
    third
        .resp
        .check(names(&third.items) == all[4..5], "last page");
    third
        .resp
        .check(third.next.is_none(), "no Link on the last page");

    let exact = list(ctx.api(), &format!("/cats?color={color}&limit=5"));
    exact.resp.check(
        exact.items.len() == 5 && exact.next.is_none(),
        "limit = total: all items, no Link",
    );
    let offset = list(ctx.api(), &format!("/cats?color={color}&offset=3"));
    offset.resp.check(
        names(&offset.items) == all[3..5] && offset.next.is_none(),
        "offset=3 without limit",
    );
    let middle = list(ctx.api(), &format!("/cats?color={color}&offset=1&limit=3"));
    middle
        .resp
        .check(names(&middle.items) == all[1..4], "offset=1&limit=3");
    let link = middle
        .next
        .clone()
        .unwrap_or_else(|| panic!("Link rel=\"next\" expected\n{}", middle.resp.describe()));
    middle.resp.check(
        link.contains("cursor=") && !link.contains("offset="),
        "Link continues by cursor after an offset",
    );
    let after_middle = list(ctx.api(), &link);
    after_middle.resp.check(names(&after_middle.items) == all[4..5], "following it gives the rest");
}

fn limit_bounds(ctx: &Ctx) {
    let color = tag("limit");
    cats_in_order(ctx.api(), &color, 3);
    let zero = list(ctx.api(), &format!("/cats?color={color}&limit=0"));
    zero.resp.check(
        zero.items.is_empty() && zero.total == 3,
        "limit=0: no items, X-Total-Count 3",
    );
    let max = list(ctx.api(), &format!("/cats?color={color}&limit=1000"));
    max.resp.check(
        max.items.len() == 3 && max.total == 3,
        "limit=1000 is allowed",
    );
    let one = list(ctx.api(), &format!("/cats?color={color}&limit=1"));
    one.resp.check(
        one.items.len() == 1 && one.next.is_some(),
        "limit=1: one item and a Link",
    );
    for bad in ["1001", "-1", "abc", "", "1.5", "1e2", "%201"] {
        assert_bad_request(
            &ctx.api()
                .get(&format!("/cats?color={color}&limit={bad}"))
                .send(),
        );
    }
}

fn offset_bounds(ctx: &Ctx) {
    let color = tag("offset");
    cats_in_order(ctx.api(), &color, 3);
    let at_end = list(ctx.api(), &format!("/cats?color={color}&offset=3"));
    at_end.resp.check(
        at_end.items.is_empty() && at_end.total == 3 && at_end.next.is_none(),
        "offset=total: empty, total 3, no Link",
    );
    let beyond = list(ctx.api(), &format!("/cats?color={color}&offset=100"));
    beyond.resp.check(
        beyond.items.is_empty() && beyond.total == 3,
        "offset beyond the end: empty",
    );
    let zero = list(ctx.api(), &format!("/cats?color={color}&offset=0"));
    zero.resp.check(zero.items.len() == 3, "offset=0");
    for bad in ["-1", "abc", "", "1.5"] {
        assert_bad_request(
            &ctx.api()
                .get(&format!("/cats?color={color}&offset={bad}"))
                .send(),
        );
    }
}

fn bad_or_repeated_parameters_are_400(ctx: &Ctx) {
    for target in [
        "/cats?nope=1",
        "/cats?limit=1&limit=2",
        "/cats?offset=0&offset=0",
        "/cats?color=a&color=b",
        "/cats?order=name.asc&order=age.asc",
        "/cats?createdat=x",
        "/passengers?nope=1",
        "/users?nope=1",
        "/configs?nope=1",
        "/passengerlist?nope=1",
    ] {
        assert_bad_request(&ctx.api().get(target).send());
    }
}

fn order_asc_desc_and_ties(ctx: &Ctx) {
    let api = ctx.api();
    let color = tag("sort");
    for (name, age) in [("b", 5), ("d", 1), ("a", 3), ("c", 1)] {
        create(
            api,
            "/cats",
            &json!({"name": name, "age": age, "color": color}),
        );
    }
    let order = |o: &str| names(&list(api, &format!("/cats?color={color}&order={o}")).items);
    assert_eq!(order("name.asc"), ["a", "b", "c", "d"], "order=name.asc");
    assert_eq!(order("name.desc"), ["d", "c", "b", "a"], "order=name.desc");
    assert_eq!(
        order("age.asc"),
        ["d", "c", "a", "b"],
        "order=age.asc (ties by creation order)"
    );
    assert_eq!(order("age.desc")[..2], ["b", "a"], "order=age.desc");
    assert_eq!(
        order("createdAt.asc"),
        ["b", "d", "a", "c"],
        "order=createdAt.asc"
    );
    assert_eq!(
        order("createdAt.desc"),
        ["c", "a", "d", "b"],
        "order=createdAt.desc"
    );
    assert_eq!(
        order("updatedAt.asc"),
        ["b", "d", "a", "c"],
        "order=updatedAt.asc"
    );
    let paged = list(api, &format!("/cats?color={color}&order=name.desc&limit=2"));
    assert_eq!(names(&paged.items), ["d", "c"], "order with limit");
    let next = paged
        .next
        .unwrap_or_else(|| panic!("Link expected\n{}", paged.resp.describe()));
    assert!(
        next.contains("order=name.desc"),
        "Link keeps the order parameter: {next}"
    );
    assert_eq!(
        names(&list(api, &next).items),
        ["b", "a"],
        "following Link keeps the order"
    );
}

fn invalid_order_is_400(ctx: &Ctx) {
    for bad in [
        "nope.asc",
        "age.up",
        "age",
        "age.",
        ".asc",
        "age.ASC.x",
        "",
        "metadata.asc",
    ] {
        assert_bad_request(&ctx.api().get(&format!("/cats?order={bad}")).send());
    }
}

fn filters_on_scalar_fields(ctx: &Ctx) {
    let api = ctx.api();
    let color = tag("filter");
    let breed = tag("breed");
    create(
        api,
        "/cats",
        &json!({"name": "Tom Cat", "age": 3, "color": color, "breed": breed}),
    );
    create(
        api,
        "/cats",
        &json!({"name": "Felix", "age": 4, "color": color, "breed": breed}),
    );
    create(
        api,
        "/cats",
        &json!({"name": "Tom Cat", "age": 4, "color": color}),
    );
    let count = |q: &str| {
        let p = list(api, &format!("/cats?color={color}&{q}"));
        p.resp.check(
            p.total == p.items.len() as u64,
            "X-Total-Count equals the item count here",
        );
        p.items.len()
    };
    assert_eq!(count("age=3"), 1, "age=3");
    assert_eq!(count("age=4"), 2, "age=4");
    assert_eq!(count(&format!("breed={breed}")), 2, "breed=");
    assert_eq!(
        count(&format!("name={}", enc("Tom Cat"))),
        2,
        "name= (percent-encoded space)"
    );
    assert_eq!(
        count(&format!("name={}&age=4", enc("Tom Cat"))),
        1,
        "filters combine with AND"
    );
    assert_eq!(count("age=40"), 0, "no match");
    assert_eq!(
        list(api, &format!("/cats?breed={breed}")).items.len(),
        2,
        "a filter alone"
    );
}

fn filters_compare_typed_values(ctx: &Ctx) {
    let api = ctx.api();
    let name = format!("Passenger {}", tag("typed"));
    let mut body = super::resources::passenger(&name);
    body["survived"] = json!(false);
    body["passengerClass"] = json!(2);
    create(api, "/passengers", &body);
    let count = |q: &str| {
        list(api, &format!("/passengers?name={}&{q}", enc(&name)))
            .items
            .len()
    };
    assert_eq!(count("survived=false"), 1, "survived=false");
    assert_eq!(count("survived=true"), 0, "survived=true");
    assert_eq!(count("passengerClass=2"), 1, "passengerClass=2");
    assert_eq!(
        count("passengerClass=2&sex=male"),
        1,
        "passengerClass=2&sex=male"
    );
    assert_eq!(count("sex=female"), 0, "sex=female");
    for bad in [
        "survived=maybe",
        "passengerClass=x",
        "passengerClass=1.5",
        "siblingsOrSpousesAboard=x",
    ] {
        assert_bad_request(
            &api.get(&format!("/passengers?name={}&{bad}", enc(&name)))
                .send(),
        );
    }
    assert_bad_request(&api.get("/cats?age=abc").send());
}

fn empty_result(ctx: &Ctx) {
    let page = list(ctx.api(), &format!("/cats?color={}", tag("none")));
    page.resp.check(
        page.items.is_empty() && page.total == 0 && page.next.is_none(),
        "no match: [], X-Total-Count 0, no Link",
    );
}

fn head_on_a_list(ctx: &Ctx) {
    let color = tag("head");
    cats_in_order(ctx.api(), &color, 2);
    let resp = ctx
        .api()
        .head(&format!("/cats?color={color}&limit=1"))
        .send();
    resp.expect(200);
    resp.check(resp.body.is_empty(), "HEAD has no body");
    resp.check(
        resp.header("x-total-count") == Some("2"),
        "HEAD carries X-Total-Count",
    );
    resp.check(
        crate::harness::http::next_link(&resp).is_some(),
        "HEAD carries Link",
    );
}

fn default_limit_is_100(ctx: &Ctx) {
    let api = ctx.api();
    let color = tag("hundred");
    let cats: Vec<Value> = (0..101)
        .map(|i| json!({"name": format!("n{i:03}"), "color": color}))
        .collect();
    api.post("/cats")
        .json(&Value::Array(cats))
        .send()
        .expect(201);
    let page = list(api, &format!("/cats?color={color}"));
    page.resp.check(
        page.items.len() == 100 && page.total == 101,
        "without limit: 100 items, X-Total-Count 101",
    );
    page.resp.check(
        names(&page.items).first().map(String::as_str) == Some("n000"),
        "creation order",
    );
    let next = page
        .next
        .clone()
        .unwrap_or_else(|| panic!("Link rel=\"next\" expected\n{}", page.resp.describe()));
    let rest = list(api, &next);
    rest.resp.check(
        names(&rest.items) == ["n100"] && rest.next.is_none(),
        "the Link gives the 101st cat",
    );
}

/// Without filters `X-Total-Count` comes from kept row counts: exact through single, bulk and CSV
/// creates, deletes, and refused writes, for every resource (a server of its own, so nothing
/// else writes).
fn unfiltered_totals_stay_exact_through_writes(ctx: &Ctx) {
    let server = ctx.start_dedicated("counts", &[]);
    let api = server.api();
    let total = |path: &str| list(api, path).total;
    for path in ["/cats", "/passengers", "/configs", "/users"] {
        assert_eq!(total(path), 0, "{path} starts empty");
    }
    let cats: Vec<Value> = (0..5).map(|i| create(api, "/cats", &json!({"name": format!("C{i}")}))).collect();
    api.post("/cats").json(&json!([{"name": "B1"}, {"name": "B2"}, {"name": "B3"}])).send().expect(201);
    for cat in &cats[..2] {
        api.delete(&format!("/cats/{}", cat["id"].as_str().unwrap())).send().expect(204);
    }
    // A refused bulk (one invalid item) counts nothing.
    assert_invalid(&api.post("/cats").json(&json!([{"name": "ok"}, {"name": ""}])).send(), "[1].name");
    assert_eq!(total("/cats"), 6);
    let csv = "Survived,Pclass,Name,Sex,Age,Siblings/Spouses Aboard,Parents/Children Aboard,Fare\n1,1,A,male,1,0,0,1\n0,3,B,female,2,1,0,7.25\n";
    api.post("/passengers").content_type("text/csv").body(csv).send().expect(201);
    assert_eq!(total("/passengers"), 2);
    create(api, "/users", &json!({"username": "counted", "email": "counted@example.com"}));
    assert_eq!(total("/users"), 1);
    // Refused writes count nothing: a taken username, a delete with a stale `If-Match`, a delete
    // of what is gone. A conditional delete that matches counts.
    assert_conflict(&api.post("/users").json(&json!({"username": "Counted", "email": "other@example.com"})).send(), "username");
    let path = format!("/cats/{}", cats[2]["id"].as_str().unwrap());
    assert_problem(&api.delete(&path).if_match("\"stale\"").send(), 412, "precondition-failed");
    assert_not_found(&api.delete(&format!("/cats/{}", cats[0]["id"].as_str().unwrap())).send());
    assert_eq!((total("/cats"), total("/users")), (6, 1));
    let current = etag(&api.get(&path).send());
    api.delete(&path).if_match(&current).send().expect(204);
    assert_eq!(total("/cats"), 5);
    let next = list(api, "/cats?limit=2").next.unwrap();
    assert!(next.starts_with("/cats?limit=2&cursor="), "{next}");
}

/// `Prefer: count=none` answers without `X-Total-Count` (a `Link` still says whether more
/// remain); `count=exact`, the default, is echoed like it; others are answered exactly.
fn count_none_skips_the_total_and_keeps_the_link(ctx: &Ctx) {
    let api = ctx.api();
    let color = tag("cnt");
    for i in 0..3 {
        create(api, "/cats", &json!({"name": format!("N{i}"), "color": color}));
    }
    let target = format!("/cats?color={color}&limit=2");
    let none = api.get(&target).header("Prefer", "count=none").send();
    none.expect(200);
    none.check(none.header("x-total-count").is_none(), "count=none: no X-Total-Count");
    none.check(none.header("preference-applied") == Some("count=none"), "Preference-Applied: count=none");
    none.check(none.json().as_array().map(Vec::len) == Some(2), "two items");
    let rest = next_link_of(&none).unwrap_or_else(|| panic!("a Link to the rest\n{}", none.describe()));
    none.check(rest.starts_with(&format!("/cats?color={color}&limit=2&cursor=")), "a Link to the rest");
    let by_cursor = api.get(&rest).header("Prefer", "count=none").send();
    by_cursor.check(next_link_of(&by_cursor).is_none() && by_cursor.json().as_array().map(Vec::len) == Some(1), "the rest by cursor: the last one");
    let last = api.get(&format!("/cats?color={color}&limit=2&offset=2")).header("Prefer", "count=none").send();
    last.check(next_link_of(&last).is_none() && last.json().as_array().map(Vec::len) == Some(1), "no Link after the last page");
    for (prefer, applied) in [("count=exact", "count=exact"), ("count=planned", "count=exact"), ("return=minimal, count=\"none\"", "count=none")] {
        let resp = api.get(&target).header("Prefer", prefer).send();
        resp.check(resp.header("preference-applied") == Some(applied), &format!("Prefer: {prefer} → Preference-Applied: {applied}"));
        let exact = applied == "count=exact";
        resp.check(resp.header("x-total-count").is_some() == exact, "X-Total-Count exactly when counting");
    }
    let plain = api.get(&target).send();
    plain.check(plain.header("preference-applied").is_none() && plain.header("x-total-count") == Some("3"), "no preference: the exact count, nothing echoed");
    plain.check(plain.header("vary").is_some_and(|v| v.to_ascii_lowercase().contains("prefer")), "Vary: Prefer");
}

fn next_link_of(resp: &crate::harness::http::Response) -> Option<String> {
    crate::harness::http::next_link(resp)
}
