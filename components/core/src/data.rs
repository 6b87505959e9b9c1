//! `/data`: meteorite-landing records in the key-value store.
//!
//! Layout: `data:order` holds the ids in dataset order (a JSON array of strings) and
//! `data:item:<id>` each record's JSON. A load validates every record before it writes any, then
//! writes the records and finally the order, so a failed load stores nothing.

use http::{header, StatusCode};
use serde_json::{json, Map, Value as Json};

use crate::conditional::{check_if_match, etag, not_modified};
use crate::problem::{ApiError, ApiResult, FieldError};
use crate::request::{content_type, json_body, link, BodyType, Query};
use crate::resource::handlers::next_page;
use crate::response::{self, set_header, Response};
use crate::store::{KvStore, StoreError};
use crate::Request;

/// The record's fields, in the order they are stored and answered.
pub const FIELDS: [&str; 7] = ["id", "name", "recclass", "mass (g)", "reclat", "reclong", "GeoLocation"];

/// The dataset `POST /data` loads when it has no body.
pub const BUNDLED: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/Meteorite_Landings.json"));

const ORDER_KEY: &str = "data:order";

fn item_key(id: &str) -> String {
    format!("data:item:{id}")
}

/// `POST /data`: loads the body's records, or the bundled dataset when there is no body.
pub async fn load<K: KvStore>(kv: &K, req: &Request) -> ApiResult<Response> {
    let body = if req.body().is_empty() {
        serde_json::from_str(BUNDLED).map_err(|e| ApiError::Internal(format!("bundled dataset: {e}")))?
    } else {
        content_type(req, &[BodyType::Json])?;
        json_body(req.body())?
    };
    let loaded = load_records(kv, &body).await?;
    Ok(response::json(StatusCode::CREATED, &json!({ "loaded": loaded })))
}

/// Validates and upserts records; shared by `POST /data` and `host-runner import data`.
pub async fn load_records<K: KvStore>(kv: &K, body: &Json) -> ApiResult<usize> {
    let records = Records::prepare(body)?;
    records.store(kv).await?;
    Ok(records.count)
}

/// Records checked and ready to write: every one is valid, or none is kept.
pub struct Records {
    ids: Vec<String>,
    entries: Vec<(String, Vec<u8>)>,
    /// How many records the load had, repeats included.
    pub count: usize,
}

impl Records {
    pub fn prepare(body: &Json) -> ApiResult<Records> {
        let Json::Array(records) = body else {
            return Err(ApiError::Validation("The body must be an array of records.".into(), vec![FieldError::new("", "must be an array")]));
        };
        let mut errors = Vec::new();
        let mut entries: Vec<(String, Vec<u8>)> = Vec::with_capacity(records.len());
        let mut ids: Vec<String> = Vec::with_capacity(records.len());
        let mut positions = std::collections::HashMap::new();
        for (i, record) in records.iter().enumerate() {
            match normalize(record, i) {
                // A repeated id keeps its first position and its last value.
                Ok((id, bytes)) => match positions.get(&id) {
                    Some(&at) => entries[at] = (item_key(&id), bytes),
                    None => {
                        positions.insert(id.clone(), ids.len());
                        entries.push((item_key(&id), bytes));
                        ids.push(id);
                    }
                },
                Err(e) => errors.extend(e),
            }
        }
        if !errors.is_empty() {
            let detail = format!("{} record fields are invalid; nothing was loaded.", errors.len());
            return Err(ApiError::Validation(detail, errors));
        }
        Ok(Records { ids, entries, count: records.len() })
    }

    /// Distinct records.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Splits into batches of at most `size` records, for loads that report progress.
    pub fn batches(self, size: usize) -> Vec<Records> {
        let size = size.max(1);
        self.ids
            .chunks(size)
            .zip(self.entries.chunks(size))
            .map(|(ids, entries)| Records { ids: ids.to_vec(), entries: entries.to_vec(), count: ids.len() })
            .collect()
    }

    /// Writes the records, then appends the new ids to the dataset order.
    pub async fn store<K: KvStore>(&self, kv: &K) -> Result<(), StoreError> {
        if self.ids.is_empty() {
            return Ok(());
        }
        let mut order = read_order(kv).await?;
        let known: std::collections::HashSet<&str> = order.iter().map(String::as_str).collect();
        let new_ids: Vec<String> = self.ids.iter().filter(|id| !known.contains(id.as_str())).cloned().collect();
        kv.set_many(&self.entries).await?;
        if !new_ids.is_empty() {
            order.extend(new_ids);
            write_order(kv, &order).await?;
        }
        Ok(())
    }
}

/// Checks one record and gives its id and stored JSON (fields in canonical order).
fn normalize(record: &Json, index: usize) -> Result<(String, Vec<u8>), Vec<FieldError>> {
    let Json::Object(obj) = record else {
        return Err(vec![FieldError::new(format!("[{index}]"), "must be an object")]);
    };
    let mut errors = Vec::new();
    for key in obj.keys() {
        if !FIELDS.contains(&key.as_str()) {
            errors.push(FieldError::new(format!("[{index}].{key}"), "is not a known field"));
        }
    }
    let mut out = Map::new();
    for name in FIELDS {
        match obj.get(name) {
            None if name == "id" => errors.push(FieldError::new(format!("[{index}].id"), "is required")),
            None => {}
            Some(Json::String(s)) if name == "id" && s.is_empty() => {
                errors.push(FieldError::new(format!("[{index}].id"), "must not be empty"));
            }
            Some(Json::String(s)) => {
                out.insert(name.to_string(), Json::String(s.clone()));
            }
            Some(_) => errors.push(FieldError::new(format!("[{index}].{name}"), "must be a string")),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let id = out["id"].as_str().unwrap_or_default().to_string();
    Ok((id, response::json_bytes(&Json::Object(out))))
}

/// `GET /data`: records in dataset order from `start`, at most `limit` of them.
pub async fn list<K: KvStore>(kv: &K, req: &Request) -> ApiResult<Response> {
    let query = Query::parse(req)?;
    if let Some((name, _)) = query.pairs().iter().find(|(k, _)| k != "start" && k != "limit") {
        return Err(ApiError::BadRequest(format!("Unknown query parameter `{name}`: /data takes start and limit.")));
    }
    let start = query.count("start", 0, None)?;
    let limit = query.count("limit", u64::MAX, None)?;
    let order = read_order(kv).await?;
    let total = order.len() as u64;
    let from = start.min(total) as usize;
    let to = from.saturating_add(limit.min(total) as usize).min(order.len());
    let keys: Vec<String> = order[from..to].iter().map(|id| item_key(id)).collect();
    let mut body = Vec::with_capacity(keys.len() * 160 + 2);
    body.push(b'[');
    for value in kv.get_many(&keys).await?.into_iter().flatten() {
        if body.len() > 1 {
            body.push(b',');
        }
        body.extend_from_slice(&value);
    }
    body.push(b']');
    let mut resp = response::bytes(StatusCode::OK, body);
    set_header(&mut resp, header::HeaderName::from_static("x-total-count"), &total.to_string());
    if query.get("limit").is_some() && (to as u64) < total && limit > 0 {
        let next = next_page(query.pairs(), &[("start", to as u64), ("limit", limit)]);
        set_header(&mut resp, header::LINK, &format!("<{}>; rel=\"next\"", link(req.uri().path(), &next)));
    }
    Ok(resp)
}

/// `GET /data/{id}`.
pub async fn get<K: KvStore>(kv: &K, id: &str, req: &Request) -> ApiResult<Response> {
    let value = kv.get(&item_key(id)).await?.ok_or_else(not_found)?;
    let tag = etag(0, &value);
    if not_modified(req, &tag) {
        let mut resp = http::Response::new(Vec::new());
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        set_header(&mut resp, header::ETAG, &tag);
        return Ok(resp);
    }
    let mut resp = response::bytes(StatusCode::OK, value);
    set_header(&mut resp, header::ETAG, &tag);
    Ok(resp)
}

/// `DELETE /data/{id}`.
pub async fn delete<K: KvStore>(kv: &K, id: &str, req: &Request) -> ApiResult<Response> {
    let value = kv.get(&item_key(id)).await?.ok_or_else(not_found)?;
    check_if_match(req, Some(&etag(0, &value)))?;
    let mut order = read_order(kv).await?;
    order.retain(|x| x != id);
    write_order(kv, &order).await?;
    kv.delete(&item_key(id)).await?;
    Ok(response::no_content())
}

/// `DELETE /data`: every record.
pub async fn clear<K: KvStore>(kv: &K) -> ApiResult<Response> {
    let order = read_order(kv).await?;
    kv.delete(ORDER_KEY).await?;
    for id in &order {
        kv.delete(&item_key(id)).await?;
    }
    Ok(response::no_content())
}

async fn read_order<K: KvStore>(kv: &K) -> Result<Vec<String>, StoreError> {
    match kv.get(ORDER_KEY).await? {
        None => Ok(Vec::new()),
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::Other(format!("{ORDER_KEY} is not a JSON array of ids: {e}"))),
    }
}

async fn write_order<K: KvStore>(kv: &K, order: &[String]) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(order).map_err(|e| StoreError::Other(e.to_string()))?;
    kv.set(ORDER_KEY, &bytes).await
}

fn not_found() -> ApiError {
    ApiError::NotFound("No record has this id.".into())
}
