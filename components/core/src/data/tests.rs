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
}

#[test]
fn a_record_left_outside_the_chunks_is_put_back_by_the_next_load() {
    let kv = MemoryKv::default();
    load_ids(&kv, &["a".into(), "b".into()], "x");
    // A writer that died after writing a record but before its chunk: the record names a slot
    // no chunk holds.
    block_on(kv.set(&item_key("c"), br#"{"slot":99,"record":{"id":"c"}}"#)).unwrap();
    assert_eq!(page_of(&kv, 0, 10), (2, vec!["a".into(), "b".into()]));
    load_ids(&kv, &["c".into()], "x");
    assert_eq!(page_of(&kv, 0, 10), (3, vec!["a".into(), "b".into(), "c".into()]));
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
}

impl CountingKv {
    fn calls(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }
    fn count(&self) {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl KvStore for CountingKv {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.count();
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
