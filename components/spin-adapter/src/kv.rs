//! [`KvStore`] over Spin's key-value store `default`, through `wasi:keyvalue@0.2.0-draft2`
//! (`store`, `batch`, `atomics`), which Spin 3.6 provides over the same stores as
//! `fermyon:spin/key-value`: the batch calls read and write a page's keys in one host call, and
//! compare-and-swap guards `/data`'s lease.

use std::cell::{Cell, OnceCell};

use spin_sdk::wit::wasi::keyvalue::{atomics, batch, store};
use spincrud_core::store::{KvStore, StoreError};

/// The key-value store `default`, opened on first use.
///
/// Where it lives (a local file under `.spin/`, Redis, …) is the runtime config's business
/// (`runtime-config/*.toml`); the component only needs `key_value_stores = ["default"]`.
pub struct SpinKv {
    bucket: OnceCell<Result<store::Bucket, StoreError>>,
    /// `get-many` failed once in this request: read key by key from then on. (Spin 3.6's Redis
    /// store sends `KEYS` with the keys as arguments, which Redis refuses for two keys or more;
    /// every store answers `get`.)
    no_batch_reads: Cell<bool>,
}

impl SpinKv {
    pub fn new() -> Self {
        SpinKv {
            bucket: OnceCell::new(),
            no_batch_reads: Cell::new(false),
        }
    }

    fn bucket(&self) -> Result<&store::Bucket, StoreError> {
        self.bucket
            .get_or_init(|| store::open("default").map_err(kv_error))
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl Default for SpinKv {
    fn default() -> Self {
        Self::new()
    }
}

impl KvStore for SpinKv {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.bucket()?.get(key).map_err(kv_error)
    }

    async fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.bucket()?.set(key, value).map_err(kv_error)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.bucket()?.delete(key).map_err(kv_error)
    }

    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        self.bucket()?.exists(key).map_err(kv_error)
    }

    /// `list-keys`, every page of it, filtered by the prefix here.
    async fn keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let bucket = self.bucket()?;
        let mut keys = Vec::new();
        let mut cursor = None;
        loop {
            let page = bucket.list_keys(cursor.as_deref()).map_err(kv_error)?;
            keys.extend(page.keys.into_iter().filter(|k| k.starts_with(prefix)));
            match page.cursor {
                Some(next) if cursor.as_ref() != Some(&next) => cursor = Some(next),
                _ => return Ok(keys),
            }
        }
    }

    /// One `get-many`; its answer is matched to `keys` by key (stores differ in whether they
    /// list missing keys). One key is read with `get`: Spin 3.6's Redis store would answer
    /// `get-many` of one key that exists by panicking in the host (`KEYS <key>` matches it, and
    /// the key's name is no key-value pair), which fails the whole request. Of several keys it
    /// sends `KEYS k1 k2 …`, which Redis refuses: there every batch is read key by key, one host
    /// call each (so the core reads as few keys as it can; see `data::Records`).
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let bucket = self.bucket()?;
        match keys {
            [] => return Ok(Vec::new()),
            [key] => return Ok(vec![bucket.get(key).map_err(kv_error)?]),
            _ => {}
        }
        if !self.no_batch_reads.get() {
            match batch::get_many(bucket, keys) {
                Ok(found) => {
                    let mut by_key: std::collections::HashMap<String, Vec<u8>> =
                        found.into_iter().filter_map(|(k, v)| Some((k, v?))).collect();
                    return Ok(keys.iter().map(|k| by_key.remove(k)).collect());
                }
                Err(e) => {
                    eprintln!("spincrud: get-many failed ({}); reading key by key", describe(&e));
                    self.no_batch_reads.set(true);
                }
            }
        }
        keys.iter()
            .map(|k| bucket.get(k).map_err(kv_error))
            .collect()
    }

    async fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        batch::set_many(self.bucket()?, entries).map_err(kv_error)
    }

    async fn delete_many(&self, keys: &[String]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        batch::delete_many(self.bucket()?, keys).map_err(kv_error)
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let cas = atomics::Cas::new(self.bucket()?, key).map_err(kv_error)?;
        if cas.current().map_err(kv_error)?.as_deref() != expected {
            return Ok(false);
        }
        match atomics::swap(cas, new) {
            Ok(()) => Ok(true),
            Err(atomics::CasError::CasFailed(_)) => Ok(false),
            Err(atomics::CasError::StoreError(e)) => Err(kv_error(e)),
        }
    }

    async fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        atomics::increment(self.bucket()?, key, delta).map_err(kv_error)
    }

    /// Blocks this instance on a `wasi:clocks` timer (Spin runs other requests meanwhile).
    async fn pause(&self, millis: u64) {
        wasi::clocks::monotonic_clock::subscribe_duration(millis.saturating_mul(1_000_000)).block();
    }
}

fn describe(e: &store::Error) -> String {
    match e {
        store::Error::NoSuchStore => "no such store".to_owned(),
        store::Error::AccessDenied => "access denied".to_owned(),
        store::Error::Other(message) => message.clone(),
    }
}

fn kv_error(e: store::Error) -> StoreError {
    match e {
        store::Error::NoSuchStore => {
            StoreError::Unavailable("key-value store `default` does not exist".to_owned())
        }
        store::Error::AccessDenied => StoreError::Unavailable(
            "component has no key_value_stores = [\"default\"] grant".to_owned(),
        ),
        store::Error::Other(message) => classify(message),
    }
}

/// Backends report failures as text (e.g. the Redis client's "Connection refused").
fn classify(message: String) -> StoreError {
    let lower = message.to_ascii_lowercase();
    let unreachable = [
        "connect",
        "refused",
        "timed out",
        "timeout",
        "broken pipe",
        "reset",
        "unreachable",
        "io error",
        "pool",
        "closed",
        "down",
        "database is locked",
    ];
    if unreachable.iter().any(|word| lower.contains(word)) {
        StoreError::Unavailable(message)
    } else {
        StoreError::Other(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified() {
        assert!(matches!(
            kv_error(store::Error::AccessDenied),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            kv_error(store::Error::Other("Connection refused (os error 111)".into())),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            kv_error(store::Error::Other("value too large".into())),
            StoreError::Other(_)
        ));
    }
}
