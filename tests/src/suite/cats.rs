//! Cat validation rules at their boundaries and cat-specific representation rules.

use serde_json::Value;

use super::support::*;
use super::tests;
use crate::harness::{Api, Ctx};

pub const TESTS: super::Plain = tests![
    name_length_counts_code_points,
    name_is_trimmed_and_whitespace_only_is_invalid,
    name_is_a_required_string,
    age_bounds_and_integer_rules,
    breed_and_color_lengths,
    optional_fields_are_null_when_absent,
    put_sets_omitted_optional_fields_to_null,
    patch_null_removes_an_optional_field,
];

#[track_caller]
fn accepted(api: Api, body: Value) -> Value {
    create(api, "/cats", &body)
}

#[track_caller]
fn rejected(api: Api, body: Value, field: &str) {
    let resp = api.post("/cats").json(&body).send();
    assert_invalid(&resp, field);
}

fn name_length_counts_code_points(ctx: &Ctx) {
    let api = ctx.api();
    for name in [
        chars('a', 1),
        chars('a', 100),
        chars('猫', 100),
        chars('😺', 100),
        chars('é', 100),
    ] {
        let cat = accepted(api, json!({"name": name}));
        assert_eq!(cat["name"], json!(name), "name stored as sent");
    }
    for name in [
        String::new(),
        chars('a', 101),
        chars('猫', 101),
        chars('😺', 101),
    ] {
        rejected(api, json!({"name": name}), "name");
    }
}

fn name_is_trimmed_and_whitespace_only_is_invalid(ctx: &Ctx) {
    let api = ctx.api();
    let cat = accepted(api, json!({"name": "  Tom  "}));
    assert_eq!(cat["name"], "Tom", "name is stored trimmed");
    let padded = format!("  {}\t", chars('b', 100));
    let cat = accepted(api, json!({"name": padded}));
    assert_eq!(
        cat["name"],
        json!(chars('b', 100)),
        "the length is checked after trimming"
    );
    let got = get_json(api, &format!("/cats/{}", cat["id"].as_str().unwrap()));
    assert_eq!(got["name"], json!(chars('b', 100)), "stored trimmed");
    for name in [" ", "   ", "\t \n"] {
        rejected(api, json!({"name": name}), "name");
    }
    rejected(
        api,
        json!({"name": format!(" {} ", chars('c', 101))}),
        "name",
    );
}

fn name_is_a_required_string(ctx: &Ctx) {
    let api = ctx.api();
    rejected(api, json!({}), "name");
    rejected(api, json!({"name": null}), "name");
    rejected(api, json!({"name": 42}), "name");
    rejected(api, json!({"name": ["Tom"]}), "name");
    rejected(api, json!({"breed": "Siamese", "age": 2}), "name");
}

fn age_bounds_and_integer_rules(ctx: &Ctx) {
    let api = ctx.api();
    for age in [json!(0), json!(40), json!(null)] {
        let cat = accepted(api, json!({"name": "Aged", "age": age}));
        assert_eq!(cat["age"], age, "age stored as sent");
    }
    // JSON numbers mean what they say: `3.0` and `3e0` are the integer 3, and the answer says 3.
    for (raw, age) in [("3.0", 3), ("3e0", 3), ("0.3e1", 3), ("4e1", 40), ("-0.0", 0), ("30E-1", 3)] {
        let resp = api.post("/cats").json_text(&format!(r#"{{"name":"Aged","age":{raw}}}"#)).send();
        resp.expect(201);
        let cat = resp.json();
        resp.check(cat["age"] == json!(age) && resp.text().contains(&format!("\"age\":{age},")), &format!("age {raw} is echoed as {age}"));
        let id = cat["id"].as_str().unwrap();
        let read = api.get(&format!("/cats/{id}")).send();
        read.check(read.json()["age"] == json!(age), "and read back as an integer");
        let patched = api.patch(&format!("/cats/{id}")).json_text(&format!(r#"{{"age":{raw}}}"#)).send();
        patched.expect(200);
        patched.check(patched.json()["age"] == json!(age), "a patch takes it too");
    }
    for age in [
        json!(-1),
        json!(41),
        json!(3.5),
        json!(40.5),
        json!("3"),
        json!(true),
    ] {
        rejected(api, json!({"name": "Aged", "age": age}), "age");
    }
    for raw in ["4.1e1", "3.01", "-1e0", "1e400"] {
        let resp = api.post("/cats").json_text(&format!(r#"{{"name":"Aged","age":{raw}}}"#)).send();
        if raw == "1e400" {
            // Beyond any double: not a JSON number this server (or most) can read.
            assert_bad_request(&resp);
        } else {
            assert_invalid(&resp, "age");
        }
    }
    // Integers beyond 64 bits (raw text: they are not representable as i64).
    for big in [
        "9223372036854775808",
        "-9223372036854775809",
        "18446744073709551616",
    ] {
        let resp = api
            .post("/cats")
            .json_text(&format!(r#"{{"name":"Aged","age":{big}}}"#))
            .send();
        assert_invalid(&resp, "age");
    }
}

fn breed_and_color_lengths(ctx: &Ctx) {
    let api = ctx.api();
    let cat = accepted(
        api,
        json!({"name": "B", "breed": chars('é', 100), "color": chars('ö', 50)}),
    );
    assert_eq!(cat["breed"], json!(chars('é', 100)));
    assert_eq!(cat["color"], json!(chars('ö', 50)));
    rejected(api, json!({"name": "B", "breed": chars('b', 101)}), "breed");
    rejected(api, json!({"name": "B", "color": chars('c', 51)}), "color");
    rejected(api, json!({"name": "B", "breed": 5}), "breed");
    rejected(api, json!({"name": "B", "color": false}), "color");
}

fn optional_fields_are_null_when_absent(ctx: &Ctx) {
    let cat = accepted(ctx.api(), json!({"name": "Plain"}));
    for field in ["breed", "age", "color"] {
        assert!(
            cat.get(field) == Some(&Value::Null),
            "{field} should be present and null: {cat}"
        );
    }
}

fn put_sets_omitted_optional_fields_to_null(ctx: &Ctx) {
    let api = ctx.api();
    let cat = accepted(
        api,
        json!({"name": "Full", "breed": "Persian", "age": 9, "color": "grey"}),
    );
    let path = format!("/cats/{}", cat["id"].as_str().unwrap());
    let resp = api.put(&path).json(&json!({"name": " Bare "})).send();
    let put = resp.expect_json(200);
    let expected = json!({"id": cat["id"], "name": "Bare", "breed": null, "age": null, "color": null,
        "createdAt": cat["createdAt"], "updatedAt": put["updatedAt"]});
    assert_json_eq(
        &resp,
        &put,
        &expected,
        "PUT replaces: omitted optional fields become null, name trimmed",
    );
    assert_invalid(&api.put(&path).json(&json!({"breed": "x"})).send(), "name");
}

fn patch_null_removes_an_optional_field(ctx: &Ctx) {
    let api = ctx.api();
    let cat = accepted(
        api,
        json!({"name": "Patchy", "breed": "Persian", "age": 9, "color": "grey"}),
    );
    let path = format!("/cats/{}", cat["id"].as_str().unwrap());
    let resp = api
        .patch(&path)
        .merge_patch(&json!({"color": null, "name": "  Patched "}))
        .send();
    let patched = resp.expect_json(200);
    assert_json_eq(&resp, &patched["color"], &Value::Null, "null removes color");
    assert_json_eq(
        &resp,
        &patched["name"],
        &json!("Patched"),
        "patched name is trimmed",
    );
    assert_json_eq(
        &resp,
        &patched["breed"],
        &json!("Persian"),
        "other fields kept",
    );
    assert_json_eq(&resp, &patched["age"], &json!(9), "other fields kept");
    assert_invalid(
        &api.patch(&path).json(&json!({"name": "   "})).send(),
        "name",
    );
    assert_invalid(&api.patch(&path).json(&json!({"age": -1})).send(), "age");
}
