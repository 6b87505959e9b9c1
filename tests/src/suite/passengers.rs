//! Passenger validation rules at their boundaries and number representation.

use serde_json::Value;

use super::resources::passenger;
use super::support::*;
use super::tests;
use crate::harness::{Api, Ctx};

pub const TESTS: super::Plain = tests![
    numbers_come_back_as_stored,
    survived_is_a_required_boolean,
    passenger_class_is_1_2_or_3,
    name_length_and_trimming,
    sex_is_male_or_female,
    age_bounds_allow_fractions,
    counts_are_non_negative_64_bit_integers,
    fare_is_non_negative,
];

fn body(field: &str, value: Value) -> Value {
    let mut p = passenger(&format!("Passenger {}", tag("p")));
    p[field] = value;
    p
}

#[track_caller]
fn accepted(api: Api, field: &str, value: Value) -> Value {
    let created = create(api, "/passengers", &body(field, value.clone()));
    assert_eq!(created[field], value, "{field} should be stored as sent");
    created
}

#[track_caller]
fn rejected(api: Api, field: &str, value: Value) {
    let resp = api.post("/passengers").json(&body(field, value)).send();
    assert_invalid(&resp, field);
}

/// A body whose `field` is `raw`, as written (JSON text, so that `2e0` stays `2e0`).
fn raw_body(field: &str, raw: &str) -> String {
    let b = serde_json::to_string(&without(&body(field, Value::Null), field)).unwrap();
    format!("{},\"{field}\":{raw}}}", &b[..b.len() - 1])
}

#[track_caller]
fn rejected_raw(api: Api, field: &str, raw: &str) {
    assert_invalid(&api.post("/passengers").json_text(&raw_body(field, raw)).send(), field);
}

#[track_caller]
fn accepted_raw(api: Api, field: &str, raw: &str) -> Value {
    let resp = api.post("/passengers").json_text(&raw_body(field, raw)).send();
    resp.expect(201);
    resp.json()
}

#[track_caller]
fn missing(api: Api, field: &str) {
    let resp = api
        .post("/passengers")
        .json(&without(&body(field, Value::Null), field))
        .send();
    assert_invalid(&resp, field);
    let resp = api
        .post("/passengers")
        .json(&body(field, Value::Null))
        .send();
    assert_invalid(&resp, field);
}

fn numbers_come_back_as_stored(ctx: &Ctx) {
    let api = ctx.api();
    let sent = body("age", json!(22.0));
    let resp = api.post("/passengers").json(&sent).send();
    let created = resp.expect_json(201);
    for (k, v) in sent.as_object().unwrap() {
        assert_json_eq(
            &resp,
            &created[k],
            v,
            &format!("{k} as sent (22.0 stays 22.0, 7.25 stays 7.25)"),
        );
    }
    resp.check(
        resp.text().contains("\"age\":22.0"),
        "age 22.0 should be written as 22.0 in the JSON text",
    );
    let got = api
        .get(&format!("/passengers/{}", created["id"].as_str().unwrap()))
        .send();
    assert_json_eq(
        &got,
        &got.expect_json(200),
        &created,
        "GET returns the same numbers",
    );
}

fn survived_is_a_required_boolean(ctx: &Ctx) {
    let api = ctx.api();
    accepted(api, "survived", json!(true));
    accepted(api, "survived", json!(false));
    for v in [json!("true"), json!(1), json!(0)] {
        rejected(api, "survived", v);
    }
    missing(api, "survived");
}

fn passenger_class_is_1_2_or_3(ctx: &Ctx) {
    let api = ctx.api();
    for c in 1..=3 {
        accepted(api, "passengerClass", json!(c));
    }
    // A JSON number without a fraction is that integer, however it is written.
    for raw in ["2.0", "2e0", "0.2e1", "20e-1"] {
        assert_eq!(accepted_raw(api, "passengerClass", raw)["passengerClass"], json!(2), "passengerClass {raw} is 2");
    }
    for v in [
        json!(0),
        json!(4),
        json!(-1),
        json!(1.5),
        json!("1"),
    ] {
        rejected(api, "passengerClass", v);
    }
    rejected_raw(api, "passengerClass", "9223372036854775808");
    rejected_raw(api, "passengerClass", "3.5e0");
    missing(api, "passengerClass");
}

fn name_length_and_trimming(ctx: &Ctx) {
    let api = ctx.api();
    accepted(api, "name", json!("A"));
    accepted(api, "name", json!(chars('n', 200)));
    accepted(api, "name", json!(chars('ß', 200)));
    let created = create(
        api,
        "/passengers",
        &body("name", json!(format!("  {}  ", chars('t', 200)))),
    );
    assert_eq!(
        created["name"],
        json!(chars('t', 200)),
        "name is trimmed before the length check and stored trimmed"
    );
    for v in [
        json!(""),
        json!("   "),
        json!(chars('n', 201)),
        json!(chars('ß', 201)),
        json!(7),
    ] {
        rejected(api, "name", v);
    }
    missing(api, "name");
}

fn sex_is_male_or_female(ctx: &Ctx) {
    let api = ctx.api();
    accepted(api, "sex", json!("male"));
    accepted(api, "sex", json!("female"));
    for v in [
        json!("Male"),
        json!("FEMALE"),
        json!("other"),
        json!(""),
        json!(" male"),
        json!(1),
    ] {
        rejected(api, "sex", v);
    }
    missing(api, "sex");
}

fn age_bounds_allow_fractions(ctx: &Ctx) {
    let api = ctx.api();
    for v in [json!(0.0), json!(0.42), json!(150.0), json!(80.5)] {
        accepted(api, "age", v);
    }
    let created = create(api, "/passengers", &body("age", json!(150)));
    assert_eq!(
        created["age"].as_f64(),
        Some(150.0),
        "age 150 (integer literal) is allowed"
    );
    for v in [
        json!(-0.01),
        json!(-1),
        json!(150.5),
        json!(151),
        json!("22"),
    ] {
        rejected(api, "age", v);
    }
    missing(api, "age");
}

fn counts_are_non_negative_64_bit_integers(ctx: &Ctx) {
    let api = ctx.api();
    for field in ["siblingsOrSpousesAboard", "parentsOrChildrenAboard"] {
        accepted(api, field, json!(0));
        accepted(api, field, json!(8));
        accepted(api, field, json!(i64::MAX));
        // Written with a fraction or an exponent, a whole number is that integer.
        for (raw, n) in [("2.0", 2), ("1e18", 1_000_000_000_000_000_000_i64), ("-0.0", 0)] {
            assert_eq!(accepted_raw(api, field, raw)[field], json!(n), "{field} {raw}");
        }
        for v in [json!(-1), json!(1.5), json!("1")] {
            rejected(api, field, v);
        }
        rejected_raw(api, field, "9223372036854775808");
        rejected_raw(api, field, "18446744073709551616");
        // 2^63 as a double, one beyond the largest 64-bit integer.
        rejected_raw(api, field, "9.223372036854775808e18");
        rejected_raw(api, field, "-1e0");
        missing(api, field);
    }
}

fn fare_is_non_negative(ctx: &Ctx) {
    let api = ctx.api();
    for v in [json!(0.0), json!(0), json!(512.3292), json!(1e6)] {
        let created = create(api, "/passengers", &body("fare", v.clone()));
        assert_eq!(created["fare"].as_f64(), v.as_f64(), "fare stored");
    }
    for v in [json!(-0.01), json!(-1), json!("7.25")] {
        rejected(api, "fare", v);
    }
    missing(api, "fare");
}
