//! `GET /openapi.json`: an OpenAPI 3.1 document built from the same [`Resource`] definitions that
//! validate requests, so it cannot drift from what the API does.
//!
//! It is exact, because it is used to fuzz the service: every rule the server enforces on an
//! input is in that input's schema (lengths in code points, patterns, enums, integer bounds,
//! unknown fields, U+0000 anywhere), and an input the schema admits is one the server accepts,
//! unless the state decides otherwise (a taken name: `409`; an item that is not there: `404`; an
//! `If-Match` that names an older tag: `412`). Answers are described as exactly: every status an
//! operation can give, with the problem type and headers it carries. `docs/api.md` is the same
//! reference for people, and `tests/api_reference.rs` keeps the two in step.

use http::StatusCode;
use serde_json::{json, Map, Value as Json};

use crate::data;
use crate::problem::{problem_type, PROBLEM_BASE, PROBLEM_JSON, RETRY_AFTER_SECONDS};
use crate::resource::definitions::{ALL, PASSENGERS};
use crate::resource::field::{Field, Format, Kind, Unique};
use crate::resource::list::{DEFAULT_LIMIT, MAX_LIMIT};
use crate::resource::{Key, Resource, READ_ONLY};
use crate::response::{self, Response};

/// Statuses any request can get, whatever its route, so every operation lists them: host-runner
/// answers a request it cannot parse (`400`), whose target or head is too large (`414`, `431`)
/// or whose body is too large or too slow (`413`, `408`) before an operation runs; and an engine
/// can fail on any route (`500`; `503` busy, or a store unreachable; `504` past its deadline).
pub const EVERY_OPERATION: [u16; 8] = [400, 408, 413, 414, 431, 500, 503, 504];

/// The characters Rust's `str::trim` removes (Unicode `White_Space`), as a regex class body.
/// ECMA-262's `\s` differs (it has U+FEFF and lacks U+0085), hence the list.
pub const WHITESPACE: [(char, char); 10] = [
    ('\t', '\r'),
    (' ', ' '),
    ('\u{85}', '\u{85}'),
    ('\u{a0}', '\u{a0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200a}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202f}', '\u{202f}'),
    ('\u{205f}', '\u{205f}'),
    ('\u{3000}', '\u{3000}'),
];

/// A string without U+0000, which no store keeps (every string field refuses it).
const NO_NUL: &str = "^[^\\u0000]*$";
/// An ETag as the server writes it.
const ETAG_PATTERN: &str = "^\"[0-9a-f]{32}\"$";
/// `"*" / #entity-tag` (RFC 9110 §13.1.1): a list of strong or weak tags, or `*`.
const CONDITION_PATTERN: &str =
    "^[ \\t]*(\\*|((W/)?\"[\\x21\\x23-\\x7e\\x80-\\xff]*\")?([ \\t]*,[ \\t]*((W/)?\"[\\x21\\x23-\\x7e\\x80-\\xff]*\")?)*)[ \\t]*$";

/// The route groups, one tag each, in the order `/docs` shows them.
pub const TAGS: [(&str, &str); 6] = [
    ("cats", "Cats: `/cats`, `/cats/{id}`."),
    ("passengers", "Titanic passengers (JSON or the titanic.csv layout), and the seed service's routes."),
    ("configs", "Datacenter configs with nested metadata, and `/search` by metadata."),
    ("data", "Meteorite-landing records in the key-value store."),
    ("users", "Users: username and email unique ignoring case."),
    ("operations", "Liveness, readiness, the greeting and this document: public whatever the settings."),
];

/// What the server's settings ask of a client, which the document states per operation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Security {
    /// Tokens are configured: writes need one.
    pub tokens: bool,
    /// Reads need one too.
    pub auth_reads: bool,
}

/// `GET /openapi.json`: the document for this server's settings (which operations need a token).
pub fn response(security: Security) -> Response {
    response::json(StatusCode::OK, &document(security))
}

/// The document. It differs between settings only in `security`: an operation lists the bearer
/// scheme when it takes a token (writes) and requires it when this server does (API tokens set;
/// reads only with `auth_reads`).
pub fn document(security: Security) -> Json {
    let mut paths = Map::new();
    for r in ALL {
        let (collection, item) = resource_paths(r);
        paths.insert(format!("/{}", r.name), collection);
        paths.insert(format!("/{}/{{{}}}", r.name, r.key_name()), item);
    }
    seed_paths(&mut paths);
    data_paths(&mut paths);
    ops_paths(&mut paths);
    tag_and_secure(&mut paths, security);
    let tags: Vec<Json> = TAGS.iter().map(|(name, description)| json!({ "name": name, "description": description })).collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "spincrud",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Cats, Titanic passengers, datacenter configs, meteorite records and users. \
                Errors are RFC 9457 problem documents. Lists page by `limit` and `offset`, or by the opaque `cursor` of their \
                `Link: rel=\"next\"`, which costs the same at any depth. Answers of 1 KiB or more are gzip-compressed when \
                `Accept-Encoding` takes gzip (`Vary: Accept-Encoding`). With `cors_origins` set, pages on the listed origins \
                may call the API (CORS). The reference for people is docs/api.md in the repository."
        },
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "responses": problem_responses(),
            "headers": headers(),
            "parameters": { "RequestId": {
                "name": "x-request-id", "in": "header", "required": false, "schema": { "type": "string" },
                "description": "Echoed in the answer when it is 1 to 200 bytes; otherwise the answer carries a new UUID."
            } },
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer",
                "description": "A token of `api_tokens` (API_TOKENS). Writes need one when tokens are configured; reads only \
                    with `auth_reads` (AUTH_READS=true). Each operation's `security` says what this server needs." } }
        }
    })
}

/// The tag of a path: its route group.
fn tag_of(path: &str) -> &'static str {
    match path.trim_start_matches('/').split('/').next().unwrap_or("") {
        "cats" => "cats",
        "passengers" | "passengerlist" | "postpassenger" | "getpassenger" | "putpassenger" | "deletepassenger" => "passengers",
        "configs" | "search" => "configs",
        "data" => "data",
        "users" => "users",
        _ => "operations",
    }
}

/// Tags every operation with its group and gives it the `security` this server's settings ask
/// for: none on the operations routes; on reads, the bearer scheme only with `auth_reads` (and
/// tokens); on writes, the bearer scheme, optional (`{}`) while no tokens are configured.
fn tag_and_secure(paths: &mut Map<String, Json>, Security { tokens, auth_reads }: Security) {
    let bearer = json!({ "bearer": [] });
    for (path, item) in paths.iter_mut() {
        let tag = tag_of(path);
        let Some(operations) = item.as_object_mut() else { continue };
        for (method, op) in operations.iter_mut() {
            op["tags"] = json!([tag]);
            let security = match (tag, method.as_str()) {
                ("operations", _) => None,
                (_, "get") if tokens && auth_reads => Some(json!([bearer])),
                (_, "get") => None,
                _ if tokens => Some(json!([bearer])),
                _ => Some(json!([{}, bearer])),
            };
            let Some(op) = op.as_object_mut() else { continue };
            match security {
                Some(security) => {
                    op.insert("security".into(), security);
                }
                None => {
                    op.remove("security");
                }
            }
            let mut description = Vec::new();
            if op.get("responses").and_then(|r| r.get("200")).and_then(|r| r.get("headers")).is_some_and(|h| h.get("Link").is_some()) {
                description.push(if path == "/data" {
                    "Records from position `start`, or after the `cursor` of a previous page's `Link: rel=\"next\"`, which is the way \
                     to walk the collection: the next page starts right after the last record shown, even when records before it were \
                     deleted. The cursor is opaque; take the whole `Link` target as it is."
                } else {
                    "A page: `limit` items from `offset`, or after the `cursor` of a previous page's `Link: rel=\"next\"`, which is the \
                     way to walk a large list: it costs one page at any depth. The cursor is opaque; take the whole `Link` target as it is."
                });
            }
            if tag != "operations" && method == "get" {
                description.push("Needs a bearer token only when the server sets `auth_reads` (AUTH_READS=true); its `security` then says so.");
            }
            if !description.is_empty() {
                op.insert("description".into(), json!(description.join(" ")));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Schemas

fn schema_ref(name: &str) -> Json {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn schema_name(r: &Resource) -> String {
    let mut name = r.singular.to_string();
    name[..1].make_ascii_uppercase();
    name
}

fn schemas() -> Map<String, Json> {
    let mut schemas = Map::new();
    for r in ALL {
        let name = schema_name(r);
        schemas.insert(name.clone(), item_schema(r));
        schemas.insert(format!("New{name}"), write_schema(r, false));
        if r.key != Key::Id {
            schemas.insert(format!("{name}Replacement"), write_schema(r, true));
        }
        schemas.insert(format!("{name}Patch"), patch_schema(r));
    }
    schemas.insert("PassengerImport".into(), json!({
        "type": "object", "required": ["imported"], "additionalProperties": false,
        "properties": { "imported": { "type": "integer", "minimum": 0, "description": "Rows imported." } }
    }));
    schemas.insert("MeteoriteRecord".into(), record_schema());
    schemas.insert("Loaded".into(), json!({
        "type": "object", "required": ["loaded"], "additionalProperties": false,
        "properties": { "loaded": { "type": "integer", "minimum": 0, "description": "Records in the load, repeated ids included." } }
    }));
    schemas.insert("FreeJson".into(), json!({
        "description": "Any JSON value without U+0000 in a string or an object key.",
        "pattern": NO_NUL, "propertyNames": { "pattern": NO_NUL },
        "items": schema_ref("FreeJson"), "additionalProperties": schema_ref("FreeJson")
    }));
    schemas.insert("FreeJsonPatch".into(), json!({
        "description": "A merge-patch value below a config's `metadata`: as FreeJson, except that a member whose \
            value is `null` removes that key (whatever the key is).",
        "pattern": NO_NUL, "patternProperties": { "\\u0000": { "type": "null" } },
        "items": schema_ref("FreeJson"), "additionalProperties": schema_ref("FreeJsonPatch")
    }));
    schemas.insert("Problem".into(), problem_schema());
    schemas.insert("FieldError".into(), json!({
        "type": "object", "required": ["field", "message"], "additionalProperties": false,
        "properties": {
            "line": { "type": "integer", "minimum": 0, "description": "CSV imports: the file line (header = 1)." },
            "field": { "type": "string", "description": "Dotted path, `[i]` for array items; `\"\"` is the body itself." },
            "message": { "type": "string" }
        }
    }));
    schemas
}

/// Which side of the API a field schema is for: what a client may send, or what it gets back.
#[derive(Clone, Copy, PartialEq)]
enum Side {
    Request,
    Response,
}

fn field_schema(f: &Field, side: Side) -> Json {
    let mut s = match f.kind {
        Kind::Text { min, max, trim: true, .. } => {
            // The length counts after trimming, so the pattern bounds the text between the first
            // and last non-space characters; a stored name has no surrounding space.
            let pattern = trimmed_text_pattern(min, max, side == Side::Request);
            let mut s = json!({ "type": "string", "pattern": pattern });
            if side == Side::Response {
                s["minLength"] = json!(min);
                s["maxLength"] = json!(max);
            }
            s
        }
        Kind::Text { min, max, trim: false, format } => {
            let pattern = format.map_or(NO_NUL.to_string(), format_pattern);
            json!({ "type": "string", "minLength": min, "maxLength": max, "pattern": pattern })
        }
        Kind::Integer { min, max } => json!({ "type": "integer", "format": "int64", "minimum": min, "maximum": max }),
        Kind::Number { min, max } => {
            let mut s = json!({ "type": "number", "minimum": min });
            if let Some(max) = max {
                s["maximum"] = json!(max);
            }
            s
        }
        Kind::Boolean => json!({ "type": "boolean" }),
        Kind::Choice(choices) => json!({ "type": "string", "enum": choices }),
        Kind::Object => config_metadata_schema(false),
    };
    if !f.required {
        let ty = s["type"].clone();
        s["type"] = json!([ty, "null"]);
        if let Some(choices) = s.get_mut("enum").and_then(Json::as_array_mut) {
            choices.push(Json::Null);
        }
    }
    s["description"] = json!(f.description);
    s
}

fn whitespace_class(negated: bool, extra: &str) -> String {
    let ranges: String = WHITESPACE
        .iter()
        .map(|&(a, b)| if a == b { unicode_escape(a) } else { format!("{}-{}", unicode_escape(a), unicode_escape(b)) })
        .collect();
    format!("[{}{ranges}{extra}]", if negated { "^" } else { "" })
}

fn unicode_escape(c: char) -> String {
    format!("\\u{:04x}", c as u32)
}

/// `min..=max` code points once surrounding whitespace is trimmed (`min` ≥ 1), without U+0000;
/// with `padded`, any whitespace around them.
fn trimmed_text_pattern(min: usize, max: usize, padded: bool) -> String {
    let space = whitespace_class(false, "");
    let solid = whitespace_class(true, "\\u0000");
    let between = if min <= 1 {
        format!("(?:[^\\u0000]{{0,{}}}{solid})?", max.saturating_sub(2))
    } else {
        format!("[^\\u0000]{{{},{}}}{solid}", min - 2, max.saturating_sub(2))
    };
    let pad = if padded { format!("{space}*") } else { String::new() };
    format!("^{pad}{solid}{between}{pad}$")
}

/// The pattern of a text format, exactly as [`Format`] checks it (lengths are bounded apart).
fn format_pattern(format: Format) -> String {
    match format {
        Format::Username => "^[A-Za-z0-9_.-]*$".into(),
        // `field::is_email`: a 1–64 character local part, and dot-separated labels of 1–63
        // letters, digits and `-`, not starting or ending with `-`.
        Format::Email => {
            let label = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
            format!("^[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]{{1,64}}@{label}(?:\\.{label})*$")
        }
        Format::DnsLabel => "^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$".into(),
    }
}

/// The pattern of a Kubernetes CPU quantity, as `definitions::is_cpu_quantity` checks it.
const CPU_QUANTITY_PATTERN: &str = "^(?:[0-9]+m|[0-9]+(?:\\.[0-9]+)?)$";

/// A config's `metadata`: the validated keys, and anything else without U+0000. As a merge
/// patch (`patch`), keys may be left out and free-form ones removed with `null`.
fn config_metadata_schema(patch: bool) -> Json {
    let boolean = json!({ "type": "boolean" });
    let value = json!({ "type": ["string", "null"], "pattern": CPU_QUANTITY_PATTERN,
        "description": "A Kubernetes CPU quantity: whole millicores (`500m`) or a decimal number of cores (`2`, `1.5`); not trimmed." });
    let cpu = free_object(patch, &[("enabled", boolean.clone()), ("value", value)], &["enabled"]);
    let limits = free_object(patch, &[("cpu", cpu)], &["cpu"]);
    let monitoring = free_object(patch, &[("enabled", boolean)], &["enabled"]);
    let mut metadata = free_object(patch, &[("monitoring", monitoring), ("limits", limits)], &["monitoring", "limits"]);
    metadata["description"] = json!("Free-form settings; `monitoring.enabled` and `limits.cpu.enabled` are required booleans, \
        `limits.cpu.value` an optional CPU quantity. No string or key anywhere in it may contain U+0000.");
    metadata
}

/// An object with some validated members and free-form others.
fn free_object(patch: bool, properties: &[(&str, Json)], required: &[&str]) -> Json {
    let properties: Map<String, Json> = properties.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    if patch {
        json!({ "type": "object", "properties": properties,
            "patternProperties": { "\\u0000": { "type": "null" } }, "additionalProperties": schema_ref("FreeJsonPatch") })
    } else {
        json!({ "type": "object", "properties": properties, "required": required,
            "propertyNames": { "pattern": NO_NUL }, "additionalProperties": schema_ref("FreeJson") })
    }
}

fn timestamp_schema(what: &str) -> Json {
    json!({ "type": "string", "format": "date-time", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z$",
        "readOnly": true, "description": what })
}

/// The representation of an item, as every answer gives it: every field present, `null` when
/// unset.
fn item_schema(r: &Resource) -> Json {
    let mut props = Map::new();
    if r.key == Key::Id {
        props.insert("id".into(), json!({ "type": "string", "format": "uuid", "readOnly": true,
            "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", "description": "Server-assigned UUID v4." }));
    }
    for f in r.fields {
        props.insert(f.name.into(), field_schema(f, Side::Response));
    }
    props.insert("createdAt".into(), timestamp_schema("When the item was created (RFC 3339 UTC, microseconds)."));
    props.insert("updatedAt".into(), timestamp_schema("When the item was last written."));
    let required: Vec<String> = props.keys().cloned().collect();
    json!({ "type": "object", "properties": props, "required": required, "additionalProperties": false })
}

/// The body of a create (`POST`) or, with `key_from_path`, of a replace (`PUT`) of a resource
/// keyed by one of its fields (a config's `dcname`).
fn write_schema(r: &Resource, key_from_path: bool) -> Json {
    let mut props = Map::new();
    let mut required = Vec::new();
    for f in r.fields {
        if key_from_path && r.key == Key::Field(f.name) {
            // It may be sent only equal to the path's, which a schema cannot say: leave it out.
            continue;
        }
        props.insert(f.name.into(), field_schema(f, Side::Request));
        if f.required {
            required.push(f.name);
        }
    }
    read_only_members(&mut props);
    let mut s = json!({ "type": "object", "properties": props, "required": required, "additionalProperties": false,
        "examples": [(r.example)()] });
    if key_from_path {
        s["description"] = json!(format!("`{0}` comes from the path; the body may also carry it, equal to the path's.", r.key_name()));
        if let Some(example) = s["examples"][0].as_object_mut() {
            example.remove(r.key_name());
        }
    }
    s
}

/// `id`, `createdAt` and `updatedAt` are allowed in every body and ignored, whatever they hold.
fn read_only_members(props: &mut Map<String, Json>) {
    for name in READ_ONLY {
        // Not `readOnly`: that would forbid them in requests, and the server takes any value.
        props.insert(name.into(), json!({ "description": "Ignored: the server sets it." }));
    }
}

/// A JSON Merge Patch (RFC 7396) whose result is valid whatever valid item it is merged into:
/// required fields may be left out but not removed (`null`), optional ones may be removed, and a
/// key the resource does not have may only be removed (a no-op).
fn patch_schema(r: &Resource) -> Json {
    let mut props = Map::new();
    for f in r.fields {
        let schema = if r.key == Key::Field(f.name) {
            // Removing the key field leaves the path's in place; another value is a 422.
            json!({ "type": "null", "description": format!("Only `null` (a no-op) or the path's own `{}`.", f.name) })
        } else if let Kind::Object = f.kind {
            config_metadata_schema(true)
        } else {
            field_schema(f, Side::Request)
        };
        props.insert(f.name.into(), schema);
    }
    read_only_members(&mut props);
    json!({ "type": "object", "properties": props, "additionalProperties": { "type": "null" },
        "description": format!("A JSON Merge Patch of a {}; the merged result is validated as a PUT body would be.", r.singular) })
}

fn record_schema() -> Json {
    let mut props = Map::new();
    for name in data::FIELDS {
        props.insert(name.into(), json!({ "type": "string", "pattern": NO_NUL }));
    }
    props["id"]["minLength"] = json!(1);
    props["id"]["description"] = json!("The record's key: unique, not empty.");
    json!({ "type": "object", "properties": props, "required": ["id"], "additionalProperties": false })
}

fn problem_schema() -> Json {
    json!({
        "type": "object",
        "description": "An RFC 9457 problem document.",
        "required": ["type", "title", "status", "detail"],
        "additionalProperties": false,
        "properties": {
            "type": { "type": "string", "pattern": format!("^{}[a-z-]+$", PROBLEM_BASE.replace('.', "\\.")) },
            "title": { "type": "string", "description": "The status's RFC 9110 reason phrase." },
            "status": { "type": "integer", "minimum": 400, "maximum": 599 },
            "detail": { "type": "string" },
            "errors": { "type": "array", "minItems": 1, "items": schema_ref("FieldError"),
                "description": "The fields at fault (`422` always; `409` when it can name one)." },
            "checks": readiness_checks("unavailable")
        }
    })
}

fn readiness_checks(failed: &str) -> Json {
    let state = json!({ "type": "string", "enum": ["ok", failed] });
    json!({ "type": "object", "required": ["sql", "kv"], "additionalProperties": false,
        "properties": { "sql": state, "kv": state } })
}

// ---------------------------------------------------------------------------------------------
// Answers

fn headers() -> Map<String, Json> {
    let h = |required: bool, schema: Json, description: &str| json!({ "required": required, "schema": schema, "description": description });
    let mut m = Map::new();
    m.insert("RequestId".into(), h(true, json!({ "type": "string", "minLength": 1 }), "The client's `x-request-id` (1 to 200 bytes), or a new UUID."));
    m.insert("ETag".into(), h(true, json!({ "type": "string", "pattern": ETAG_PATTERN }), "A strong tag of the representation."));
    m.insert("RetryAfter".into(), h(true, json!({ "type": "integer", "const": RETRY_AFTER_SECONDS }), "Seconds to wait before trying again."));
    m.insert("WwwAuthenticate".into(), h(true, json!({ "type": "string", "const": "Bearer" }), "The scheme to authenticate with."));
    m
}

fn header_ref(name: &str) -> Json {
    json!({ "$ref": format!("#/components/headers/{name}") })
}

/// The headers of an answer: `x-request-id`, and `extra`.
fn answer_headers(extra: &[(&str, Json)]) -> Json {
    let mut m = Map::new();
    m.insert("x-request-id".into(), header_ref("RequestId"));
    for (name, h) in extra {
        m.insert(name.to_string(), h.clone());
    }
    Json::Object(m)
}

/// One reusable problem answer per status, `Problem<status>`, with that status's type and title.
fn problem_responses() -> Map<String, Json> {
    let statuses = [400, 401, 404, 408, 409, 412, 413, 414, 415, 422, 431, 500, 503, 504];
    statuses.iter().map(|&s| (format!("Problem{s}"), problem_answer(s, None))).collect()
}

fn problem_answer(status: u16, extra: Option<Json>) -> Json {
    let (slug, title) = problem_type(StatusCode::from_u16(status).expect("a valid status"));
    let mut specific = json!({ "properties": {
        "type": { "const": format!("{PROBLEM_BASE}{slug}") }, "title": { "const": title }, "status": { "const": status }
    } });
    if status == 422 {
        specific["required"] = json!(["errors"]);
    }
    let mut all_of = vec![schema_ref("Problem"), specific];
    all_of.extend(extra);
    let mut extra_headers = Vec::new();
    match status {
        401 => extra_headers.push(("WWW-Authenticate", header_ref("WwwAuthenticate"))),
        503 => extra_headers.push(("Retry-After", header_ref("RetryAfter"))),
        _ => {}
    }
    json!({
        "description": problem_description(status),
        "headers": answer_headers(&extra_headers),
        "content": { PROBLEM_JSON: { "schema": { "allOf": all_of } } }
    })
}

fn problem_description(status: u16) -> &'static str {
    match status {
        400 => "Bad Request: malformed JSON or CSV, a bad query parameter, or (host-runner) a request that is not valid HTTP.",
        401 => "Unauthorized: a bearer token is needed (API tokens are configured).",
        404 => "Not Found: no item has this key (a key that breaks the key's rules included).",
        408 => "Request Timeout (host-runner): the body did not arrive within BODY_TIMEOUT; the connection is closed.",
        409 => "Conflict: a unique value is taken (by an item, or an earlier item of the same request).",
        412 => "Precondition Failed: If-Match names no current tag, or is malformed; nothing was changed.",
        413 => "Content Too Large: the body is larger than BODY_LIMIT (1 MiB by default).",
        414 => "URI Too Long (host-runner): the request target is longer than the server reads.",
        415 => "Unsupported Media Type: no Content-Type, another media type, or a charset other than UTF-8.",
        422 => "Unprocessable Content: the body breaks a field rule; `errors` names every field at fault.",
        431 => "Request Header Fields Too Large (host-runner): the request head is larger than MAX_HEADER_BYTES (64 KiB by default).",
        500 => "Internal Server Error: the server failed; the answer carries no internals.",
        503 => "Service Unavailable: a store is unreachable, a write waited too long for its turn, or the engine is busy.",
        504 => "Gateway Timeout (wasm engine): the component did not answer within its deadline.",
        _ => "A problem.",
    }
}

fn problem_ref(status: u16) -> Json {
    json!({ "$ref": format!("#/components/responses/Problem{status}") })
}

fn json_content(schema: Json) -> Json {
    json!({ "application/json": { "schema": schema } })
}

/// An operation: its successful answers, its own problem statuses and [`EVERY_OPERATION`]'s.
struct Op<'a> {
    id: String,
    summary: String,
    successes: Vec<(u16, Json)>,
    problems: &'a [u16],
    params: Vec<Json>,
    body: Option<Json>,
}

impl Op<'_> {
    fn build(self) -> Json {
        let mut responses = Map::new();
        for &s in self.problems.iter().chain(&EVERY_OPERATION) {
            responses.insert(s.to_string(), problem_ref(s));
        }
        for (status, answer) in self.successes {
            responses.insert(status.to_string(), answer);
        }
        let mut params = self.params;
        params.push(json!({ "$ref": "#/components/parameters/RequestId" }));
        let mut o = json!({ "operationId": self.id, "summary": self.summary, "parameters": params, "responses": responses });
        if let Some(body) = self.body {
            o["requestBody"] = body;
        }
        o
    }
}

/// OpenAPI links from an answer to the operations on the item it names (`key_source`), with its
/// ETag as their `If-Match` when `etag`: how a client (or a fuzzer) goes from one call to the next.
fn links(operations: &[String], key: &str, key_source: &str, etag: bool) -> Json {
    let mut parameters = json!({ key: key_source });
    if etag {
        parameters["header.If-Match"] = json!("$response.header.ETag");
    }
    let links: Map<String, Json> =
        operations.iter().map(|op| (op.clone(), json!({ "operationId": op, "parameters": parameters }))).collect();
    Json::Object(links)
}

fn with_id(mut op: Json, id: &str, summary: &str) -> Json {
    op["operationId"] = json!(id);
    op["summary"] = json!(summary);
    op
}

// ---------------------------------------------------------------------------------------------
// Paths

const LIST: &[u16] = &[400, 401, 503];
const CREATE: &[u16] = &[400, 401, 415, 422, 503];
const CREATE_UNIQUE: &[u16] = &[400, 401, 409, 415, 422, 503];
const GET: &[u16] = &[401, 404, 503];
const WRITE: &[u16] = &[400, 401, 404, 412, 415, 422, 503];
const WRITE_UNIQUE: &[u16] = &[400, 401, 404, 409, 412, 415, 422, 503];
const DELETE: &[u16] = &[401, 404, 412, 503];

/// A create can conflict (`409`) on a unique field or a client-given key; a replace or patch only
/// on a unique field (the key cannot change).
fn create_problems(r: &Resource) -> &'static [u16] {
    if has_unique_field(r) || r.key != Key::Id {
        CREATE_UNIQUE
    } else {
        CREATE
    }
}

fn write_problems(r: &Resource) -> &'static [u16] {
    if has_unique_field(r) {
        WRITE_UNIQUE
    } else {
        WRITE
    }
}

fn has_unique_field(r: &Resource) -> bool {
    r.fields.iter().any(|f| f.unique != Unique::No)
}

fn query(name: &str, schema: Json, description: &str) -> Json {
    json!({ "name": name, "in": "query", "required": false, "schema": schema, "description": description })
}

fn list_params(r: &Resource) -> Vec<Json> {
    let mut params = vec![
        query("limit", json!({ "type": "integer", "minimum": 0, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT }), "Items per page."),
        query("offset", json!({ "type": "integer", "minimum": 0, "maximum": i64::MAX, "default": 0 }), "Items to skip."),
    ];
    let mut orders = Vec::new();
    for f in r.fields.iter().filter(|f| f.is_scalar()) {
        orders.push(format!("{}.asc", f.name));
        orders.push(format!("{}.desc", f.name));
        params.push(query(f.name, filter_schema(f), "Equality filter: items whose value equals this one."));
    }
    orders.extend(["createdAt.asc", "createdAt.desc", "updatedAt.asc", "updatedAt.desc"].map(String::from));
    params.push(query("order", json!({ "type": "string", "enum": orders }), "Sort order; ties and the default are creation order."));
    for f in r.fields.iter().filter(|f| !f.is_scalar()) {
        // Every `<field>.<path>=<text>` parameter, as the members of one exploded object.
        params.push(json!({
            "name": f.name, "in": "query", "required": false, "style": "form", "explode": true,
            "schema": { "type": "object", "additionalProperties": { "type": "string" },
                "propertyNames": { "pattern": format!("^{}(\\.[^.\"]+)+$", f.name) } },
            "description": format!("`{}.<dotted.path>=<text>` filters: the value at the path, as JSON text without quotes for a string, \
                equals `<text>`. Path keys are not empty and have no `\"`.", f.name)
        }));
    }
    params.push(json!({
        "name": "Prefer", "in": "header", "required": false, "schema": { "type": "string" },
        "description": "RFC 7240 preferences; `count=exact` (the default) or `count=none` (no X-Total-Count). \
            Other values of `count` are answered exactly; other preferences are ignored."
    }));
    params
}

/// What an equality filter takes: any value of the column's type (not the field's bounds: a
/// value outside them simply matches nothing).
fn filter_schema(f: &Field) -> Json {
    match f.kind {
        Kind::Integer { .. } => json!({ "type": "integer", "minimum": i64::MIN, "maximum": i64::MAX }),
        Kind::Number { .. } => json!({ "type": "number" }),
        Kind::Boolean => json!({ "type": "boolean" }),
        Kind::Text { .. } | Kind::Choice(_) | Kind::Object => json!({ "type": "string" }),
    }
}

fn list_answer(description: String, items: Json, exact_count_always: bool) -> Json {
    let count = json!({ "required": exact_count_always, "schema": { "type": "integer", "minimum": 0 },
        "description": "The number of matches before paging (absent with `Prefer: count=none`)." });
    let link = json!({ "required": false, "schema": { "type": "string", "pattern": "^<[^>]*>; rel=\"next\"$" },
        "description": "The next page, when more remain: this request's path and parameters with `limit` and an opaque `cursor` \
            (in place of `offset` or `start`), which continues after this page's last item at the cost of one page at any depth. \
            Follow it as it is: a cursor that was changed, or is used with another `order` or list, is 400." });
    let mut headers = vec![("X-Total-Count", count), ("Link", link)];
    if !exact_count_always {
        headers.push(("Vary", json!({ "required": true, "schema": { "type": "string", "pattern": "^Prefer(, Accept-Encoding)?, Origin$" },
            "description": "The answer depends on `Prefer`, on `Accept-Encoding` when it is long enough to be compressed, and on \
                `Origin` (which decides the CORS headers)." })));
        headers.push(("Preference-Applied", json!({ "required": false, "schema": { "type": "string", "enum": ["count=exact", "count=none"] },
            "description": "The count preference applied, when the request stated one." })));
    }
    json!({ "description": description, "headers": answer_headers(&headers), "content": json_content(json!({ "type": "array", "items": items })) })
}

fn not_modified() -> (u16, Json) {
    (304, json!({ "description": "Not Modified: `If-None-Match` names the current tag, or is `*`.",
        "headers": answer_headers(&[("ETag", header_ref("ETag"))]) }))
}

fn no_content(what: &str) -> (u16, Json) {
    (204, json!({ "description": what, "headers": answer_headers(&[]) }))
}

fn condition_param(name: &str) -> Json {
    let (description, schema) = if name == "If-Match" {
        ("`*`, or a comma-separated list of ETags: the write happens only if one is the current tag (compared strongly). \
          Anything else, an empty value included, fails (412).", json!({ "type": "string", "pattern": CONDITION_PATTERN }))
    } else {
        // A malformed value is ignored (RFC 9110 §13.1.2), so every string is accepted.
        ("`*`, or a comma-separated list of ETags: 304 when one is the current tag (compared weakly). \
          A value that is neither is ignored.", json!({ "type": "string" }))
    };
    json!({ "name": name, "in": "header", "required": false, "schema": schema, "description": description })
}

fn resource_paths(r: &'static Resource) -> (Json, Json) {
    (collection_path(r), item_path(r))
}

fn collection_path(r: &'static Resource) -> Json {
    let name = schema_name(r);
    let new_item = schema_ref(&format!("New{name}"));
    let mut content = json_content(json!({ "oneOf": [new_item.clone(), { "type": "array", "items": new_item }] }));
    if std::ptr::eq(r, &PASSENGERS) {
        content["text/csv"] = json!({ "schema": csv_schema(r) });
    }
    json!({
        "get": Op { id: format!("list{name}s"), summary: format!("List {}.", r.name),
            successes: vec![(200, list_answer(format!("A page of {}.", r.name), schema_ref(&name), false))],
            problems: LIST, params: list_params(r), body: None }.build(),
        "post": Op { id: format!("create{name}"), summary: format!("Create a {} (an object), or many in one transaction (an array).", r.singular),
            successes: vec![(201, created_answer(r))], problems: create_problems(r), params: vec![],
            body: Some(json!({ "required": true, "content": content })) }.build(),
    })
}

/// The `201` of a create: the item, the array of a bulk create, or a CSV import's count. The
/// branches exclude each other (an object with the item's fields, an array, an object with only
/// `imported`), so exactly one matches.
fn created_answer(r: &'static Resource) -> Json {
    let item = schema_ref(&schema_name(r));
    let mut created = vec![item.clone(), json!({ "type": "array", "items": item })];
    if std::ptr::eq(r, &PASSENGERS) {
        created.push(schema_ref("PassengerImport"));
    }
    let optional = |schema: Json| json!({ "required": false, "schema": schema });
    let key = r.key_name();
    json!({
        "description": "Created: the item (with Location and ETag), or the array of a bulk create, or `{\"imported\": N}` of a CSV import.",
        "headers": answer_headers(&[("Location", optional(json!({ "type": "string" }))),
            ("ETag", optional(json!({ "type": "string", "pattern": ETAG_PATTERN })))]),
        "content": json_content(json!({ "oneOf": created })),
        "links": links(&item_operations(r), key, &format!("$response.body#/{key}"), false)
    })
}

/// The operation ids on one item: get, replace, patch, delete, then the seed routes' own.
fn item_operations(r: &'static Resource) -> Vec<String> {
    let name = schema_name(r);
    let mut ops: Vec<String> = ["get", "replace", "patch", "delete"].iter().map(|verb| format!("{verb}{name}")).collect();
    if std::ptr::eq(r, &PASSENGERS) {
        ops.extend(["seedGetPassenger", "seedReplacePassenger", "seedDeletePassenger"].map(String::from));
    }
    ops
}

/// An answer with the item and its ETag.
fn item_answer(r: &Resource, what: &str) -> Json {
    json!({ "description": what, "headers": answer_headers(&[("ETag", header_ref("ETag"))]), "content": json_content(schema_ref(&schema_name(r))) })
}

fn key_param(r: &Resource) -> Json {
    let schema = match r.key {
        Key::Id => json!({ "type": "string", "format": "uuid" }),
        Key::Field(name) => field_schema(r.field(name).expect("the key is a field"), Side::Request),
    };
    json!({ "name": r.key_name(), "in": "path", "required": true, "schema": schema,
        "description": "An item's key; one that breaks the key's rules is 404 whatever the method." })
}

fn item_path(r: &'static Resource) -> Json {
    let name = schema_name(r);
    let key = r.key_name();
    let mut got = item_answer(r, "The item.");
    got["links"] = links(&item_operations(r)[1..4], key, &format!("$request.path.{key}"), true);
    let replacement = if r.key == Key::Id { format!("New{name}") } else { format!("{name}Replacement") };
    let patch = schema_ref(&format!("{name}Patch"));
    let patch_content = json!({ "application/json": { "schema": patch }, "application/merge-patch+json": { "schema": patch } });
    let conditional = |header: &str| vec![key_param(r), condition_param(header)];
    json!({
        "get": Op { id: format!("get{name}"), summary: format!("Get a {}.", r.singular),
            successes: vec![(200, got), not_modified()], problems: GET, params: conditional("If-None-Match"), body: None }.build(),
        "put": Op { id: format!("replace{name}"), summary: format!("Replace a {}.", r.singular),
            successes: vec![(200, item_answer(r, "The replaced item."))], problems: write_problems(r), params: conditional("If-Match"),
            body: Some(json!({ "required": true, "content": json_content(schema_ref(&replacement)) })) }.build(),
        "patch": Op { id: format!("patch{name}"), summary: format!("Apply a JSON Merge Patch to a {}.", r.singular),
            successes: vec![(200, item_answer(r, "The patched item."))], problems: write_problems(r), params: conditional("If-Match"),
            body: Some(json!({ "required": true, "content": patch_content })) }.build(),
        "delete": Op { id: format!("delete{name}"), summary: format!("Delete a {}.", r.singular),
            successes: vec![no_content("Deleted.")], problems: DELETE, params: conditional("If-Match"), body: None }.build(),
    })
}

/// The CSV layout a resource imports, one row per item: the header, then rows of the canonical
/// cell forms. The server also takes quoted cells, columns in any order, extra columns and blank
/// lines (see docs/api.md); a schema cannot spell all of CSV.
fn csv_schema(r: &Resource) -> Json {
    let layout = r.csv.unwrap_or_default();
    let header: Vec<String> = layout.iter().map(|(column, _)| regex_escape(column)).collect();
    let cells: Vec<String> = layout.iter().map(|(_, field)| csv_cell_pattern(r.field(field).expect("CSV layouts name fields"))).collect();
    let row = cells.join(",");
    let pattern = format!("^{}(?:\\r?\\n{row})*(?:\\r?\\n)?$", header.join(","));
    json!({ "type": "string", "pattern": pattern,
        "description": format!("A CSV file: the header `{}`, then one item per row; all rows are imported in one transaction.",
            layout.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(",")) })
}

/// One unquoted CSV cell that holds a valid value of `f`, spaces around it allowed.
fn csv_cell_pattern(f: &Field) -> String {
    let pad = "[ \\t]*";
    let cell = match f.kind {
        Kind::Boolean => "0|1|true|True|TRUE|false|False|FALSE".to_string(),
        Kind::Integer { min, max } => integer_cell(min, max),
        Kind::Number { min, max } => number_cell(min, max),
        Kind::Choice(choices) => choices.join("|"),
        Kind::Text { min, max, .. } => {
            // No comma, quote or line end (those need quoting), and a trimmed length in bounds.
            let solid = whitespace_class(true, "\\u0000,\"");
            let between = format!("[^\\u0000,\"\\r\\n]{{0,{}}}", max.saturating_sub(2));
            debug_assert_eq!(min, 1);
            return format!("{pad}{solid}(?:{between}{solid})?{pad}");
        }
        Kind::Object => unreachable!("CSV layouts name scalar fields"),
    };
    format!("{pad}(?:{cell}){pad}")
}

/// Integers of `min..=max` in plain decimal: each value of a short range, else (a field of the
/// form `min` = 0) every number up to `max`.
fn integer_cell(min: i64, max: i64) -> String {
    if max - min < 10 {
        return (min..=max).map(|n| n.to_string()).collect::<Vec<_>>().join("|");
    }
    debug_assert_eq!(min, 0, "CSV integer cells of a long range start at 0");
    // A 64-bit bound spelled out digit by digit is unreadable: numbers one digit shorter will do.
    let digits = max.to_string().len();
    if digits > 9 {
        return format!("0|[1-9][0-9]{{0,{}}}", digits - 2);
    }
    at_most(max as u64)
}

/// Non-negative decimal numbers up to `max` (any number without one), in plain notation.
fn number_cell(min: f64, max: Option<f64>) -> String {
    debug_assert_eq!(min, 0.0, "CSV number cells are non-negative");
    match max {
        // Below the whole bound any fraction, at it none.
        Some(max) if max >= 1.0 && max.fract() == 0.0 => format!("(?:{})(?:\\.[0-9]+)?|{max}(?:\\.0+)?", at_most(max as u64 - 1)),
        Some(_) => unreachable!("CSV number bounds are whole numbers"),
        None => "(?:0|[1-9][0-9]{0,29})(?:\\.[0-9]+)?".to_string(),
    }
}

/// `0..=max` in decimal without leading zeros: shorter numbers, then for each digit of `max`
/// its prefix with a smaller digit there and anything after, then `max` itself.
fn at_most(max: u64) -> String {
    let digits: Vec<u32> = max.to_string().chars().map(|c| c.to_digit(10).expect("a digit")).collect();
    let n = digits.len();
    let mut alternatives = Vec::new();
    if n > 1 {
        alternatives.push(format!("0|[1-9][0-9]{{0,{}}}", n - 2));
    }
    for (i, &d) in digits.iter().enumerate() {
        let lowest = if i == 0 && n > 1 { 1 } else { 0 };
        if d > lowest {
            let prefix: String = digits[..i].iter().map(|d| d.to_string()).collect();
            alternatives.push(format!("{prefix}[{lowest}-{}][0-9]{{{}}}", d - 1, n - i - 1));
        }
    }
    alternatives.push(max.to_string());
    alternatives.join("|")
}

fn regex_escape(text: &str) -> String {
    text.chars().map(|c| if "\\^$.|?*+()[]{}".contains(c) { format!("\\{c}") } else { c.to_string() }).collect()
}

fn seed_paths(paths: &mut Map<String, Json>) {
    let list_configs = paths["/configs"]["get"].clone();
    paths.insert("/search".into(), json!({ "get": with_id(list_configs, "searchConfigs",
        "Configs whose metadata matches every `metadata.<path>` filter (same as `GET /configs`).") }));
    let passengers = paths["/passengers"].clone();
    let passenger = paths["/passengers/{id}"].clone();
    let seed = |op: &Json, id: &str, summary: &str| with_id(op.clone(), id, summary);
    paths.insert("/passengerlist".into(), json!({ "get": seed(&passengers["get"], "seedListPassengers", "Seed route: `GET /passengers`.") }));
    paths.insert("/postpassenger".into(), json!({ "post": seed(&passengers["post"], "seedCreatePassenger", "Seed route: `POST /passengers`.") }));
    paths.insert("/getpassenger/{id}".into(), json!({ "get": seed(&passenger["get"], "seedGetPassenger", "Seed route: `GET /passengers/{id}`.") }));
    paths.insert("/putpassenger/{id}".into(), json!({ "put": seed(&passenger["put"], "seedReplacePassenger", "Seed route: `PUT /passengers/{id}`.") }));
    paths.insert("/deletepassenger/{id}".into(), json!({ "delete": seed(&passenger["delete"], "seedDeletePassenger", "Seed route: `DELETE /passengers/{id}`.") }));
}

fn data_paths(paths: &mut Map<String, Json>) {
    paths.insert("/data".into(), data_collection_path());
    paths.insert("/data/{id}".into(), data_item_path());
}

/// A position in `/data`, or a count of records: any unsigned 64-bit number.
fn position(default: Option<u64>) -> Json {
    let mut s = json!({ "type": "integer", "minimum": 0, "maximum": u64::MAX });
    if let Some(d) = default {
        s["default"] = json!(d);
    }
    s
}

fn data_collection_path() -> Json {
    let record = schema_ref("MeteoriteRecord");
    let mut page = list_answer("Records from position `start`, at most `limit` of them.".into(), record.clone(), true);
    page["links"] = links(&["getRecord".into(), "deleteRecord".into()], "id", "$response.body#/0/id", false);
    let loaded = json!({ "description": "Loaded: how many records the load had.", "headers": answer_headers(&[]),
        "content": json_content(schema_ref("Loaded")) });
    json!({
        "get": Op { id: "listRecords".into(), summary: "Meteorite records in dataset order.".into(),
            successes: vec![(200, page)], problems: LIST,
            params: vec![query("start", position(Some(0)), "0-based position of the first record."),
                         query("limit", position(None), "Records at most (default: all from `start`).")],
            body: None }.build(),
        "post": Op { id: "loadRecords".into(), summary: "Upsert records by id; with no body, load the bundled dataset.".into(),
            successes: vec![(201, loaded)], problems: &[400, 401, 415, 422, 503], params: vec![],
            body: Some(json!({ "required": false, "content": json_content(json!({ "type": "array", "items": record })),
                "description": "Records to upsert, in dataset order. Without a body, the bundled 1,000 records load." })) }.build(),
        "delete": Op { id: "clearRecords".into(), summary: "Delete every record.".into(),
            successes: vec![no_content("Every record is gone.")], problems: &[401, 503], params: vec![], body: None }.build(),
    })
}

fn data_item_path() -> Json {
    let id = json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string" }, "description": "A record's id." });
    let mut got = json!({ "description": "The record.", "headers": answer_headers(&[("ETag", header_ref("ETag"))]),
        "content": json_content(schema_ref("MeteoriteRecord")) });
    got["links"] = links(&["deleteRecord".into()], "id", "$request.path.id", true);
    json!({
        "get": Op { id: "getRecord".into(), summary: "One record.".into(), successes: vec![(200, got), not_modified()],
            problems: GET, params: vec![id.clone(), condition_param("If-None-Match")], body: None }.build(),
        "delete": Op { id: "deleteRecord".into(), summary: "Delete one record.".into(), successes: vec![no_content("Deleted.")],
            problems: DELETE, params: vec![id, condition_param("If-Match")], body: None }.build(),
    })
}

fn ops_paths(paths: &mut Map<String, Json>) {
    let ok = |schema: Json| (200, json!({ "description": "OK", "headers": answer_headers(&[]), "content": json_content(schema) }));
    let simple = |id: &str, summary: &str, schema: Json, problems: &'static [u16]| {
        json!({ "get": Op { id: id.into(), summary: summary.into(), successes: vec![ok(schema)], problems, params: vec![], body: None }.build() })
    };
    let exactly = |properties: Json| {
        let required: Vec<String> = properties.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
        json!({ "type": "object", "properties": properties, "required": required, "additionalProperties": false })
    };
    paths.insert("/healthz".into(), simple("healthz", "Liveness: answers without touching a store.",
        exactly(json!({ "status": { "const": "ok" } })), &[]));
    let mut readyz = simple("readyz", "Readiness: the SQL store can open (and roll back) a transaction and the key-value store answers.",
        exactly(json!({ "status": { "const": "ready" }, "checks": readiness_checks("ok") })), &[]);
    readyz["get"]["responses"]["503"] = problem_answer(503, Some(json!({ "required": ["checks"] })));
    readyz["get"]["responses"]["503"]["description"] = json!("Service Unavailable: a store did not answer, or (host-runner) the server is shutting down; `checks` says which.");
    paths.insert("/readyz".into(), readyz);
    paths.insert("/hello".into(), simple("hello", "The seed service's greeting.", exactly(json!({ "message": { "type": "string" } })), &[]));
    paths.insert("/openapi.json".into(), simple("openapi", "This document.",
        json!({ "type": "object", "required": ["openapi", "info", "paths", "components"] }), &[]));
}
