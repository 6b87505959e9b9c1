//! The layout against a model: a plain list of ids in dataset order.

use futures_executor::block_on;
use serde_json::{json, Value as Json};

use super::*;
use crate::store::MemoryKv;

fn records(ids: impl IntoIterator<Item = String>, tag: &str) -> Json {
    Json::Array(ids.into_iter().map(|id| json!({"id": id, "name": tag})).collect())
}

fn load_ids(kv: &MemoryKv, ids: &[String], tag: &str) {
    let body = records(ids.iter().cloned(), tag);
    block_on(Records::prepare(&body).unwrap().store(kv)).unwrap();
}

/// `(X-Total-Count, ids of the page)`.
fn page_of(kv: &MemoryKv, start: u64, limit: u64) -> (u64, Vec<String>) {
    let req = http::Request::get(format!("/data?start={start}&limit={limit}")).body(Vec::new()).unwrap();
    let resp = block_on(list(kv, &req)).unwrap();
    let total = resp.headers()["x-total-count"].to_str().unwrap().parse().unwrap();
    let items: Vec<Json> = serde_json::from_slice(resp.body()).unwrap();
    (total, items.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect())
}

/// The ids of every page from the start, following each `Link` (a cursor) until there is none.
fn walk(kv: &MemoryKv, limit: u64) -> Vec<String> {
    let mut target = format!("/data?limit={limit}");
    let mut ids = Vec::new();
    loop {
        let req = http::Request::get(&target).body(Vec::new()).unwrap();
        let resp = block_on(list(kv, &req)).unwrap();
        let items: Vec<Json> = serde_json::from_slice(resp.body()).unwrap();
        assert!(items.len() as u64 <= limit);
        ids.extend(items.iter().map(|r| r["id"].as_str().unwrap().to_owned()));
        let Some(link) = resp.headers().get("link") else { return ids };
        let link = link.to_str().unwrap();
        assert!(!items.is_empty(), "a Link after an empty page: {link}");
        target = link.strip_prefix('<').and_then(|l| l.split_once('>')).unwrap().0.to_owned();
        assert!(target.contains("cursor=") && !target.contains("start="), "{target}");
    }
}

fn remove(kv: &MemoryKv, id: &str) {
    let req = http::Request::delete(format!("/data/{id}")).body(Vec::new()).unwrap();
    block_on(delete(kv, id, &req)).unwrap();
}

/// Every page of the model, at a few page sizes and chunk boundaries.
fn check(kv: &MemoryKv, model: &[String]) {
    let total = model.len() as u64;
    for (start, limit) in [(0, 20), (CHUNK - 3, 7), (CHUNK, 1), (total / 2, 20), (total.saturating_sub(5), 20), (total, 5), (total + 10, 5), (0, total + 1)] {
        let (t, ids) = page_of(kv, start, limit);
        assert_eq!(t, total);
        let from = (start as usize).min(model.len());
        let to = (from + limit as usize).min(model.len());
        assert_eq!(ids, model[from..to], "start={start} limit={limit}");
    }
    for limit in [1, 7, CHUNK, 1000] {
        assert_eq!(walk(kv, limit), model, "every page by cursor, limit={limit}");
    }
}

#[test]
fn pages_follow_dataset_order_across_chunks_upserts_and_deletes() {
    let kv = MemoryKv::default();
    let mut model: Vec<String> = (0..1000).map(|i| format!("r{i}")).collect();
    load_ids(&kv, &model, "first");
    check(&kv, &model);

    // Upserts keep their place; new ids go to the end, in the order of the load.
    let mut second: Vec<String> = (500..520).map(|i| format!("r{i}")).collect();
    second.extend((1000..1300).map(|i| format!("r{i}")));
    load_ids(&kv, &second, "second");
    model.extend((1000..1300).map(|i| format!("r{i}")));
    check(&kv, &model);
    let (_, ids) = page_of(&kv, 500, 1);
    assert_eq!(ids, ["r500"]);

    // Deletes keep positions dense, also for a whole chunk.
    for i in (0..1300).filter(|i| i % 7 == 0 || (256..512).contains(i)) {
        remove(&kv, &format!("r{i}"));
        model.retain(|id| *id != format!("r{i}"));
    }
    check(&kv, &model);

    // A deleted id loaded again goes to the end.
    load_ids(&kv, &["r7".to_owned()], "back");
    model.push("r7".to_owned());
    check(&kv, &model);
}

#[test]
fn a_page_costs_the_same_store_calls_at_any_size() {
    let small = CountingKv::default();
    let ids: Vec<String> = (0..500).map(|i| format!("s{i}")).collect();
    block_on(Records::prepare(&records(ids, "s")).unwrap().store(&small)).unwrap();
    let large = CountingKv::default();
    let ids: Vec<String> = (0..20_000).map(|i| format!("l{i}")).collect();
    block_on(Records::prepare(&records(ids, "l")).unwrap().store(&large)).unwrap();
    let calls = |kv: &CountingKv, start: u64| {
        let before = kv.calls();
        let req = http::Request::get(format!("/data?start={start}&limit=20")).body(Vec::new()).unwrap();
        block_on(list(kv, &req)).unwrap();
        kv.calls() - before
    };
    assert_eq!(calls(&small, 250), calls(&large, 10_000));
    assert!(calls(&large, 10_000) <= 3, "{} store calls", calls(&large, 10_000));
    // The same by cursor, deep in the large set.
    let by_cursor = |kv: &CountingKv| {
        let req = http::Request::get("/data?start=10000&limit=20").body(Vec::new()).unwrap();
        let resp = block_on(list(kv, &req)).unwrap();
        let link = resp.headers()["link"].to_str().unwrap().to_owned();
        let next = link.strip_prefix('<').and_then(|l| l.split_once('>')).unwrap().0.to_owned();
        let before = kv.calls();
        block_on(list(kv, &http::Request::get(&next).body(Vec::new()).unwrap())).unwrap();
        kv.calls() - before
    };
    assert!(by_cursor(&large) <= 3, "{} store calls", by_cursor(&large));
}

#[test]
fn a_cursor_continues_after_its_record_through_deletes_before_and_after() {
    let kv = MemoryKv::default();
    let model: Vec<String> = (0..600).map(|i| format!("r{i}")).collect();
    load_ids(&kv, &model, "x");
    let req = http::Request::get("/data?start=290&limit=10").body(Vec::new()).unwrap();
    let resp = block_on(list(&kv, &req)).unwrap();
    let next = resp.headers()["link"].to_str().unwrap().strip_prefix('<').unwrap().split_once('>').unwrap().0.to_owned();
    // Records before the cursor, the one it names and a whole chunk after it go away.
    for i in (0..300).step_by(3).chain(512..600) {
        remove(&kv, &format!("r{i}"));
    }
    remove(&kv, "r299");
    let resp = block_on(list(&kv, &http::Request::get(&next).body(Vec::new()).unwrap())).unwrap();
    let items: Vec<Json> = serde_json::from_slice(resp.body()).unwrap();
    let ids: Vec<&str> = items.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, (300..310).map(|i| format!("r{i}")).collect::<Vec<_>>());
    // A cursor past the last record: an empty page, no Link.
    let last = cursor::encode(&json!({"r": "data", "slot": 100_000}));
    let resp = block_on(list(&kv, &http::Request::get(format!("/data?limit=5&cursor={last}")).body(Vec::new()).unwrap())).unwrap();
    assert_eq!(resp.body(), b"[]");
    assert!(resp.headers().get("link").is_none());
    // With `start`, or a list's cursor, or a made-up one: 400.
    let cats = cursor::encode(&json!({"r": "cats", "o": null, "k": null, "s": 3}));
    for bad in [format!("{next}&start=3"), format!("/data?cursor={cats}"), "/data?cursor=abc".to_owned()] {
        let err = block_on(list(&kv, &http::Request::get(&bad).body(Vec::new()).unwrap())).unwrap_err();
        assert!(matches!(err, ApiError::BadRequest(_)), "{bad}");
    }
}

#[test]
fn a_record_left_outside_the_chunks_is_put_back_by_the_next_load() {
    // The next load has 20 records: over two ids (one chunk) it reads the chunks, over 600
    // (three chunks) its records.
    for n in [2, 600] {
        let kv = MemoryKv::default();
        let ids: Vec<String> = (0..n).map(|i| format!("r{i}")).collect();
        load_ids(&kv, &ids, "x");
        // A writer that died after writing a record but before its chunk: the record names a
        // slot no chunk holds.
        block_on(kv.set(&item_key("c"), br#"{"slot":99,"record":{"id":"c"}}"#)).unwrap();
        assert_eq!(page_of(&kv, 0, 1000), (n, ids.clone()));
        let next: Vec<String> = std::iter::once("c".to_owned()).chain((0..19).map(|i| format!("n{i}"))).collect();
        load_ids(&kv, &next, "x");
        let (total, page) = page_of(&kv, 0, 1000);
        assert_eq!((total, &page[..n as usize], &page[n as usize..]), (n + 20, &ids[..], &next[..]));
    }
}

#[test]
fn a_load_with_16_records_per_chunk_or_more_reads_the_chunks_not_its_records() {
    let kv = CountingKv::default();
    let ids: Vec<String> = (0..20_000).map(|i| format!("r{i}")).collect();
    let load = |ids: &[String], tag: &str| {
        let before = kv.items_read();
        block_on(Records::prepare(&records(ids.iter().cloned(), tag)).unwrap().store(&kv)).unwrap();
        kv.items_read() - before
    };
    // Into an empty collection, and again over itself (79 chunks): no record is read.
    assert_eq!(load(&ids, "first"), 0);
    assert_eq!(load(&ids, "again"), 0);
    // Ten of them, or a thousand (fewer than 16 per chunk): their records.
    assert_eq!(load(&ids[5_000..5_010], "ten"), 10);
    assert_eq!(load(&ids[10_000..11_000], "a thousand"), 1_000);
    let req = http::Request::get("/data?start=4999&limit=12").body(Vec::new()).unwrap();
    let page: Vec<Json> = serde_json::from_slice(block_on(list(&kv, &req)).unwrap().body()).unwrap();
    let names: Vec<(&str, &str)> = page.iter().map(|r| (r["id"].as_str().unwrap(), r["name"].as_str().unwrap())).collect();
    let mut expected = vec![("r4999", "again")];
    expected.extend(ids[5_000..5_010].iter().map(|id| (id.as_str(), "ten")));
    expected.push(("r5010", "again"));
    assert_eq!(names, expected);
}

#[test]
fn the_layout_before_slots_is_upgraded_in_its_order() {
    let kv = MemoryKv::default();
    for (id, position) in [("x", "0003"), ("y", "0001"), ("z", "0002")] {
        let entry = json!({"position": position, "record": {"id": id}});
        block_on(kv.set(&item_key(id), &serde_json::to_vec(&entry).unwrap())).unwrap();
    }
    assert_eq!(page_of(&kv, 0, 10), (3, vec!["y".into(), "z".into(), "x".into()]));
    load_ids(&kv, &["w".into(), "x".into()], "again");
    assert_eq!(page_of(&kv, 0, 10), (4, vec!["y".into(), "z".into(), "x".into(), "w".into()]));
}

#[test]
fn clear_removes_everything_and_releases_the_lease() {
    let kv = MemoryKv::default();
    load_ids(&kv, &(0..300).map(|i| i.to_string()).collect::<Vec<_>>(), "x");
    block_on(clear(&kv)).unwrap();
    assert_eq!(page_of(&kv, 0, 10), (0, vec![]));
    let left = block_on(kv.keys(PREFIX)).unwrap();
    assert_eq!(left, [lease::KEY.to_owned(), META_KEY.to_owned()]);
    assert_eq!(block_on(kv.get(lease::KEY)).unwrap().as_deref(), Some(&lease::FREE[..]));
}

/// Counts store calls (one per batched call).
#[derive(Default)]
struct CountingKv {
    inner: MemoryKv,
    calls: std::sync::atomic::AtomicUsize,
    /// Keys of records read (`data:item:*`), one per key whatever the call.
    items_read: std::sync::atomic::AtomicUsize,
}

impl CountingKv {
    fn calls(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }
    fn items_read(&self) -> usize {
        self.items_read.load(std::sync::atomic::Ordering::Relaxed)
    }
    fn read<'a>(&self, keys: impl IntoIterator<Item = &'a str>) {
        let items = keys.into_iter().filter(|k| k.starts_with(ITEM_PREFIX)).count();
        self.items_read.fetch_add(items, std::sync::atomic::Ordering::Relaxed);
    }
    fn count(&self) {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl KvStore for CountingKv {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.count();
        self.read([key]);
        self.inner.get(key).await
    }
    async fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.count();
        self.inner.set(key, value).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.count();
        self.inner.delete(key).await
    }
    async fn keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.count();
        self.inner.keys(prefix).await
    }
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        self.count();
        self.read(keys.iter().map(String::as_str));
        self.inner.get_many(keys).await
    }
    async fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        self.count();
        self.inner.set_many(entries).await
    }
    async fn compare_and_swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> Result<bool, StoreError> {
        self.count();
        self.inner.compare_and_swap(key, expected, new).await
    }
    async fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        self.count();
        self.inner.increment(key, delta).await
    }
    async fn pause(&self, millis: u64) {
        self.inner.pause(millis).await
    }
}
