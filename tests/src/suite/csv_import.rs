//! `POST /passengers` with `Content-Type: text/csv` (the titanic.csv layout).

use serde_json::Value;

use super::support::*;
use super::tests;
use crate::harness::http::Response;
use crate::harness::{Api, Ctx};

pub const TESTS: super::Plain = tests![
    imports_quoted_names_and_crlf,
    imports_lf_without_trailing_newline,
    quoted_fields_may_contain_quotes,
    bad_value_names_its_line_and_stores_nothing,
    bad_row_on_a_crlf_file_names_its_line,
    wrong_column_count_is_422,
    header_only_imports_zero,
    csv_is_only_for_passengers,
];

const HEADER: &str =
    "Survived,Pclass,Name,Sex,Age,Siblings/Spouses Aboard,Parents/Children Aboard,Fare";

fn import(api: Api, lines: &[String], eol: &str, trailing: bool) -> Response {
    let mut text = lines.join(eol);
    if trailing {
        text.push_str(eol);
    }
    api.post("/passengers")
        .content_type("text/csv")
        .body(text)
        .send()
}

fn header_and(rows: &[String]) -> Vec<String> {
    std::iter::once(HEADER.to_string())
        .chain(rows.iter().cloned())
        .collect()
}

/// The single passenger named `name` (panics unless exactly one).
#[track_caller]
fn find(api: Api, name: &str) -> Value {
    let page = list(api, &format!("/passengers?name={}", enc(name)));
    page.resp.check(
        page.items.len() == 1,
        &format!("exactly one passenger named {name:?}"),
    );
    page.items[0].clone()
}

#[track_caller]
fn absent(api: Api, name: &str) {
    let page = list(api, &format!("/passengers?name={}", enc(name)));
    page.resp.check(
        page.total == 0,
        &format!("no passenger named {name:?} should be stored"),
    );
}

#[track_caller]
fn assert_imported(resp: &Response, n: u64) {
    assert_json_eq(
        resp,
        &resp.expect_json(201),
        &json!({ "imported": n }),
        "import answer",
    );
}

/// `line` of a CSV problem: top level, or on an `errors` entry.
fn problem_line(p: &Value) -> Option<u64> {
    p["line"].as_u64().or_else(|| {
        p["errors"]
            .as_array()?
            .iter()
            .find_map(|e| e["line"].as_u64())
    })
}

#[track_caller]
fn assert_line(resp: &Response, field: Option<&str>, line: u64) {
    let p = match field {
        Some(f) => assert_invalid(resp, f),
        None => assert_problem(resp, 422, "validation-error"),
    };
    resp.check(
        problem_line(&p) == Some(line),
        &format!("the problem should carry \"line\": {line} (header = line 1)"),
    );
}

/// Checks an imported passenger against the expected API fields (numbers compared as numbers).
#[track_caller]
fn check_passenger(p: &Value, expected: Value) {
    for (k, want) in expected.as_object().unwrap() {
        let ok = match want {
            Value::Number(n) => p[k].as_f64() == n.as_f64(),
            other => &p[k] == other,
        };
        assert!(ok, "imported passenger {p}: {k} should be {want}");
    }
}

fn row(survived: bool, class: u8, sex: &str, age: f64, sib: u8, par: u8, fare: f64) -> Value {
    json!({"survived": survived, "passengerClass": class, "sex": sex, "age": age,
           "siblingsOrSpousesAboard": sib, "parentsOrChildrenAboard": par, "fare": fare})
}

fn imports_quoted_names_and_crlf(ctx: &Ctx) {
    let api = ctx.api();
    let t = tag("csv");
    let names = [
        format!("Braund, Mr. Owen Harris {t}"),
        format!("Cumings, Mrs. John Bradley (Florence Briggs Thayer) {t}"),
        format!("Heikkinen Miss. Laina {t}"),
    ];
    let rows = [
        format!("0,3,\"{}\",male,22,1,0,7.25", names[0]),
        format!("1,1,\"{}\",female,38,1,0,71.2833", names[1]),
        format!("1,3,{},female,0.42,0,2,7.925", names[2]),
    ];
    assert_imported(&import(api, &header_and(&rows), "\r\n", true), 3);
    check_passenger(
        &find(api, &names[0]),
        row(false, 3, "male", 22.0, 1, 0, 7.25),
    );
    check_passenger(
        &find(api, &names[1]),
        row(true, 1, "female", 38.0, 1, 0, 71.2833),
    );
    check_passenger(
        &find(api, &names[2]),
        row(true, 3, "female", 0.42, 0, 2, 7.925),
    );
    let p = find(api, &names[0]);
    assert!(
        p["id"].as_str().is_some_and(is_uuid_v4),
        "imported passengers get ids: {p}"
    );
}

fn imports_lf_without_trailing_newline(ctx: &Ctx) {
    let api = ctx.api();
    let t = tag("csvlf");
    let names = [format!("Mr. A {t}"), format!("Mrs. B {t}")];
    let rows = [
        format!("1,2,{},male,30,0,0,13", names[0]),
        format!("0,2,\"{}\",female,45.5,1,1,26.25", names[1]),
    ];
    assert_imported(&import(api, &header_and(&rows), "\n", false), 2);
    check_passenger(
        &find(api, &names[0]),
        row(true, 2, "male", 30.0, 0, 0, 13.0),
    );
    check_passenger(
        &find(api, &names[1]),
        row(false, 2, "female", 45.5, 1, 1, 26.25),
    );
}

fn quoted_fields_may_contain_quotes(ctx: &Ctx) {
    let api = ctx.api();
    let t = tag("csvq");
    let name = format!("Andersson, Mr. \"Ernst\" {t}");
    let rows = [format!(
        "0,3,\"{}\",male,39,1,5,31.275",
        name.replace('"', "\"\"")
    )];
    assert_imported(&import(api, &header_and(&rows), "\r\n", true), 1);
    check_passenger(&find(api, &name), row(false, 3, "male", 39.0, 1, 5, 31.275));
}

fn bad_value_names_its_line_and_stores_nothing(ctx: &Ctx) {
    let api = ctx.api();
    let t = tag("csvbad");
    let good = format!("Good, Mr. {t}");
    let rows = [
        format!("1,1,\"{good}\",male,30,0,0,10"),
        format!("1,1,\"Bad, Mrs. {t}\",female,abc,1,0,71.28"),
    ];
    assert_line(&import(api, &header_and(&rows), "\n", true), Some("age"), 3);
    absent(api, &good);

    let rows = [format!("1,5,\"{good}\",male,30,0,0,10")];
    assert_line(
        &import(api, &header_and(&rows), "\n", true),
        Some("passengerClass"),
        2,
    );
    let rows = [
        format!("1,1,\"{good}\",male,30,0,0,10"),
        format!("1,1,Other {t},unknown,30,0,0,10"),
    ];
    assert_line(&import(api, &header_and(&rows), "\n", true), Some("sex"), 3);
    let rows = [format!("1,1,\"{good}\",male,30,0,0,-1")];
    assert_line(
        &import(api, &header_and(&rows), "\n", true),
        Some("fare"),
        2,
    );
    absent(api, &good);
}

fn bad_row_on_a_crlf_file_names_its_line(ctx: &Ctx) {
    let api = ctx.api();
    let t = tag("csvcrlf");
    let first = format!("First, Mr. {t}");
    let rows = [
        format!("1,1,\"{first}\",male,30,0,0,10"),
        format!("0,2,Second {t},female,31,0,0,11"),
        format!("0,4,Third {t},female,32,0,0,12"),
    ];
    assert_line(
        &import(api, &header_and(&rows), "\r\n", true),
        Some("passengerClass"),
        4,
    );
    absent(api, &first);
}

fn wrong_column_count_is_422(ctx: &Ctx) {
    let api = ctx.api();
    let t = tag("csvcols");
    let first = format!("Cols, Mr. {t}");
    let rows = [
        format!("1,1,\"{first}\",male,30,0,0,10"),
        format!("1,1,Short {t},male,30"),
    ];
    assert_line(&import(api, &header_and(&rows), "\n", true), None, 3);
    absent(api, &first);
}

fn header_only_imports_zero(ctx: &Ctx) {
    assert_imported(&import(ctx.api(), &[HEADER.to_string()], "\r\n", true), 0);
}

fn csv_is_only_for_passengers(ctx: &Ctx) {
    let api = ctx.api();
    let csv = format!("{HEADER}\n1,1,X,male,30,0,0,10\n");
    for path in ["/cats", "/users", "/configs"] {
        let resp = api
            .post(path)
            .content_type("text/csv")
            .body(csv.clone())
            .send();
        assert_problem(&resp, 415, "unsupported-media-type");
    }
}
