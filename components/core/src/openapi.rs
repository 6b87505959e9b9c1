//! `GET /openapi.json`: an OpenAPI 3.1 document built from the same [`Resource`] definitions that
//! validate requests, so it cannot drift from what the API does.

use http::StatusCode;
use serde_json::{json, Map, Value as Json};

use crate::data;
use crate::problem::{problem_type, PROBLEM_BASE, PROBLEM_JSON};
use crate::resource::definitions::{ALL, PASSENGERS};
use crate::resource::field::{Field, Format, Kind};
use crate::resource::list::{DEFAULT_LIMIT, MAX_LIMIT};
use crate::resource::{Key, Resource};
use crate::response::{self, Response};

pub fn response() -> Response {
    response::json(StatusCode::OK, &document())
}

pub fn document() -> Json {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    schemas.insert("Problem".into(), problem_schema());
    for r in ALL {
        schemas.insert(schema_name(r), item_schema(r));
        let (collection, item) = resource_paths(r);
        paths.insert(format!("/{}", r.name), collection);
        paths.insert(format!("/{}/{{{}}}", r.name, r.key_name()), item);
    }
    schemas.insert("MeteoriteRecord".into(), record_schema());
    let list_configs = paths["/configs"]["get"].clone();
    paths.insert("/search".into(), json!({ "get": with_id(list_configs, "searchConfigs", "Configs whose metadata matches every `metadata.<path>` filter (same as `GET /configs`).") }));
    let passengers = paths["/passengers"].clone();
    let passenger = paths["/passengers/{id}"].clone();
    paths.insert("/passengerlist".into(), json!({ "get": with_id(passengers["get"].clone(), "seedListPassengers", "Seed route: `GET /passengers`.") }));
    paths.insert("/postpassenger".into(), json!({ "post": with_id(passengers["post"].clone(), "seedCreatePassenger", "Seed route: `POST /passengers`.") }));
    paths.insert("/getpassenger/{id}".into(), json!({ "get": with_id(passenger["get"].clone(), "seedGetPassenger", "Seed route: `GET /passengers/{id}`.") }));
    paths.insert("/putpassenger/{id}".into(), json!({ "put": with_id(passenger["put"].clone(), "seedReplacePassenger", "Seed route: `PUT /passengers/{id}`.") }));
    paths.insert("/deletepassenger/{id}".into(), json!({ "delete": with_id(passenger["delete"].clone(), "seedDeletePassenger", "Seed route: `DELETE /passengers/{id}`.") }));
    data_paths(&mut paths);
    ops_paths(&mut paths);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "spincrud",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Cats, Titanic passengers, datacenter configs, meteorite records and users. Errors are RFC 9457 problem documents."
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "description": "Needed for writes when API tokens are configured, and for reads with auth_reads." } }
        }
    })
}

fn schema_name(r: &Resource) -> String {
    let mut name = r.singular.to_string();
    name[..1].make_ascii_uppercase();
    name
}

fn schema_ref(name: &str) -> Json {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn with_id(mut op: Json, id: &str, summary: &str) -> Json {
    op["operationId"] = json!(id);
    op["summary"] = json!(summary);
    op
}

fn field_schema(f: &Field) -> Json {
    let mut s = match f.kind {
        Kind::Text { min, max, trim, format } => {
            let mut s = json!({ "type": "string" });
            if trim {
                // Length counts after trimming: a pattern says "not blank"; the bound is in the text.
                s["pattern"] = json!("\\S");
            } else {
                s["minLength"] = json!(min);
                s["maxLength"] = json!(max);
            }
            match format {
                Some(Format::Username) => s["pattern"] = json!("^[A-Za-z0-9_.-]+$"),
                Some(Format::Email) => s["format"] = json!("email"),
                Some(Format::DnsLabel) => s["pattern"] = json!("^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"),
                None => {}
            }
            s
        }
        Kind::Integer { min, max } => {
            let mut s = json!({ "type": "integer", "format": "int64", "minimum": min });
            if max != i64::MAX {
                s["maximum"] = json!(max);
            }
            s
        }
        Kind::Number { min, max } => {
            let mut s = json!({ "type": "number", "minimum": min });
            if let Some(max) = max {
                s["maximum"] = json!(max);
            }
            s
        }
        Kind::Boolean => json!({ "type": "boolean" }),
        Kind::Choice(choices) => json!({ "type": "string", "enum": choices }),
        Kind::Object => config_metadata_schema(),
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

fn config_metadata_schema() -> Json {
    let cpu_quantity = json!({ "type": "string", "pattern": "^([0-9]+m|[0-9]+(\\.[0-9]+)?)$", "description": "Kubernetes CPU quantity: `500m`, `2`, `1.5`." });
    json!({
        "type": "object",
        "required": ["monitoring", "limits"],
        "properties": {
            "monitoring": { "type": "object", "required": ["enabled"], "properties": { "enabled": { "type": "boolean" } } },
            "limits": { "type": "object", "required": ["cpu"], "properties": {
                "cpu": { "type": "object", "required": ["enabled"], "properties": { "enabled": { "type": "boolean" }, "value": cpu_quantity } }
            } }
        },
        "additionalProperties": true
    })
}

fn item_schema(r: &Resource) -> Json {
    let mut props = Map::new();
    if r.key == Key::Id {
        props.insert("id".into(), json!({ "type": "string", "format": "uuid", "readOnly": true }));
    }
    for f in r.fields {
        props.insert(f.name.into(), field_schema(f));
    }
    for ts in ["createdAt", "updatedAt"] {
        props.insert(ts.into(), json!({ "type": "string", "format": "date-time", "readOnly": true }));
    }
    let required: Vec<&str> = r.fields.iter().filter(|f| f.required).map(|f| f.name).collect();
    json!({ "type": "object", "properties": props, "required": required, "additionalProperties": false, "example": (r.example)() })
}

fn record_schema() -> Json {
    let props: Map<String, Json> = data::FIELDS.iter().map(|f| (f.to_string(), json!({ "type": "string" }))).collect();
    json!({ "type": "object", "properties": props, "required": ["id"], "additionalProperties": false })
}

fn problem_schema() -> Json {
    json!({
        "type": "object",
        "required": ["type", "title", "status"],
        "properties": {
            "type": { "type": "string", "description": format!("`{PROBLEM_BASE}<slug>`") },
            "title": { "type": "string" },
            "status": { "type": "integer" },
            "detail": { "type": "string" },
            "errors": { "type": "array", "items": { "type": "object", "required": ["field", "message"], "properties": {
                "field": { "type": "string" }, "message": { "type": "string" }, "line": { "type": "integer" } } } }
        }
    })
}

/// The problem answers of an operation.
fn problems(statuses: &[u16]) -> Map<String, Json> {
    statuses
        .iter()
        .map(|s| {
            let (_, title) = problem_type(StatusCode::from_u16(*s).expect("known status"));
            (s.to_string(), json!({ "description": title, "content": { PROBLEM_JSON: { "schema": schema_ref("Problem") } } }))
        })
        .collect()
}

fn op(id: String, summary: String, ok: (u16, Json), errors: &[u16], params: Vec<Json>, body: Option<Json>) -> Json {
    let mut responses = problems(errors);
    responses.insert(ok.0.to_string(), ok.1);
    let mut o = json!({ "operationId": id, "summary": summary, "parameters": params, "responses": responses });
    if let Some(body) = body {
        o["requestBody"] = body;
    }
    o
}

fn header_param(name: &str, description: &str) -> Json {
    json!({ "name": name, "in": "header", "required": false, "schema": { "type": "string" }, "description": description })
}

fn json_content(schema: Json) -> Json {
    json!({ "application/json": { "schema": schema } })
}

fn list_params(r: &Resource) -> Vec<Json> {
    let mut params = vec![
        json!({ "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 0, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT } }),
        json!({ "name": "offset", "in": "query", "schema": { "type": "integer", "minimum": 0, "default": 0 } }),
    ];
    let mut orders = Vec::new();
    for f in r.fields.iter().filter(|f| f.is_scalar()) {
        orders.push(format!("{}.asc", f.name));
        orders.push(format!("{}.desc", f.name));
        let mut schema = field_schema(f);
        schema.as_object_mut().map(|m| m.retain(|k, _| k == "type" || k == "enum"));
        params.push(json!({ "name": f.name, "in": "query", "schema": schema, "description": "Equality filter." }));
    }
    orders.extend(["createdAt.asc", "createdAt.desc", "updatedAt.asc", "updatedAt.desc"].map(String::from));
    params.push(json!({ "name": "order", "in": "query", "schema": { "type": "string", "enum": orders } }));
    for f in r.fields.iter().filter(|f| !f.is_scalar()) {
        params.push(json!({
            "name": format!("{}.*", f.name), "in": "query", "required": false, "schema": { "type": "string" },
            "description": format!("`{}.<dotted.path>=<text>`: the value at the path, as text, equals the given one.", f.name)
        }));
    }
    params
}

fn resource_paths(r: &Resource) -> (Json, Json) {
    let name = schema_name(r);
    let key_param = json!({ "name": r.key_name(), "in": "path", "required": true, "schema": { "type": "string" } });
    let item_ref = schema_ref(&name);
    let item_ok = |status: u16, what: &str| {
        (status, json!({ "description": what, "headers": { "ETag": { "schema": { "type": "string" } } }, "content": json_content(item_ref.clone()) }))
    };
    let list_ok = json!({
        "description": format!("A page of {}.", r.name),
        "headers": { "X-Total-Count": { "schema": { "type": "integer" } }, "Link": { "schema": { "type": "string" }, "description": "`<…>; rel=\"next\"` when more remain." } },
        "content": json_content(json!({ "type": "array", "items": item_ref.clone() }))
    });
    let mut create_content = json_content(json!({ "oneOf": [item_ref.clone(), { "type": "array", "items": item_ref.clone() }] }));
    let mut create_ok = json!({
        "description": "Created: the item (with `Location` and `ETag`), or the array of items of a bulk create.",
        "headers": { "Location": { "schema": { "type": "string" } }, "ETag": { "schema": { "type": "string" } } },
        "content": json_content(json!({ "oneOf": [item_ref.clone(), { "type": "array", "items": item_ref.clone() }] }))
    });
    if std::ptr::eq(r, &PASSENGERS) {
        create_content["text/csv"] = json!({ "schema": { "type": "string", "description": "titanic.csv: Survived,Pclass,Name,Sex,Age,Siblings/Spouses Aboard,Parents/Children Aboard,Fare" } });
        create_ok["content"]["application/json"]["schema"]["oneOf"]
            .as_array_mut()
            .expect("oneOf is an array")
            .push(json!({ "type": "object", "properties": { "imported": { "type": "integer" } } }));
    }
    let pre = |h: &str| header_param(h, "An ETag, a comma-separated list of them, or `*`.");
    let collection = json!({
        "get": op(format!("list{name}s"), format!("List {}.", r.name), (200, list_ok), &[400, 401, 503], list_params(r), None),
        "post": op(format!("create{name}"), format!("Create a {} (an object), or many in one transaction (an array).", r.singular),
            (201, create_ok), &[400, 401, 409, 413, 415, 422, 503], vec![], Some(json!({ "required": true, "content": create_content }))),
    });
    let patch_content = json!({ "application/json": { "schema": { "type": "object" } }, "application/merge-patch+json": { "schema": { "type": "object" } } });
    let item = json!({
        "get": op(format!("get{name}"), format!("Get a {}.", r.singular), item_ok(200, "The item."), &[401, 404, 503],
            vec![key_param.clone(), pre("If-None-Match")], None)
            .tap_304(),
        "put": op(format!("replace{name}"), format!("Replace a {}.", r.singular), item_ok(200, "The replaced item."), &[400, 401, 404, 409, 412, 413, 415, 422, 503],
            vec![key_param.clone(), pre("If-Match")], Some(json!({ "required": true, "content": json_content(item_ref.clone()) }))),
        "patch": op(format!("patch{name}"), format!("Apply a JSON Merge Patch to a {}.", r.singular), item_ok(200, "The patched item."), &[400, 401, 404, 409, 412, 413, 415, 422, 503],
            vec![key_param.clone(), pre("If-Match")], Some(json!({ "required": true, "content": patch_content }))),
        "delete": op(format!("delete{name}"), format!("Delete a {}.", r.singular), (204, json!({ "description": "Deleted." })), &[401, 404, 412, 503],
            vec![key_param, pre("If-Match")], None),
    });
    (collection, item)
}

trait Tap304 {
    fn tap_304(self) -> Json;
}

impl Tap304 for Json {
    /// Adds the `304` of a conditional GET.
    fn tap_304(mut self) -> Json {
        self["responses"]["304"] = json!({ "description": "Not Modified: the `If-None-Match` tag is current.", "headers": { "ETag": { "schema": { "type": "string" } } } });
        self
    }
}

fn data_paths(paths: &mut Map<String, Json>) {
    let record = schema_ref("MeteoriteRecord");
    let records = json!({ "type": "array", "items": record.clone() });
    let id = json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } });
    paths.insert("/data".into(), json!({
        "get": op("listRecords".into(), "Meteorite records in dataset order.".into(),
            (200, json!({ "description": "Records from `start`.", "headers": { "X-Total-Count": { "schema": { "type": "integer" } } }, "content": json_content(records.clone()) })),
            &[400, 401, 503],
            vec![json!({ "name": "start", "in": "query", "schema": { "type": "integer", "minimum": 0, "default": 0 } }),
                 json!({ "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 0 } })], None),
        "post": op("loadRecords".into(), "Upsert records by id; with no body, load the bundled dataset.".into(),
            (201, json!({ "description": "Loaded.", "content": json_content(json!({ "type": "object", "properties": { "loaded": { "type": "integer" } } })) })),
            &[400, 401, 413, 415, 422, 503], vec![], Some(json!({ "required": false, "content": json_content(records) }))),
        "delete": op("clearRecords".into(), "Delete every record.".into(), (204, json!({ "description": "Deleted." })), &[401, 503], vec![], None),
    }));
    paths.insert("/data/{id}".into(), json!({
        "get": op("getRecord".into(), "One record.".into(),
            (200, json!({ "description": "The record.", "headers": { "ETag": { "schema": { "type": "string" } } }, "content": json_content(record) })),
            &[401, 404, 503], vec![id.clone(), header_param("If-None-Match", "An ETag or `*`.")], None).tap_304(),
        "delete": op("deleteRecord".into(), "Delete one record.".into(), (204, json!({ "description": "Deleted." })), &[401, 404, 412, 503],
            vec![id, header_param("If-Match", "An ETag or `*`.")], None),
    }));
}

fn ops_paths(paths: &mut Map<String, Json>) {
    let simple = |id: &str, summary: &str, schema: Json| json!({ "get": op(id.into(), summary.into(), (200, json!({ "description": "OK", "content": json_content(schema) })), &[], vec![], None) });
    paths.insert("/healthz".into(), simple("healthz", "Liveness: answers without touching a store.", json!({ "type": "object", "properties": { "status": { "const": "ok" } } })));
    let mut readyz = simple("readyz", "Readiness: both stores answer.", json!({ "type": "object", "properties": { "status": { "const": "ready" }, "checks": { "type": "object" } } }));
    readyz["get"]["responses"]["503"] = problems(&[503])["503"].clone();
    paths.insert("/readyz".into(), readyz);
    paths.insert("/hello".into(), simple("hello", "The seed service's greeting.", json!({ "type": "object", "properties": { "message": { "type": "string" } } })));
    paths.insert("/openapi.json".into(), simple("openapi", "This document.", json!({ "type": "object" })));
}
