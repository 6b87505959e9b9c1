//! `/data`: meteorite-landing records in the key-value store.
//!
//! Layout: each record lives at `data:item:<id>` as `{"position": "...", "record": {...}}`.
//! The position is a sortable stamp (load time, a random tiebreak, the index in the load), so
//! dataset order needs no shared list: Spin's key-value interface has no atomic update, and a
//! shared order key would lose records when two loads race. An upsert keeps the position a record
//! already has; new ids sort after everything loaded before. A load validates every record before
//! it writes any, so a failed load stores nothing.

use http::{header, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value as Json};

use crate::clock;
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

const ITEM_PREFIX: &str = "data:item:";

fn item_key(id: &str) -> String {
    format!("{ITEM_PREFIX}{id}")
}

/// What one key holds.
#[derive(Serialize, Deserialize)]
struct Entry {
    position: String,
    record: Map<String, Json>,
}

impl Entry {
    fn decode(bytes: &[u8]) -> Result<Entry, StoreError> {
        serde_json::from_slice(bytes).map_err(|e| StoreError::Other(format!("a /data entry is not readable: {e}")))
    }

    fn record_bytes(&self) -> Vec<u8> {
        response::json_bytes(&Json::Object(self.record.clone()))
    }
}

/// `POST /data`: loads the body's records, or the bundled dataset when there is no body.
pub async fn load<K: KvStore>(kv: &K, req: &Request) -> ApiResult<Response> {
    let body = if req.body().is_empty() {
        serde_json::from_str(BUNDLED).map_err(|e| ApiError::Internal(format!("bundled dataset: {e}")))?
    } else {
        content_type(req, &[BodyType::Json])?;
        json_body(req.body())?
    };
    let records = Records::prepare(&body)?;
    records.store(kv).await?;
    Ok(response::json(StatusCode::CREATED, &json!({ "loaded": records.count })))
}

/// Records checked and ready to write: every one is valid, or none is kept.
pub struct Records {
    /// `(id, position for a new id, record)`, one per distinct id, in dataset order.
    records: Vec<(String, String, Map<String, Json>)>,
    /// How many records the load had, repeats included.
    pub count: usize,
}

impl Records {
    pub fn prepare(body: &Json) -> ApiResult<Records> {
        let Json::Array(items) = body else {
            return Err(ApiError::Validation("The body must be an array of records.".into(), vec![FieldError::new("", "must be an array")]));
        };
        let stamp = clock::sortable_stamp();
        let mut errors = Vec::new();
        let mut records: Vec<(String, String, Map<String, Json>)> = Vec::with_capacity(items.len());
        let mut positions: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for (i, item) in items.iter().enumerate() {
            match normalize(item, i) {
                // A repeated id keeps its first position and its last value.
                Ok((id, record)) => match positions.get(&id) {
                    Some(&at) => records[at].2 = record,
                    None => {
                        positions.insert(id.clone(), records.len());
                        let position = format!("{stamp}{:08x}", records.len());
                        records.push((id, position, record));
                    }
                },
                Err(e) => errors.extend(e),
            }
        }
        if !errors.is_empty() {
            let detail = format!("{} record fields are invalid; nothing was loaded.", errors.len());
            return Err(ApiError::Validation(detail, errors));
        }
        Ok(Records { records, count: items.len() })
    }

    /// Distinct records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Splits into batches of at most `size` records (keeping their positions), for loads that
    /// report progress.
    pub fn batches(self, size: usize) -> Vec<Records> {
        self.records.chunks(size.max(1)).map(|chunk| Records { records: chunk.to_vec(), count: chunk.len() }).collect()
    }

    /// Writes the records; one that exists already keeps its position.
    pub async fn store<K: KvStore>(&self, kv: &K) -> Result<(), StoreError> {
        if self.records.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = self.records.iter().map(|(id, _, _)| item_key(id)).collect();
        let existing = kv.get_many(&keys).await?;
        let mut entries = Vec::with_capacity(keys.len());
        for ((key, (_, position, record)), old) in keys.into_iter().zip(&self.records).zip(existing) {
            let position = match old.map(|bytes| Entry::decode(&bytes)) {
                Some(Ok(old)) => old.position,
                _ => position.clone(),
            };
            let entry = Entry { position, record: record.clone() };
            let bytes = serde_json::to_vec(&entry).map_err(|e| StoreError::Other(e.to_string()))?;
            entries.push((key, bytes));
        }
        kv.set_many(&entries).await
    }
}

/// Checks one record and gives its id and fields in canonical order.
fn normalize(record: &Json, index: usize) -> Result<(String, Map<String, Json>), Vec<FieldError>> {
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
    Ok((id, out))
}

/// Every record, in dataset order.
async fn all_entries<K: KvStore>(kv: &K) -> Result<Vec<Entry>, StoreError> {
    let keys = kv.keys(ITEM_PREFIX).await?;
    let mut entries = Vec::with_capacity(keys.len());
    // A key deleted between listing and reading is simply gone.
    for bytes in kv.get_many(&keys).await?.into_iter().flatten() {
        entries.push(Entry::decode(&bytes)?);
    }
    entries.sort_by(|a, b| a.position.cmp(&b.position));
    Ok(entries)
}

/// `GET /data`: records in dataset order from `start`, at most `limit` of them.
pub async fn list<K: KvStore>(kv: &K, req: &Request) -> ApiResult<Response> {
    let query = Query::parse(req)?;
    if let Some((name, _)) = query.pairs().iter().find(|(k, _)| k != "start" && k != "limit") {
        return Err(ApiError::BadRequest(format!("Unknown query parameter `{name}`: /data takes start and limit.")));
    }
    let start = query.count("start", 0, None)?;
    let limit = query.count("limit", u64::MAX, None)?;
    let entries = all_entries(kv).await?;
    let total = entries.len() as u64;
    let from = start.min(total) as usize;
    let to = (from as u64).saturating_add(limit).min(total) as usize;
    let mut body = Vec::with_capacity((to - from) * 160 + 2);
    body.push(b'[');
    for (i, entry) in entries[from..to].iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&entry.record_bytes());
    }
    body.push(b']');
    let mut resp = response::bytes(StatusCode::OK, body);
    set_header(&mut resp, header::HeaderName::from_static("x-total-count"), &total.to_string());
    if query.get("limit").is_some() && limit > 0 && (to as u64) < total {
        let next = next_page(query.pairs(), &[("start", to as u64), ("limit", limit)]);
        set_header(&mut resp, header::LINK, &format!("<{}>; rel=\"next\"", link(req.uri().path(), &next)));
    }
    Ok(resp)
}

async fn get_entry<K: KvStore>(kv: &K, id: &str) -> ApiResult<Entry> {
    let bytes = kv.get(&item_key(id)).await?.ok_or_else(not_found)?;
    Ok(Entry::decode(&bytes)?)
}

/// `GET /data/{id}`. The ETag is a hash of the record: rewriting the same content keeps it.
pub async fn get<K: KvStore>(kv: &K, id: &str, req: &Request) -> ApiResult<Response> {
    let body = get_entry(kv, id).await?.record_bytes();
    let tag = etag(0, &body);
    if not_modified(req, &tag) {
        let mut resp = http::Response::new(Vec::new());
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        set_header(&mut resp, header::ETAG, &tag);
        return Ok(resp);
    }
    let mut resp = response::bytes(StatusCode::OK, body);
    set_header(&mut resp, header::ETAG, &tag);
    Ok(resp)
}

/// `DELETE /data/{id}`.
pub async fn delete<K: KvStore>(kv: &K, id: &str, req: &Request) -> ApiResult<Response> {
    let entry = get_entry(kv, id).await?;
    check_if_match(req, Some(&etag(0, &entry.record_bytes())))?;
    kv.delete(&item_key(id)).await?;
    Ok(response::no_content())
}

/// `DELETE /data`: every record.
pub async fn clear<K: KvStore>(kv: &K) -> ApiResult<Response> {
    for key in kv.keys(ITEM_PREFIX).await? {
        kv.delete(&key).await?;
    }
    Ok(response::no_content())
}

fn not_found() -> ApiError {
    ApiError::NotFound("No record has this id.".into())
}
