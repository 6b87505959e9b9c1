//! `/data`: meteorite-landing records in the key-value store, paged in O(page).
//!
//! Layout (every key starts with `data:`):
//! - `data:item:<id>` — `{"slot": n, "record": {...}}`: a record and its place in dataset order.
//! - `data:slots:<c>` — the ids at slots `c·256 … c·256+255`, `null` where a record was deleted.
//! - `data:meta` — `{"next": n, "live": [k₀, k₁, …]}`: the next free slot and how many records
//!   each chunk of 256 slots holds.
//! - `data:lease` — which request may change the layout now (see [`lease`]).
//!
//! Dataset order is slot order; positions (`start`) count only live records, so they stay dense
//! after a delete. A page reads `data:meta`, finds the chunk that holds position `start` from the
//! live counts, reads that chunk (and the next ones the page spans) and then the page's records:
//! three batched store calls whatever the dataset's size. An upsert keeps a record's slot; a new
//! id takes the next slot, after everything loaded before.
//!
//! Writers (loads, deletes, clear) hold the lease, one at a time, so concurrent loads queue
//! rather than overwrite each other's chunks; readers never wait. A writer writes records first
//! and the chunks and meta last, in one batch: a reader sees the layout before or after a
//! change, and a writer that dies midway leaves at most records that no chunk names, which the
//! next load of those ids puts back in place. A load validates every record before it writes
//! any, so a failed load stores nothing.

use std::collections::{BTreeMap, HashMap};

use http::{header, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value as Json};

use crate::conditional::{check_if_match, etag, not_modified};
use crate::cursor;
use crate::problem::{ApiError, ApiResult, FieldError};
use crate::request::{content_type, json_body, link, BodyType, Query};
use crate::resource::field::NUL_MESSAGE;
use crate::resource::handlers::next_page;
use crate::response::{self, set_header, Response};
use crate::store::{KvStore, StoreError};
use crate::Request;

mod lease;

/// The record's fields, in the order they are stored and answered.
pub const FIELDS: [&str; 7] = ["id", "name", "recclass", "mass (g)", "reclat", "reclong", "GeoLocation"];

/// The dataset `POST /data` loads when it has no body: in the builds that serve it (host-runner,
/// the `data` component), not in every component (it would weigh on every instance).
#[cfg(feature = "bundled-dataset")]
pub const BUNDLED: Option<&str> = Some(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/Meteorite_Landings.json")));
#[cfg(not(feature = "bundled-dataset"))]
pub const BUNDLED: Option<&str> = None;

/// Every key of the collection starts with this.
pub const PREFIX: &str = "data:";
const ITEM_PREFIX: &str = "data:item:";
const META_KEY: &str = "data:meta";
const CHUNK_PREFIX: &str = "data:slots:";
/// Slots per chunk key.
pub const CHUNK: u64 = 256;
/// A load reads every chunk in use rather than its records only if it has at least this many
/// records per chunk: a chunk holds 256 ids, so it weighs 12 (numeric ids) to 60 (UUIDs) times a
/// meteorite record, and where `get-many` works bytes cost more than keys. (A load of 500
/// records, as `host-runner import` writes them, then reads the chunks up to 8,000 records.)
const RECORDS_PER_CHUNK_READ: u64 = 16;

fn item_key(id: &str) -> String {
    format!("{ITEM_PREFIX}{id}")
}

fn chunk_key(c: u64) -> String {
    format!("{CHUNK_PREFIX}{c}")
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(format!("{what} is not readable: {e}"))
}

/// What `data:item:<id>` holds.
#[derive(Serialize, Deserialize)]
struct Entry {
    /// `None` only in the layout before slots (see [`Meta::upgrade`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    slot: Option<u64>,
    /// The layout before slots ordered records by this stamp.
    #[serde(default, skip_serializing)]
    position: Option<String>,
    record: Map<String, Json>,
}

impl Entry {
    fn decode(bytes: &[u8]) -> Result<Entry, StoreError> {
        serde_json::from_slice(bytes).map_err(|e| corrupt("a /data record", e))
    }

    fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an entry always serializes")
    }

    fn record_bytes(&self) -> Vec<u8> {
        response::json_bytes(&Json::Object(self.record.clone()))
    }
}

/// What `data:meta` holds.
#[derive(Serialize, Deserialize, Default, Debug, Clone, PartialEq)]
struct Meta {
    /// The next slot a new id takes.
    next: u64,
    /// Live records per chunk.
    live: Vec<u64>,
}

impl Meta {
    async fn read<K: KvStore>(kv: &K) -> Result<Option<Meta>, StoreError> {
        kv.get(META_KEY).await?.map(|bytes| serde_json::from_slice(&bytes).map_err(|e| corrupt("data:meta", e))).transpose()
    }

    fn total(&self) -> u64 {
        self.live.iter().sum()
    }

    fn count(&mut self, slot: u64, delta: i64) {
        let c = (slot / CHUNK) as usize;
        if self.live.len() <= c {
            self.live.resize(c + 1, 0);
        }
        self.live[c] = self.live[c].saturating_add_signed(delta);
    }

    fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("meta always serializes")
    }

    /// The meta of the collection, creating it (under the lease) when there is none: an empty
    /// collection, or records of the layout before slots, which get slots in their old order.
    async fn get_or_create<K: KvStore>(kv: &K) -> ApiResult<Meta> {
        if let Some(meta) = Meta::read(kv).await? {
            return Ok(meta);
        }
        let held = lease::acquire(kv).await?;
        let result = async {
            if let Some(meta) = Meta::read(kv).await? {
                return Ok(meta);
            }
            Meta::upgrade(kv).await
        }
        .await;
        lease::release(kv, held).await;
        result
    }

    /// Gives the records of the layout before slots (ordered by their `position` stamps) slots,
    /// and writes the chunks and meta. Run once, under the lease, when there is no meta.
    async fn upgrade<K: KvStore>(kv: &K) -> ApiResult<Meta> {
        let keys = kv.keys(ITEM_PREFIX).await?;
        let mut old = Vec::with_capacity(keys.len());
        for (key, bytes) in keys.iter().zip(kv.get_many(&keys).await?) {
            if let Some(bytes) = bytes {
                old.push((key.clone(), Entry::decode(&bytes)?));
            }
        }
        old.sort_by(|a, b| a.1.position.cmp(&b.1.position));
        let mut meta = Meta::default();
        let mut chunks = Chunks::default();
        let mut items = Vec::with_capacity(old.len());
        for (key, mut entry) in old {
            let slot = meta.next;
            meta.next += 1;
            meta.count(slot, 1);
            let id = key[ITEM_PREFIX.len()..].to_owned();
            chunks.set(slot, Some(id));
            entry.slot = Some(slot);
            items.push((key, entry.encode()));
        }
        kv.set_many(&items).await?;
        let mut layout = chunks.entries();
        layout.push((META_KEY.to_owned(), meta.encode()));
        kv.set_many(&layout).await?;
        Ok(meta)
    }
}

/// Chunks of slots being read or changed, by chunk index.
#[derive(Default)]
struct Chunks(BTreeMap<u64, Vec<Option<String>>>);

impl Chunks {
    /// Reads the chunks `wanted` that are not here yet.
    async fn load<K: KvStore>(&mut self, kv: &K, wanted: impl IntoIterator<Item = u64>) -> Result<(), StoreError> {
        let missing: Vec<u64> = wanted.into_iter().filter(|c| !self.0.contains_key(c)).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        if missing.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = missing.iter().map(|c| chunk_key(*c)).collect();
        for (c, bytes) in missing.into_iter().zip(kv.get_many(&keys).await?) {
            let ids = match bytes {
                Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| corrupt("a /data chunk", e))?,
                None => Vec::new(),
            };
            self.0.insert(c, ids);
        }
        Ok(())
    }

    fn get(&self, slot: u64) -> Option<&str> {
        self.0.get(&(slot / CHUNK))?.get((slot % CHUNK) as usize)?.as_deref()
    }

    fn set(&mut self, slot: u64, id: Option<String>) {
        let ids = self.0.entry(slot / CHUNK).or_default();
        let i = (slot % CHUNK) as usize;
        if ids.len() <= i {
            ids.resize(i + 1, None);
        }
        ids[i] = id;
    }

    fn entries(&self) -> Vec<(String, Vec<u8>)> {
        self.0.iter().map(|(c, ids)| (chunk_key(*c), serde_json::to_vec(ids).expect("ids serialize"))).collect()
    }
}

/// `POST /data`: loads the body's records, or the bundled dataset when there is no body.
pub async fn load<K: KvStore>(kv: &K, req: &Request) -> ApiResult<Response> {
    let body = if req.body().is_empty() {
        let bundled = BUNDLED.ok_or_else(|| ApiError::Internal("this build carries no bundled dataset (feature bundled-dataset)".into()))?;
        serde_json::from_str(bundled).map_err(|e| ApiError::Internal(format!("bundled dataset: {e}")))?
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
    /// `(id, record)`, one per distinct id, in dataset order.
    records: Vec<(String, Map<String, Json>)>,
    /// How many records the load had, repeats included.
    pub count: usize,
}

impl Records {
    pub fn prepare(body: &Json) -> ApiResult<Records> {
        let Json::Array(items) = body else {
            return Err(ApiError::Validation("The body must be an array of records.".into(), vec![FieldError::new("", "must be an array")]));
        };
        let mut errors = Vec::new();
        let mut records: Vec<(String, Map<String, Json>)> = Vec::with_capacity(items.len());
        let mut positions: HashMap<String, usize> = HashMap::new();
        for (i, item) in items.iter().enumerate() {
            match normalize(item, i) {
                // A repeated id keeps its first position and its last value.
                Ok((id, record)) => match positions.get(&id) {
                    Some(&at) => records[at].1 = record,
                    None => {
                        positions.insert(id.clone(), records.len());
                        records.push((id, record));
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

    /// Splits into batches of at most `size` records, in order, for loads that report progress.
    pub fn batches(self, size: usize) -> Vec<Records> {
        self.records.chunks(size.max(1)).map(|chunk| Records { records: chunk.to_vec(), count: chunk.len() }).collect()
    }

    /// Writes the records, under the lease: an id that is in place keeps its slot, others take
    /// the next ones.
    pub async fn store<K: KvStore>(&self, kv: &K) -> ApiResult<()> {
        if self.records.is_empty() {
            return Ok(());
        }
        let mut meta = Meta::get_or_create(kv).await?;
        let held = lease::acquire(kv).await?;
        let result = async {
            // Another writer may have changed it before the lease was ours.
            meta = Meta::read(kv).await?.unwrap_or(meta);
            self.write(kv, &mut meta).await
        }
        .await;
        lease::release(kv, held).await;
        result
    }

    async fn write<K: KvStore>(&self, kv: &K, meta: &mut Meta) -> ApiResult<()> {
        let keys: Vec<String> = self.records.iter().map(|(id, _)| item_key(id)).collect();
        let mut chunks = Chunks::default();
        let old_slots = self.slots_in_place(kv, &keys, meta, &mut chunks).await?;
        let mut slots = Vec::with_capacity(keys.len());
        let mut fresh = Vec::new();
        for ((id, _), old) in self.records.iter().zip(&old_slots) {
            match old {
                Some(slot) if chunks.get(*slot) == Some(id.as_str()) => slots.push(*slot),
                _ => {
                    let slot = meta.next;
                    meta.next += 1;
                    fresh.push((slot, id.clone()));
                    slots.push(slot);
                }
            }
        }
        chunks.load(kv, fresh.iter().map(|(slot, _)| slot / CHUNK)).await?;
        let mut touched = std::collections::BTreeSet::new();
        for (slot, id) in fresh {
            chunks.set(slot, Some(id));
            meta.count(slot, 1);
            touched.insert(slot / CHUNK);
        }
        let items: Vec<(String, Vec<u8>)> = keys
            .into_iter()
            .zip(&self.records)
            .zip(slots)
            .map(|((key, (_, record)), slot)| (key, Entry { slot: Some(slot), position: None, record: record.clone() }.encode()))
            .collect();
        kv.set_many(&items).await?;
        let mut layout: Vec<(String, Vec<u8>)> = chunks.entries().into_iter().filter(|(key, _)| touched.iter().any(|c| *key == chunk_key(*c))).collect();
        layout.push((META_KEY.to_owned(), meta.encode()));
        kv.set_many(&layout).await?;
        Ok(())
    }

    /// Each record's slot now, if it has one, with the chunks read on the way left in `chunks`
    /// (the caller keeps a slot only where its chunk names the id).
    ///
    /// Whichever of two reads is smaller: every chunk in use, when the load has at least
    /// [`RECORDS_PER_CHUNK_READ`] records per chunk (an empty collection has none; reloading
    /// the whole dataset reads 1/256 as many keys as it has records), else each record (its
    /// entry names its slot) and the chunks those slots are in. Both find the same slots: a slot
    /// counts only if its chunk names the id, since a writer may have died before writing the
    /// chunk. (Fewer keys matter most where `get-many` is one read per key: Spin 3.6's Redis
    /// store refuses it, see the Spin adapter's `get_many`.)
    async fn slots_in_place<K: KvStore>(&self, kv: &K, keys: &[String], meta: &Meta, chunks: &mut Chunks) -> ApiResult<Vec<Option<u64>>> {
        let in_use = meta.next.div_ceil(CHUNK);
        if in_use.saturating_mul(RECORDS_PER_CHUNK_READ) <= keys.len() as u64 {
            chunks.load(kv, 0..in_use).await?;
            // An index of the load's ids, not the chunks' (which may name up to 16 times as many).
            let index: HashMap<&str, usize> = self.records.iter().enumerate().map(|(at, (id, _))| (id.as_str(), at)).collect();
            let mut slots = vec![None; self.records.len()];
            for (c, ids) in &chunks.0 {
                for (i, id) in ids.iter().enumerate() {
                    if let Some(&at) = id.as_deref().and_then(|id| index.get(id)) {
                        slots[at].get_or_insert(c * CHUNK + i as u64);
                    }
                }
            }
            return Ok(slots);
        }
        let mut old_slots = Vec::with_capacity(keys.len());
        for bytes in kv.get_many(keys).await? {
            old_slots.push(match bytes {
                Some(bytes) => Entry::decode(&bytes)?.slot,
                None => None,
            });
        }
        chunks.load(kv, old_slots.iter().flatten().map(|slot| slot / CHUNK)).await?;
        Ok(old_slots)
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
            Some(Json::String(s)) if s.contains('\0') => errors.push(FieldError::new(format!("[{index}].{name}"), NUL_MESSAGE)),
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

/// `GET /data`: records in dataset order from position `start`, or after a `cursor`, at most
/// `limit` of them. The `Link` to the next page carries a cursor: the slot of the page's last
/// record, so that the next page starts right after it even if records before it were deleted
/// in between (a position would then skip records).
pub async fn list<K: KvStore>(kv: &K, req: &Request) -> ApiResult<Response> {
    let query = Query::parse(req)?;
    if let Some((name, _)) = query.pairs().iter().find(|(k, _)| !matches!(k.as_str(), "start" | "limit" | cursor::PARAM)) {
        return Err(ApiError::BadRequest(format!("Unknown query parameter `{name}`: /data takes start, limit and cursor.")));
    }
    let start = query.count("start", 0, None)?;
    let limit = query.count("limit", u64::MAX, None)?;
    let after = match query.get(cursor::PARAM) {
        None => None,
        Some(_) if query.get("start").is_some() => {
            return Err(ApiError::BadRequest("Give `start` or `cursor`, not both: a cursor says where the page starts.".into()));
        }
        Some(text) => Some(cursor_slot(text)?),
    };
    let meta = Meta::get_or_create(kv).await?;
    let total = meta.total();
    let picked = match after {
        None => pick_from_position(kv, &meta, start.min(total), limit).await?,
        Some(slot) => pick_after_slot(kv, &meta, slot, limit).await?,
    };
    let records = fetch(kv, &picked.ids).await?;
    let mut body = Vec::with_capacity(records.len() * 160 + 2);
    body.push(b'[');
    for (i, record) in records.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(record);
    }
    body.push(b']');
    let mut resp = response::bytes(StatusCode::OK, body);
    set_header(&mut resp, header::HeaderName::from_static("x-total-count"), &total.to_string());
    if let (Some(_), true, Some((slot, _))) = (query.get("limit"), picked.more && limit > 0, picked.ids.last()) {
        let cursor = cursor::encode(&json!({ "r": "data", "slot": slot }));
        let next = next_page(query.pairs(), &["start"], &[("limit", limit.to_string()), (cursor::PARAM, cursor)]);
        set_header(&mut resp, header::LINK, &format!("<{}>; rel=\"next\"", link(req.uri().path(), &next)));
    }
    Ok(resp)
}

/// The slot a `/data` cursor continues after.
fn cursor_slot(text: &str) -> ApiResult<u64> {
    let payload = cursor::decode(text)?;
    if payload["r"] != "data" {
        return Err(cursor::invalid("it belongs to another list than /data"));
    }
    payload["slot"].as_u64().ok_or_else(|| cursor::invalid("it is not one this API handed out"))
}

/// The ids a page shows, with their slots, and whether live records follow them.
struct Picked {
    ids: Vec<(u64, String)>,
    more: bool,
}

/// The live records at positions `from ..`, at most `want` (`from` ≤ the total).
async fn pick_from_position<K: KvStore>(kv: &K, meta: &Meta, from: u64, want: u64) -> ApiResult<Picked> {
    // The chunk that holds position `from`, and how many live records of it come before.
    let mut first = 0;
    let mut before = 0;
    while first < meta.live.len() && before + meta.live[first] <= from {
        before += meta.live[first];
        first += 1;
    }
    pick(kv, meta, first as u64 * CHUNK, from - before, want).await
}

/// The live records in slots after `slot`, at most `want`.
async fn pick_after_slot<K: KvStore>(kv: &K, meta: &Meta, slot: u64, want: u64) -> ApiResult<Picked> {
    pick(kv, meta, slot.saturating_add(1), 0, want).await
}

/// Picks `want` live ids from slot `from_slot` on, after skipping `skip` of them. Reads, in one
/// batch, the chunks from `from_slot`'s on whose live counts cover `skip + want` (the first
/// chunk's count is not counted when the page starts inside it: it may hold records before
/// `from_slot`).
async fn pick<K: KvStore>(kv: &K, meta: &Meta, from_slot: u64, skip: u64, want: u64) -> ApiResult<Picked> {
    let first = (from_slot / CHUNK) as usize;
    let partial = from_slot % CHUNK != 0;
    let needed = skip.saturating_add(want);
    let mut last = first;
    let mut covered = 0u64;
    while last < meta.live.len() && covered < needed {
        if !(partial && last == first) {
            covered += meta.live[last];
        }
        last += 1;
    }
    if want == 0 {
        // A page of none never carries a `Link`.
        return Ok(Picked { ids: Vec::new(), more: false });
    }
    let mut chunks = Chunks::default();
    chunks.load(kv, first as u64..last as u64).await?;
    let mut skip = skip;
    let mut ids = Vec::with_capacity(want.min(4096) as usize);
    let mut more = false;
    'chunks: for (c, chunk) in &chunks.0 {
        for (offset, id) in chunk.iter().enumerate() {
            let slot = c * CHUNK + offset as u64;
            let Some(id) = id else { continue };
            if slot < from_slot {
                continue;
            }
            if skip > 0 {
                skip -= 1;
            } else if (ids.len() as u64) < want {
                ids.push((slot, id.clone()));
            } else {
                more = true;
                break 'chunks;
            }
        }
    }
    // Past the chunks read: any live record at all.
    more = more || meta.live.iter().skip(last).any(|&n| n > 0);
    Ok(Picked { ids, more })
}

/// The records of `picked`, as JSON: one batched read. A record deleted since its chunk was
/// read is simply gone.
async fn fetch<K: KvStore>(kv: &K, picked: &[(u64, String)]) -> ApiResult<Vec<Vec<u8>>> {
    let keys: Vec<String> = picked.iter().map(|(_, id)| item_key(id)).collect();
    let mut records = Vec::with_capacity(keys.len());
    for bytes in kv.get_many(&keys).await?.into_iter().flatten() {
        records.push(Entry::decode(&bytes)?.record_bytes());
    }
    Ok(records)
}

async fn get_entry<K: KvStore>(kv: &K, id: &str) -> ApiResult<Entry> {
    // No record can have an id with U+0000 (loads refuse it).
    if id.contains('\0') {
        return Err(not_found());
    }
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

/// `DELETE /data/{id}`: the record's slot is emptied first (so no chunk names a missing
/// record), then the record goes.
pub async fn delete<K: KvStore>(kv: &K, id: &str, req: &Request) -> ApiResult<Response> {
    let entry = get_entry(kv, id).await?;
    check_if_match(req, Some(&etag(0, &entry.record_bytes())))?;
    let mut meta = Meta::get_or_create(kv).await?;
    let held = lease::acquire(kv).await?;
    let result = async {
        meta = Meta::read(kv).await?.unwrap_or(meta);
        let entry = get_entry(kv, id).await?;
        check_if_match(req, Some(&etag(0, &entry.record_bytes())))?;
        if let Some(slot) = entry.slot {
            let mut chunks = Chunks::default();
            chunks.load(kv, [slot / CHUNK]).await?;
            if chunks.get(slot) == Some(id) {
                chunks.set(slot, None);
                meta.count(slot, -1);
                let mut layout = chunks.entries();
                layout.push((META_KEY.to_owned(), meta.encode()));
                kv.set_many(&layout).await?;
            }
        }
        kv.delete(&item_key(id)).await?;
        Ok(response::no_content())
    }
    .await;
    lease::release(kv, held).await;
    result
}

/// `DELETE /data`: every record, chunk and the meta (whatever a failed writer left too).
pub async fn clear<K: KvStore>(kv: &K) -> ApiResult<Response> {
    let held = lease::acquire(kv).await?;
    let result = async {
        let mut keys = kv.keys(PREFIX).await?;
        keys.retain(|k| k != lease::KEY);
        for batch in keys.chunks(1000) {
            kv.delete_many(batch).await?;
        }
        kv.set(META_KEY, &Meta::default().encode()).await?;
        Ok(response::no_content())
    }
    .await;
    lease::release(kv, held).await;
    result
}

fn not_found() -> ApiError {
    ApiError::NotFound("No record has this id.".into())
}

#[cfg(test)]
mod tests;
