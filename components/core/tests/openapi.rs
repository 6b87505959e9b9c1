//! The OpenAPI document states what the server enforces: the rules a fuzzer must know (bounds,
//! enums, unknown fields, U+0000), the headers of every answer, and answers a validator can tell
//! apart. (`scripts/schemathesis.sh` checks the rest against a running server.)

use std::collections::BTreeSet;

use serde_json::{json, Value as Json};
use spincrud_core::openapi::{document, Security, TAGS, WHITESPACE};

fn resolve<'a>(doc: &'a Json, node: &'a Json) -> &'a Json {
    match node.get("$ref").and_then(Json::as_str) {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').expect("a local reference");
            resolve(doc, doc.pointer(pointer).unwrap_or_else(|| panic!("{reference} resolves")))
        }
        None => node,
    }
}

fn schema<'a>(doc: &'a Json, name: &str) -> &'a Json {
    &doc["components"]["schemas"][name]
}

/// Every operation: `(method, path, operation)`.
fn operations(doc: &Json) -> Vec<(String, String, &Json)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            ops.push((method.clone(), path.clone(), op));
        }
    }
    ops
}

#[test]
fn trimmed_names_use_rusts_whitespace() {
    let listed = |c: char| WHITESPACE.iter().any(|&(a, b)| (a..=b).contains(&c));
    for c in (0..=0x10ffff).filter_map(char::from_u32) {
        assert_eq!(listed(c), c.is_whitespace(), "U+{:04X}", c as u32);
    }
}

#[test]
fn inputs_carry_their_bounds() {
    let doc = document(Security::default());
    let passenger = schema(&doc, "NewPassenger");
    assert_eq!(passenger["properties"]["sex"]["enum"], json!(["male", "female"]));
    assert_eq!(passenger["properties"]["passengerClass"], json!({ "type": "integer", "format": "int64", "minimum": 1, "maximum": 3,
        "description": "Ticket class: 1, 2 or 3." }));
    assert_eq!(passenger["properties"]["siblingsOrSpousesAboard"]["maximum"], json!(i64::MAX));
    assert_eq!(passenger["additionalProperties"], json!(false));
    let cat = schema(&doc, "NewCat");
    assert_eq!(cat["properties"]["age"]["type"], json!(["integer", "null"]));
    assert_eq!((cat["properties"]["age"]["minimum"].clone(), cat["properties"]["age"]["maximum"].clone()), (json!(0), json!(40)));
    assert_eq!(cat["properties"]["breed"]["maxLength"], json!(100));
    let user = schema(&doc, "NewUser");
    assert_eq!((user["properties"]["username"]["minLength"].clone(), user["properties"]["username"]["maxLength"].clone()), (json!(3), json!(50)));
    assert_eq!(user["properties"]["email"]["maxLength"], json!(254));
    let metadata = &schema(&doc, "NewConfig")["properties"]["metadata"];
    assert_ne!(metadata["additionalProperties"], json!(false), "metadata is free-form beyond its validated keys");
    assert_eq!(metadata["required"], json!(["monitoring", "limits"]));
    assert!(schema(&doc, "ConfigReplacement")["properties"].get("dcname").is_none(), "a PUT's dcname comes from the path");
    assert_eq!(schema(&doc, "MeteoriteRecord")["properties"]["id"]["minLength"], json!(1));
    assert_eq!(schema(&doc, "MeteoriteRecord")["additionalProperties"], json!(false));

    let params = |path: &str| doc["paths"][path]["get"]["parameters"].as_array().unwrap().clone();
    let param = |path: &str, name: &str| params(path).into_iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("{path} {name}"));
    assert_eq!(param("/cats", "limit")["schema"]["maximum"], json!(1000));
    assert_eq!(param("/cats", "limit")["schema"]["minimum"], json!(0));
    assert_eq!(param("/cats", "offset")["schema"]["maximum"], json!(i64::MAX));
    assert_eq!(param("/cats", "Prefer")["in"], json!("header"));
    assert_eq!(param("/data", "start")["schema"]["maximum"], json!(u64::MAX));
    assert_eq!(param("/passengers", "sex")["schema"], json!({ "type": "string" }), "a filter takes any text: a wrong one matches nothing");
}

/// Every string a request body may carry refuses U+0000 (by a pattern) or is one of fixed values.
#[test]
fn request_strings_refuse_nul() {
    let doc = document(Security::default());
    let mut seen = BTreeSet::new();
    for (method, path, op) in operations(&doc) {
        for content in op["requestBody"]["content"].as_object().into_iter().flat_map(|c| c.values()) {
            check_strings(&doc, &content["schema"], &format!("{method} {path}"), &mut seen);
        }
    }
    assert!(seen.contains("#/components/schemas/FreeJson"), "free-form metadata was walked");
}

fn check_strings(doc: &Json, node: &Json, at: &str, seen: &mut BTreeSet<String>) {
    if let Some(reference) = node.get("$ref").and_then(Json::as_str) {
        if seen.insert(reference.to_string()) {
            check_strings(doc, resolve(doc, node), reference, seen);
        }
        return;
    }
    let Some(object) = node.as_object() else { return };
    let types = match &node["type"] {
        Json::String(t) => vec![t.as_str()],
        Json::Array(ts) => ts.iter().filter_map(Json::as_str).collect(),
        // No type: any value, strings included, unless its branches say what.
        _ if ["oneOf", "anyOf", "allOf"].iter().any(|k| object.contains_key(*k)) => vec![],
        _ => vec!["string"],
    };
    // A pattern refuses U+0000 by naming it in a negated class, or by having only positive ones.
    let refuses_nul = |p: &str| p.contains("\\u0000") || !p.contains("[^");
    let constrained = node.get("enum").is_some() || node.get("const").is_some() || node["pattern"].as_str().is_some_and(refuses_nul);
    let ignored = object.len() == 1 && object.contains_key("description");
    assert!(!types.contains(&"string") || constrained || ignored, "{at}: a string schema without the U+0000 rule: {node}");
    for key in ["properties", "patternProperties"] {
        for (name, child) in node[key].as_object().into_iter().flatten() {
            check_strings(doc, child, &format!("{at}.{name}"), seen);
        }
    }
    for key in ["items", "additionalProperties", "propertyNames"] {
        if node[key].is_object() {
            check_strings(doc, &node[key], &format!("{at}.{key}"), seen);
        }
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        for child in node[key].as_array().into_iter().flatten() {
            check_strings(doc, child, at, seen);
        }
    }
}

/// The `201` of a create matches exactly one `oneOf` branch: object branches forbid other members,
/// and each requires one that the others do not have.
#[test]
fn created_answers_are_unambiguous() {
    let doc = document(Security::default());
    for (method, path, op) in operations(&doc).into_iter().filter(|(m, ..)| m == "post") {
        let Some(branches) = op["responses"]["201"]["content"]["application/json"]["schema"]["oneOf"].as_array() else { continue };
        let objects: Vec<&Json> = branches.iter().map(|b| resolve(&doc, b)).filter(|b| b["type"] == "object").collect();
        for a in &objects {
            assert_eq!(a["additionalProperties"], json!(false), "{method} {path}: {a}");
            for b in objects.iter().filter(|b| !std::ptr::eq(**b, *a)) {
                let required_elsewhere_unknown = a["required"].as_array().unwrap().iter().any(|r| b["properties"].get(r.as_str().unwrap()).is_none());
                assert!(required_elsewhere_unknown, "{method} {path}: an answer could match two branches");
            }
        }
    }
}

#[test]
fn answers_carry_their_headers() {
    let doc = document(Security::default());
    for (method, path, op) in operations(&doc) {
        let label = format!("{} {path}", method.to_uppercase());
        for (status, answer) in op["responses"].as_object().unwrap() {
            let answer = resolve(&doc, answer);
            let headers = &answer["headers"];
            assert!(headers.get("x-request-id").is_some(), "{label} {status}: x-request-id");
            if status == "503" {
                assert_eq!(resolve(&doc, &headers["Retry-After"])["required"], json!(true), "{label} 503: Retry-After");
            }
        }
        let statuses: BTreeSet<&str> = op["responses"].as_object().unwrap().keys().map(String::as_str).collect();
        for status in ["408", "413", "431", "503"] {
            assert!(statuses.contains(status), "{label} can answer {status}");
        }
        if op.get("requestBody").is_some() {
            assert!(statuses.contains("415"), "{label} takes a body: 415");
        }
    }
    let list = &doc["paths"]["/cats"]["get"]["responses"]["200"]["headers"];
    for header in ["X-Total-Count", "Link", "Vary", "Preference-Applied"] {
        assert!(list.get(header).is_some(), "GET /cats: {header}");
    }
    assert_eq!(list["Vary"]["required"], json!(true));
    let item = resolve(&doc, &doc["paths"]["/cats/{id}"]["get"]["responses"]["200"]["headers"]["ETag"]);
    assert_eq!(item["required"], json!(true));
    assert!(doc["paths"]["/cats"]["post"]["responses"]["201"]["headers"].get("Location").is_some());
}

/// Every operation is in its route group's tag, and every tag is listed once, in order.
#[test]
fn operations_are_tagged_by_resource() {
    let doc = document(Security::default());
    let listed: Vec<&str> = doc["tags"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(listed, ["cats", "passengers", "configs", "data", "users", "operations"]);
    assert_eq!(listed, TAGS.map(|(name, _)| name));
    let mut used = BTreeSet::new();
    for (method, path, op) in operations(&doc) {
        let tags = op["tags"].as_array().unwrap_or_else(|| panic!("{method} {path} has no tags"));
        assert_eq!(tags.len(), 1, "{method} {path}");
        let tag = tags[0].as_str().unwrap();
        used.insert(tag);
        let expected = match path.split('/').nth(1).unwrap() {
            "search" => "configs",
            "passengerlist" | "postpassenger" | "getpassenger" | "putpassenger" | "deletepassenger" => "passengers",
            "healthz" | "readyz" | "hello" | "openapi.json" => "operations",
            group => group,
        };
        assert_eq!(tag, expected, "{method} {path}");
    }
    assert_eq!(used.len(), 6, "every tag has operations");
}

/// `security` says what the server's settings need: writes take a token (required once tokens are
/// configured), reads only with `auth_reads`, the operations routes never.
#[test]
fn security_follows_the_settings() {
    let bearer = json!([{ "bearer": [] }]);
    let optional = json!([{}, { "bearer": [] }]);
    for (tokens, auth_reads, write, read) in [("", "", Some(&optional), None), ("t1,t2", "false", Some(&bearer), None), ("t1", "true", Some(&bearer), Some(&bearer))] {
        let doc = document(Security { tokens: !tokens.is_empty(), auth_reads: auth_reads == "true" });
        for (method, path, op) in operations(&doc) {
            let public = op["tags"][0] == "operations";
            let expected = match method.as_str() {
                _ if public => None,
                "get" => read,
                _ => write,
            };
            assert_eq!(op.get("security"), expected, "tokens `{tokens}`, auth_reads `{auth_reads}`: {method} {path}");
            if !public && method == "get" {
                assert!(op["description"].as_str().unwrap().contains("auth_reads"), "{method} {path} describes auth_reads");
            }
        }
    }
    assert!(document(Security::default()).get("security").is_none(), "no document-wide requirement");
}

/// Lists describe their cursor: in the operation and in the `Link` it comes in.
#[test]
fn lists_describe_their_cursor() {
    let doc = document(Security::default());
    for path in ["/cats", "/passengers", "/configs", "/search", "/users", "/passengerlist", "/data"] {
        let op = &doc["paths"][path]["get"];
        assert!(op["description"].as_str().unwrap().contains("`cursor`"), "{path}");
        let link = &op["responses"]["200"]["headers"]["Link"];
        assert!(link["description"].as_str().unwrap().contains("opaque `cursor`"), "{path}");
    }
}
