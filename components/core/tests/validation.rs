//! Field rules at their boundaries, as every engine applies them.

use serde_json::json;
use spincrud_core::resource::definitions::{is_cpu_quantity, CATS, CONFIGS, PASSENGERS, USERS};
use spincrud_core::resource::field::is_email;
use spincrud_core::store::Value;

fn errors(r: &spincrud_core::resource::Resource, body: serde_json::Value) -> Vec<(String, String)> {
    match r.validate(&body, "", None) {
        Ok(_) => vec![],
        Err(e) => e.into_iter().map(|e| (e.field, e.message)).collect(),
    }
}

fn fields(r: &spincrud_core::resource::Resource, body: serde_json::Value) -> Vec<String> {
    errors(r, body).into_iter().map(|(f, _)| f).collect()
}

#[test]
fn cat_name_is_trimmed_and_counted_in_code_points() {
    let values = CATS.validate(&json!({"name": "  Tom  "}), "", None).unwrap();
    assert_eq!(values[0], Value::Text("Tom".into()));
    assert!(fields(&CATS, json!({"name": "é".repeat(100)})).is_empty());
    assert_eq!(fields(&CATS, json!({"name": "é".repeat(101)})), ["name"]);
    assert_eq!(fields(&CATS, json!({"name": "   "})), ["name"]);
    assert_eq!(fields(&CATS, json!({"name": ""})), ["name"]);
    assert_eq!(fields(&CATS, json!({})), ["name"]);
    assert_eq!(fields(&CATS, json!({"name": null})), ["name"]);
}

#[test]
fn cat_optional_fields_have_bounds_and_default_to_null() {
    let values = CATS.validate(&json!({"name": "a"}), "", None).unwrap();
    assert_eq!(values, [Value::Text("a".into()), Value::Null, Value::Null, Value::Null]);
    assert!(fields(&CATS, json!({"name": "a", "age": 0, "breed": "b".repeat(100), "color": "c".repeat(50)})).is_empty());
    assert_eq!(fields(&CATS, json!({"name": "a", "age": 41})), ["age"]);
    assert_eq!(fields(&CATS, json!({"name": "a", "age": -1})), ["age"]);
    assert_eq!(fields(&CATS, json!({"name": "a", "age": 3.5})), ["age"]);
    assert_eq!(fields(&CATS, json!({"name": "a", "age": "3"})), ["age"]);
    assert_eq!(fields(&CATS, json!({"name": "a", "breed": "b".repeat(101)})), ["breed"]);
    assert_eq!(fields(&CATS, json!({"name": "a", "color": "c".repeat(51)})), ["color"]);
}

#[test]
fn integers_are_json_numbers_without_a_fraction() {
    use spincrud_core::resource::field::json_integer;
    let read = |text: &str| json_integer(&serde_json::from_str(text).unwrap());
    for (text, n) in [("3", 3), ("3.0", 3), ("3e0", 3), ("0.3E1", 3), ("300e-2", 3), ("-0.0", 0), ("-7.0", -7), ("1e18", 1_000_000_000_000_000_000),
                      ("9223372036854775807", i64::MAX), ("-9223372036854775808", i64::MIN), ("-9.223372036854775808e18", i64::MIN)] {
        assert_eq!(read(text), Some(n), "{text}");
    }
    for text in ["3.5", "0.1", "1e-1", "9223372036854775808", "9.223372036854775808e18", "1e19", "-1e19", "\"3\"", "true", "null"] {
        assert_eq!(read(text), None, "{text}");
    }
    let values = CATS.validate(&serde_json::from_str(r#"{"name": "a", "age": 4e1}"#).unwrap(), "", None).unwrap();
    assert_eq!(values[2], Value::Integer(40));
    assert_eq!(fields(&CATS, serde_json::from_str(r#"{"name": "a", "age": 4.1e1}"#).unwrap()), ["age"]);
}

#[test]
fn integers_beyond_64_bits_name_the_field() {
    let body: serde_json::Value = serde_json::from_str(r#"{"name": "a", "age": 99999999999999999999999}"#).unwrap();
    assert_eq!(fields(&CATS, body), ["age"]);
}

#[test]
fn unknown_fields_are_rejected_and_read_only_ones_ignored() {
    assert_eq!(fields(&CATS, json!({"name": "a", "owner": "x"})), ["owner"]);
    assert!(fields(&CATS, json!({"name": "a", "id": "x", "createdAt": 1, "updatedAt": null})).is_empty());
}

#[test]
fn passengers_follow_the_titanic_rules() {
    let ok = json!({"survived": true, "passengerClass": 1, "name": "A", "sex": "female", "age": 0.42,
                    "siblingsOrSpousesAboard": 0, "parentsOrChildrenAboard": 0, "fare": 0});
    assert!(fields(&PASSENGERS, ok.clone()).is_empty());
    let with = |k: &str, v: serde_json::Value| {
        let mut b = ok.clone();
        b[k] = v;
        fields(&PASSENGERS, b)
    };
    assert!(with("age", json!(150)).is_empty());
    assert_eq!(with("age", json!(150.5)), ["age"]);
    assert_eq!(with("passengerClass", json!(4)), ["passengerClass"]);
    assert_eq!(with("passengerClass", json!(0)), ["passengerClass"]);
    assert_eq!(with("sex", json!("Male")), ["sex"]);
    assert_eq!(with("survived", json!(1)), ["survived"]);
    assert_eq!(with("fare", json!(-0.01)), ["fare"]);
    assert_eq!(with("siblingsOrSpousesAboard", json!(-1)), ["siblingsOrSpousesAboard"]);
    assert_eq!(with("name", json!("n".repeat(201))), ["name"]);
}

#[test]
fn users_need_a_username_and_an_email() {
    assert!(fields(&USERS, json!({"username": "abc", "email": "a@b.co"})).is_empty());
    assert!(fields(&USERS, json!({"username": "a".repeat(50), "email": "a@b.co"})).is_empty());
    assert_eq!(fields(&USERS, json!({"username": "ab", "email": "a@b.co"})), ["username"]);
    assert_eq!(fields(&USERS, json!({"username": "a".repeat(51), "email": "a@b.co"})), ["username"]);
    assert_eq!(fields(&USERS, json!({"username": "a b", "email": "a@b.co"})), ["username"]);
    let long_local = format!("{}@{}.com", "a".repeat(64), "b".repeat(63));
    let at_limit = format!("{long_local}{}", ".cc".repeat((254 - long_local.len()) / 3));
    assert!(at_limit.len() <= 254);
    assert!(fields(&USERS, json!({"username": "abc", "email": at_limit})).is_empty());
    let over = format!("{}@{}.{}.{}.{}", "a".repeat(64), "b".repeat(63), "c".repeat(63), "d".repeat(40), "e".repeat(21));
    assert!(over.len() > 254);
    assert_eq!(fields(&USERS, json!({"username": "abc", "email": over})), ["email"]);
}

#[test]
fn email_rule() {
    for ok in ["a@b.co", "first.last+tag@example.com", "x@localhost", "o'neil@ex-ample.org"] {
        assert!(is_email(ok), "{ok}");
    }
    for bad in ["", "a", "a@", "@b.co", "a@b..co", "a@-b.co", "a b@c.co", "a@b_c.co", "a@@b.co", "é@b.co"] {
        assert!(!is_email(bad), "{bad}");
    }
}

#[test]
fn config_names_and_metadata() {
    let meta = json!({"monitoring": {"enabled": true}, "limits": {"cpu": {"enabled": false, "value": "500m"}}, "free": [1, {"x": null}]});
    let body = |name: &str| json!({"dcname": name, "metadata": meta});
    assert!(fields(&CONFIGS, body("a")).is_empty());
    assert!(fields(&CONFIGS, body(&"a".repeat(63))).is_empty());
    for bad in ["", "-a", "a-", "A", "a_b", &"a".repeat(64)] {
        assert_eq!(fields(&CONFIGS, body(bad)), ["dcname"], "{bad:?}");
    }
    assert_eq!(
        fields(&CONFIGS, json!({"dcname": "a", "metadata": {}})),
        ["metadata.monitoring.enabled", "metadata.limits.cpu.enabled"]
    );
    assert_eq!(fields(&CONFIGS, json!({"dcname": "a", "metadata": {"monitoring": true, "limits": {"cpu": {"enabled": "yes"}}}})), [
        "metadata.monitoring",
        "metadata.limits.cpu.enabled"
    ]);
    assert_eq!(fields(&CONFIGS, json!({"dcname": "a", "metadata": []})), ["metadata"]);
}

#[test]
fn config_path_key_fills_or_must_match_the_body() {
    let meta = json!({"monitoring": {"enabled": true}, "limits": {"cpu": {"enabled": true}}});
    let values = CONFIGS.validate(&json!({"metadata": meta}), "", Some("dc-1")).unwrap();
    assert_eq!(values[0], Value::Text("dc-1".into()));
    let errs = CONFIGS.validate(&json!({"dcname": "other", "metadata": meta}), "", Some("dc-1")).unwrap_err();
    assert_eq!(errs[0].field, "dcname");
}

#[test]
fn cpu_quantities() {
    for ok in ["500m", "2", "1.5", "0", "0.25", "1000m"] {
        assert!(is_cpu_quantity(ok), "{ok}");
    }
    for bad in [" 500m", "500 m", "m", "", "1.2.3", "1.", ".5", "1.5m", "-1", "2k", "1e3", "500M"] {
        assert!(!is_cpu_quantity(bad), "{bad:?}");
    }
}

#[test]
fn bulk_errors_carry_the_index() {
    let err = CATS.validate(&json!({"name": ""}), "[3].", None).unwrap_err();
    assert_eq!(err[0].field, "[3].name");
    let err = CATS.validate(&json!(7), "[2].", None).unwrap_err();
    assert_eq!(err[0].field, "[2]");
    let err = CATS.validate(&json!("x"), "", None).unwrap_err();
    assert_eq!(err[0].field, "");
}
