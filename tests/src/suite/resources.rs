//! The four SQL resources, described once so that generic tests (items, conditional, bulk)
//! run against each of them.

use serde_json::Value;

use super::support::{enc, json};

/// (JSON pointer, expected value; `None` = absent).
pub type Expectations = Vec<(&'static str, Option<Value>)>;

pub struct Resource {
    /// Short name, used in test names.
    pub name: &'static str,
    /// Collection path, e.g. `/cats`.
    pub path: &'static str,
    /// The field that names an item in its path (`id`, or `dcname` for configs).
    pub key: &'static str,
    /// The representation's keys, in order.
    pub fields: &'static [&'static str],
    /// The fields a `PUT {}` must report as required.
    pub required: &'static [&'static str],
    /// A valid create body, unique by `tag`.
    pub sample: fn(&str) -> Value,
    /// A valid `PUT` body for the item created from `sample(tag)`, different from it.
    pub replacement: fn(&str) -> Value,
    /// A merge patch for `sample(tag)`, and the expected values afterwards (JSON pointer,
    /// `None` = absent).
    pub patch: fn(&str) -> (Value, Expectations),
    /// A merge patch whose result is invalid, and the field the 422 names.
    pub invalid_patch: fn() -> (Value, &'static str),
    /// An invalid create body for `tag`, and the field the 422 names.
    pub invalid_item: fn(&str) -> (Value, &'static str),
    /// A list query selecting exactly the item made from `sample(tag)` (or `invalid_item(tag)`).
    pub select: fn(&str) -> String,
    /// Whether items have a server-assigned UUID `id`.
    pub has_uuid_id: bool,
}

impl Resource {
    /// The item path for a representation.
    pub fn item_path(&self, item: &Value) -> String {
        let key = item[self.key].as_str().unwrap_or_else(|| {
            panic!("{} item without a string {:?}: {item}", self.name, self.key)
        });
        format!("{}/{key}", self.path)
    }

    /// The item path for a key value.
    pub fn path_of(&self, key: &str) -> String {
        format!("{}/{key}", self.path)
    }

    /// A well-formed key that no item has.
    pub fn missing_key(&self) -> String {
        if self.has_uuid_id {
            super::support::random_uuid()
        } else {
            super::support::tag("missing")
        }
    }

    /// `?select(tag)` on the collection.
    pub fn list_target(&self, tag: &str) -> String {
        format!("{}?{}", self.path, (self.select)(tag))
    }
}

pub static ALL: [Resource; 4] = [CATS, PASSENGERS, CONFIGS, USERS];

pub const CATS: Resource = Resource {
    name: "cats",
    path: "/cats",
    key: "id",
    fields: &[
        "id",
        "name",
        "breed",
        "age",
        "color",
        "createdAt",
        "updatedAt",
    ],
    required: &["name"],
    sample: |tag| json!({"name": format!("Cat {tag}"), "breed": "Siamese", "age": 3, "color": tag}),
    replacement: |tag| json!({"name": format!("Cat {tag} II"), "color": tag}),
    patch: |tag| {
        (
            json!({"age": 7, "breed": null}),
            vec![
                ("/age", Some(json!(7))),
                ("/breed", Some(Value::Null)),
                ("/name", Some(json!(format!("Cat {tag}")))),
                ("/color", Some(json!(tag))),
            ],
        )
    },
    invalid_patch: || (json!({"age": 41}), "age"),
    invalid_item: |tag| (json!({"name": "", "color": tag}), "name"),
    select: |tag| format!("color={}", enc(tag)),
    has_uuid_id: true,
};

pub fn passenger(name: &str) -> Value {
    json!({
        "survived": true,
        "passengerClass": 3,
        "name": name,
        "sex": "male",
        "age": 22.0,
        "siblingsOrSpousesAboard": 1,
        "parentsOrChildrenAboard": 0,
        "fare": 7.25
    })
}

pub const PASSENGERS: Resource = Resource {
    name: "passengers",
    path: "/passengers",
    key: "id",
    fields: &[
        "id",
        "survived",
        "passengerClass",
        "name",
        "sex",
        "age",
        "siblingsOrSpousesAboard",
        "parentsOrChildrenAboard",
        "fare",
        "createdAt",
        "updatedAt",
    ],
    required: &[
        "survived",
        "passengerClass",
        "name",
        "sex",
        "age",
        "siblingsOrSpousesAboard",
        "parentsOrChildrenAboard",
        "fare",
    ],
    sample: |tag| passenger(&format!("Passenger {tag}")),
    replacement: |tag| {
        json!({
            "survived": false,
            "passengerClass": 1,
            "name": format!("Passenger {tag}"),
            "sex": "female",
            "age": 0.42,
            "siblingsOrSpousesAboard": 0,
            "parentsOrChildrenAboard": 2,
            "fare": 512.3292
        })
    },
    patch: |tag| {
        (
            json!({"fare": 8.5, "survived": false}),
            vec![
                ("/fare", Some(json!(8.5))),
                ("/survived", Some(json!(false))),
                ("/name", Some(json!(format!("Passenger {tag}")))),
                ("/age", Some(json!(22.0))),
            ],
        )
    },
    invalid_patch: || (json!({"passengerClass": 4}), "passengerClass"),
    invalid_item: |tag| {
        let mut p = passenger(&format!("Passenger {tag}"));
        p["sex"] = json!("unknown");
        (p, "sex")
    },
    select: |tag| format!("name={}", enc(&format!("Passenger {tag}"))),
    has_uuid_id: true,
};

pub fn config(dcname: &str, owner: &str) -> Value {
    json!({
        "dcname": dcname,
        "metadata": {
            "limits": {"cpu": {"enabled": true, "value": "500m"}},
            "monitoring": {"enabled": true},
            "owner": owner
        }
    })
}

pub const CONFIGS: Resource = Resource {
    name: "configs",
    path: "/configs",
    key: "dcname",
    fields: &["dcname", "metadata", "createdAt", "updatedAt"],
    required: &["metadata"],
    sample: |tag| config(tag, tag),
    // PUT may omit dcname: the path supplies it.
    replacement: |_| json!({"metadata": {"limits": {"cpu": {"enabled": false}}, "monitoring": {"enabled": false}}}),
    patch: |_| {
        (
            json!({"metadata": {"monitoring": {"enabled": false}, "owner": null}}),
            vec![
                ("/metadata/monitoring/enabled", Some(json!(false))),
                ("/metadata/owner", None),
                ("/metadata/limits/cpu/enabled", Some(json!(true))),
                ("/metadata/limits/cpu/value", Some(json!("500m"))),
            ],
        )
    },
    invalid_patch: || {
        (
            json!({"metadata": {"limits": {"cpu": {"enabled": null}}}}),
            "metadata.limits.cpu.enabled",
        )
    },
    invalid_item: |tag| (config(&format!("{tag}-"), tag), "dcname"),
    select: |tag| format!("dcname={}", enc(tag)),
    has_uuid_id: false,
};

pub const USERS: Resource = Resource {
    name: "users",
    path: "/users",
    key: "id",
    fields: &["id", "username", "email", "createdAt", "updatedAt"],
    required: &["username", "email"],
    sample: |tag| json!({"username": tag, "email": format!("{tag}@example.com")}),
    replacement: |tag| json!({"username": tag, "email": format!("{tag}.new@example.org")}),
    patch: |tag| {
        (
            json!({"email": format!("{tag}@example.net")}),
            vec![
                ("/email", Some(json!(format!("{tag}@example.net")))),
                ("/username", Some(json!(tag))),
            ],
        )
    },
    invalid_patch: || (json!({"username": "ab"}), "username"),
    invalid_item: |tag| (json!({"username": tag, "email": "not-an-email"}), "email"),
    select: |tag| format!("username={}", enc(tag)),
    has_uuid_id: true,
};
