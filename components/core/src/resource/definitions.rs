//! The four SQL resources of the contract, as data.

use serde_json::{json, Map, Value as Json};

use super::field::{Field, Format, Kind, Unique};
use super::{Key, Resource};
use crate::problem::FieldError;

const fn field(name: &'static str, column: &'static str, kind: Kind, required: bool, description: &'static str) -> Field {
    Field { name, column, kind, required, unique: Unique::No, description }
}

pub static CATS: Resource = Resource {
    name: "cats",
    singular: "cat",
    key: Key::Id,
    fields: &[
        field("name", "name", Kind::Text { min: 1, max: 100, trim: true, format: None }, true, "The cat's name, trimmed."),
        field("breed", "breed", Kind::Text { min: 0, max: 100, trim: false, format: None }, false, "Breed."),
        field("age", "age", Kind::Integer { min: 0, max: 40 }, false, "Age in years."),
        field("color", "color", Kind::Text { min: 0, max: 50, trim: false, format: None }, false, "Coat color."),
    ],
    check: None,
    csv: None,
    example: || json!({"name": "Tom", "breed": "Siamese", "age": 3, "color": "black"}),
};

pub static PASSENGERS: Resource = Resource {
    name: "passengers",
    singular: "passenger",
    key: Key::Id,
    fields: &[
        field("survived", "survived", Kind::Boolean, true, "Whether the passenger survived."),
        field("passengerClass", "passenger_class", Kind::Integer { min: 1, max: 3 }, true, "Ticket class: 1, 2 or 3."),
        field("name", "name", Kind::Text { min: 1, max: 200, trim: true, format: None }, true, "Full name, trimmed."),
        field("sex", "sex", Kind::Choice(&["male", "female"]), true, "`male` or `female`."),
        field("age", "age", Kind::Number { min: 0.0, max: Some(150.0) }, true, "Age in years; fractions allowed."),
        field("siblingsOrSpousesAboard", "siblings_spouses_aboard", Kind::Integer { min: 0, max: i64::MAX }, true, "Siblings or spouses aboard."),
        field("parentsOrChildrenAboard", "parents_children_aboard", Kind::Integer { min: 0, max: i64::MAX }, true, "Parents or children aboard."),
        field("fare", "fare", Kind::Number { min: 0.0, max: None }, true, "Fare paid."),
    ],
    check: None,
    csv: Some(&[
        ("Survived", "survived"),
        ("Pclass", "passengerClass"),
        ("Name", "name"),
        ("Sex", "sex"),
        ("Age", "age"),
        ("Siblings/Spouses Aboard", "siblingsOrSpousesAboard"),
        ("Parents/Children Aboard", "parentsOrChildrenAboard"),
        ("Fare", "fare"),
    ]),
    example: || {
        json!({"survived": false, "passengerClass": 3, "name": "Mr. Owen Harris Braund", "sex": "male", "age": 22.0,
               "siblingsOrSpousesAboard": 1, "parentsOrChildrenAboard": 0, "fare": 7.25})
    },
};

pub static USERS: Resource = Resource {
    name: "users",
    singular: "user",
    key: Key::Id,
    fields: &[
        Field {
            name: "username",
            column: "username",
            kind: Kind::Text { min: 3, max: 50, trim: false, format: Some(Format::Username) },
            required: true,
            unique: Unique::IgnoreCase,
            description: "3–50 characters of `[A-Za-z0-9_.-]`, unique ignoring case.",
        },
        Field {
            name: "email",
            column: "email",
            kind: Kind::Text { min: 3, max: 254, trim: false, format: Some(Format::Email) },
            required: true,
            unique: Unique::IgnoreCase,
            description: "An e-mail address of at most 254 characters, unique ignoring case.",
        },
    ],
    check: None,
    csv: None,
    example: || json!({"username": "ada.lovelace", "email": "ada@example.com"}),
};

pub static CONFIGS: Resource = Resource {
    name: "configs",
    singular: "config",
    key: Key::Field("dcname"),
    fields: &[
        field(
            "dcname",
            "dcname",
            Kind::Text { min: 1, max: 63, trim: false, format: Some(Format::DnsLabel) },
            true,
            "The datacenter's name and the config's key: 1–63 characters of `[a-z0-9-]`, not starting or ending with `-`.",
        ),
        field("metadata", "metadata", Kind::Object, true, "Free-form settings with a few validated keys."),
    ],
    check: Some(check_config_metadata),
    csv: None,
    example: || json!({"dcname": "datacenter-1", "metadata": {"limits": {"cpu": {"enabled": true, "value": "500m"}}, "monitoring": {"enabled": true}}}),
};

/// Every SQL resource, in the order of the contract.
pub static ALL: [&Resource; 4] = [&CATS, &PASSENGERS, &CONFIGS, &USERS];

/// The validated keys of a config's `metadata`; everything else in it is free-form.
fn check_config_metadata(body: &Map<String, Json>, errors: &mut Vec<FieldError>) {
    let Some(Json::Object(metadata)) = body.get("metadata") else { return };
    let mut require_bool = |path: &[&str]| {
        let (value, reached) = lookup(metadata, path);
        let full = format!("metadata.{}", path[..reached.max(1)].join("."));
        match value {
            // A non-object stood on the way (`"monitoring": true`).
            Some(_) if reached < path.len() => errors.push(FieldError::new(full, "must be an object")),
            Some(Json::Bool(_)) => {}
            Some(_) => errors.push(FieldError::new(full, "must be a boolean")),
            None => errors.push(FieldError::new(format!("metadata.{}", path.join(".")), "is required")),
        }
    };
    require_bool(&["monitoring", "enabled"]);
    require_bool(&["limits", "cpu", "enabled"]);
    let (value, reached) = lookup(metadata, &["limits", "cpu", "value"]);
    match value {
        None | Some(Json::Null) => {}
        Some(Json::String(q)) if is_cpu_quantity(q) => {}
        Some(_) if reached == 3 => errors.push(FieldError::new(
            "metadata.limits.cpu.value",
            "must be a Kubernetes CPU quantity such as `500m`, `2` or `1.5`",
        )),
        // A non-object on the way was reported by the `enabled` check above.
        Some(_) => {}
    }
}

/// Follows `path` through nested objects. Returns the value found and how many keys were
/// followed to reach it: fewer than `path.len()` means a non-object stood in the way.
fn lookup<'a>(obj: &'a Map<String, Json>, path: &[&str]) -> (Option<&'a Json>, usize) {
    let mut current = obj;
    for (i, key) in path.iter().enumerate() {
        match current.get(*key) {
            None => return (None, i),
            Some(Json::Object(next)) if i + 1 < path.len() => current = next,
            Some(v) => return (Some(v), i + 1),
        }
    }
    (None, path.len())
}

/// A Kubernetes CPU quantity: whole millicores (`500m`) or a decimal number of cores (`2`,
/// `1.5`). No sign, exponent, spaces or other suffixes.
pub fn is_cpu_quantity(s: &str) -> bool {
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if let Some(millis) = s.strip_suffix('m') {
        return digits(millis);
    }
    match s.split_once('.') {
        Some((whole, frac)) => digits(whole) && digits(frac),
        None => digits(s),
    }
}
