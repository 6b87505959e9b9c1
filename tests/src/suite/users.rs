//! Users: username and email rules, uniqueness ignoring case.

use serde_json::Value;

use super::support::*;
use super::tests;
use crate::harness::{Api, Ctx};

pub const TESTS: super::Plain = tests![
    username_length_and_characters,
    email_validity_and_length,
    username_is_unique_ignoring_case,
    email_is_unique_ignoring_case,
    bulk_duplicates_are_409_and_store_nothing,
    updates_cannot_take_another_users_name_or_email,
    username_and_email_filters_ignore_case,
    concurrent_duplicates_create_one_user,
];

fn user(username: &str, email: &str) -> Value {
    json!({"username": username, "email": email})
}

/// A unique username of exactly `len` characters.
fn username_of_len(len: usize) -> String {
    let t = tag("u");
    if len >= t.len() {
        format!("{t}{}", "q".repeat(len - t.len()))
    } else {
        t[t.len() - len..].to_string()
    }
}

#[track_caller]
fn rejected(api: Api, body: Value, field: &str) {
    assert_invalid(&api.post("/users").json(&body).send(), field);
}

fn unique_email() -> String {
    format!("{}@example.com", tag("m"))
}

fn username_length_and_characters(ctx: &Ctx) {
    let api = ctx.api();
    for name in [
        username_of_len(3),
        username_of_len(50),
        format!("{}A.b-c_D", tag("ok")),
    ] {
        let u = create(api, "/users", &user(&name, &unique_email()));
        assert_eq!(u["username"], json!(name), "username stored as sent");
    }
    for bad in [
        username_of_len(2),
        username_of_len(51),
        String::new(),
        format!("{} x", tag("sp")),
        format!("{}!", tag("bang")),
        format!("{}@x", tag("at")),
        format!("{}ü", tag("uml")),
        format!("{}/x", tag("sl")),
    ] {
        rejected(api, user(&bad, &unique_email()), "username");
    }
    rejected(api, json!({"email": unique_email()}), "username");
    rejected(
        api,
        json!({"username": null, "email": unique_email()}),
        "username",
    );
    rejected(
        api,
        json!({"username": 123, "email": unique_email()}),
        "username",
    );
}

fn email_validity_and_length(ctx: &Ctx) {
    let api = ctx.api();
    // 64 + 1 + 189 = 254 characters; 255 with one more.
    let t = tag("e");
    let local = format!("{t}{}", "a".repeat(64 - t.len()));
    let domain = |last: usize| {
        format!(
            "{}.{}.{}.com",
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(last)
        )
    };
    let longest = format!("{local}@{}", domain(57));
    assert_eq!(longest.chars().count(), 254);
    let u = create(api, "/users", &user(&tag("long"), &longest));
    assert_eq!(u["email"], json!(longest));
    let too_long = format!("{}@{}", local.replacen('a', "z", 1), domain(58));
    assert_eq!(too_long.chars().count(), 255);
    rejected(api, user(&tag("toolong"), &too_long), "email");
    for ok in [
        format!("{}@example.com", tag("ok")),
        format!("first.last+{}@sub.example.org", tag("plus")),
    ] {
        create(api, "/users", &user(&tag("okmail"), &ok));
    }
    for bad in [
        "plainaddress",
        "@example.com",
        "user@",
        "a b@example.com",
        "a@@example.com",
        "",
        "user@exa mple.com",
    ] {
        rejected(api, user(&tag("bad"), bad), "email");
    }
    rejected(api, json!({"username": tag("nomail")}), "email");
    rejected(
        api,
        json!({"username": tag("nullmail"), "email": null}),
        "email",
    );
}

fn username_is_unique_ignoring_case(ctx: &Ctx) {
    let api = ctx.api();
    let name = format!("{}Alice", tag("c"));
    create(api, "/users", &user(&name, &unique_email()));
    for other in [name.clone(), name.to_uppercase(), name.to_lowercase()] {
        assert_conflict(
            &api.post("/users")
                .json(&user(&other, &unique_email()))
                .send(),
            "username",
        );
    }
    let page = list(api, &format!("/users?username={}", enc(&name)));
    page.resp
        .check(page.total == 1, "still one user with that name");
}

fn email_is_unique_ignoring_case(ctx: &Ctx) {
    let api = ctx.api();
    let email = format!("{}.Bob@Example.com", tag("c"));
    create(api, "/users", &user(&tag("bob"), &email));
    for other in [email.clone(), email.to_uppercase(), email.to_lowercase()] {
        assert_conflict(
            &api.post("/users").json(&user(&tag("bob"), &other)).send(),
            "email",
        );
    }
}

fn bulk_duplicates_are_409_and_store_nothing(ctx: &Ctx) {
    let api = ctx.api();
    let (a, b, c) = (tag("ba"), tag("bb"), tag("bc"));
    let within = json!([
        user(&a, &unique_email()),
        user(&b, &unique_email()),
        user(&a.to_uppercase(), &unique_email())
    ]);
    assert_conflict(&api.post("/users").json(&within).send(), "[2].username");
    let shared = unique_email();
    let within_email = json!([
        user(&a, &shared),
        user(&b, &unique_email()),
        user(&c, &shared.to_uppercase())
    ]);
    assert_conflict(&api.post("/users").json(&within_email).send(), "[2].email");
    let existing = create(api, "/users", &user(&tag("be"), &unique_email()));
    let against = json!([
        user(&a, &unique_email()),
        user(existing["username"].as_str().unwrap(), &unique_email())
    ]);
    assert_conflict(&api.post("/users").json(&against).send(), "[1].username");
    for name in [&a, &b, &c] {
        let page = list(api, &format!("/users?username={name}"));
        page.resp
            .check(page.total == 0, "a failed bulk create stores nothing");
    }
}

fn updates_cannot_take_another_users_name_or_email(ctx: &Ctx) {
    let api = ctx.api();
    let first = create(api, "/users", &user(&tag("first"), &unique_email()));
    let second = create(api, "/users", &user(&tag("second"), &unique_email()));
    let path = format!("/users/{}", second["id"].as_str().unwrap());
    let taken_name = first["username"].as_str().unwrap().to_uppercase();
    let taken_email = first["email"].as_str().unwrap().to_uppercase();
    assert_conflict(
        &api.put(&path)
            .json(&user(&taken_name, second["email"].as_str().unwrap()))
            .send(),
        "username",
    );
    assert_conflict(
        &api.patch(&path).json(&json!({"email": taken_email})).send(),
        "email",
    );
    let got = api.get(&path).send();
    assert_json_eq(
        &got,
        &got.expect_json(200),
        &second,
        "rejected updates change nothing",
    );
    // Changing the case of one's own name is not a conflict.
    let own = second["username"].as_str().unwrap().to_uppercase();
    let resp = api.patch(&path).json(&json!({"username": own})).send();
    assert_json_eq(
        &resp,
        &resp.expect_json(200)["username"],
        &json!(own),
        "own name in another case",
    );
}

fn username_and_email_filters_ignore_case(ctx: &Ctx) {
    let api = ctx.api();
    let name = format!("{}Carol", tag("f"));
    let email = format!("{name}@Example.com");
    let u = create(api, "/users", &user(&name, &email));
    for q in [
        format!("username={}", name.to_uppercase()),
        format!("email={}", enc(&email.to_lowercase())),
        format!("username={}", name.to_lowercase()),
    ] {
        let page = list(api, &format!("/users?{q}"));
        page.resp.check(
            page.items == [u.clone()],
            &format!("/users?{q} should find the user"),
        );
    }
}

/// Racing creates of one username (in different cases): one 201, the rest 409.
fn concurrent_duplicates_create_one_user(ctx: &Ctx) {
    let api = ctx.api();
    let name = format!("{}Race", tag("r"));
    let variants: Vec<String> = (0..8)
        .map(|i| {
            if i % 2 == 0 {
                name.to_uppercase()
            } else {
                name.to_lowercase()
            }
        })
        .collect();
    let answers = race(variants.len(), |i| {
        api.post("/users")
            .json(&user(&variants[i], &unique_email()))
    });
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    for conflict in answers.iter().filter(|a| a.status == 409) {
        assert_conflict(conflict, "username");
    }
    let created = statuses.iter().filter(|s| **s == 201).count();
    let conflicts = statuses.iter().filter(|s| **s == 409).count();
    assert!(
        created == 1 && conflicts == 7,
        "8 racing creates of {name:?}: expected one 201 and seven 409, got {statuses:?}"
    );
    let page = list(api, &format!("/users?username={name}"));
    page.resp.check(page.total == 1, "exactly one user stored");
}
