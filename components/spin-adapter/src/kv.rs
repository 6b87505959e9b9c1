//! [`KvStore`] over Spin's key-value store `default` (`spin_sdk::key_value`).

use std::cell::OnceCell;

use spin_sdk::key_value::{Error, Store};
use spincrud_core::store::{KvStore, StoreError};

/// The key-value store `default`, opened on first use.
///
/// Where it lives (a local file under `.spin/`, Redis, …) is the runtime config's business
/// (`runtime-config/*.toml`); the component only needs `key_value_stores = ["default"]`.
pub struct SpinKv {
    store: OnceCell<Result<Store, StoreError>>,
}

impl SpinKv {
    pub fn new() -> Self {
        SpinKv {
            store: OnceCell::new(),
        }
    }

    fn store(&self) -> Result<&Store, StoreError> {
        self.store
            .get_or_init(|| Store::open_default().map_err(kv_error))
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
        self.store()?.get(key).map_err(kv_error)
    }

    async fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.store()?.set(key, value).map_err(kv_error)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.store()?.delete(key).map_err(kv_error)
    }

    /// Spin's `get-keys` lists the whole store; the prefix is applied here.
    async fn keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut keys = self.store()?.get_keys().map_err(kv_error)?;
        keys.retain(|k| k.starts_with(prefix));
        Ok(keys)
    }
}

fn kv_error(e: Error) -> StoreError {
    match e {
        Error::StoreTableFull => StoreError::Unavailable("too many open stores".to_owned()),
        Error::NoSuchStore => {
            StoreError::Unavailable("key-value store `default` does not exist".to_owned())
        }
        Error::AccessDenied => StoreError::Unavailable(
            "component has no key_value_stores = [\"default\"] grant".to_owned(),
        ),
        Error::Other(message) => classify(message),
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
            kv_error(Error::AccessDenied),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            kv_error(Error::Other("Connection refused (os error 111)".into())),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            kv_error(Error::Other("value too large".into())),
            StoreError::Other(_)
        ));
    }
}
