//! `fermyon:spin/key-value@2.0.0` over the native engine's key-value stores: the embedded
//! `spin_key_value` table (the layout of Spin's own SQLite store, one row per key, filed under
//! the store's label) or Redis (one Redis key per key, as Spin's Redis store). The operations
//! themselves are the stores' own ([`KvBucket`]), shared with the native engine.

use spincrud_core::store::StoreError;
use tracing::instrument;
use wasmtime::component::Resource;

use crate::stores::KvBucket;
use spincrud_core::store::KvStore;
use super::fermyon::spin::key_value::{Error, Host, HostStore};
use super::State;

/// Spin's limit on stores open at once in one instance.
const MAX_OPEN_STORES: usize = 256;

/// The host side of a guest `store`.
pub type Store = KvBucket;

impl Host for State {}

impl HostStore for State {
    #[instrument(name = "spin_key_value.open", skip_all, fields(otel.kind = "client"))]
    async fn open(&mut self, label: String) -> wasmtime::Result<Result<Resource<Store>, Error>> {
        if !self.grants.key_value_stores.contains(&label) {
            return Ok(Err(Error::AccessDenied));
        }
        let Some(bucket) = self.backends.key_value(&label) else {
            return Ok(Err(Error::NoSuchStore));
        };
        if self.open_stores >= MAX_OPEN_STORES {
            return Ok(Err(Error::StoreTableFull));
        }
        self.open_stores += 1;
        Ok(Ok(self.table.push(bucket)?))
    }

    #[instrument(name = "spin_key_value.get", skip_all, fields(otel.kind = "client"))]
    async fn get(&mut self, store: Resource<Store>, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        let store = self.table.get(&store)?;
        Ok(store.get(&key).await.map_err(kv_error))
    }

    #[instrument(name = "spin_key_value.set", skip_all, fields(otel.kind = "client"))]
    async fn set(&mut self, store: Resource<Store>, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), Error>> {
        let store = self.table.get(&store)?;
        Ok(store.set(&key, &value).await.map_err(kv_error))
    }

    #[instrument(name = "spin_key_value.delete", skip_all, fields(otel.kind = "client"))]
    async fn delete(&mut self, store: Resource<Store>, key: String) -> wasmtime::Result<Result<(), Error>> {
        let store = self.table.get(&store)?;
        Ok(store.delete(&key).await.map_err(kv_error))
    }

    #[instrument(name = "spin_key_value.exists", skip_all, fields(otel.kind = "client"))]
    async fn exists(&mut self, store: Resource<Store>, key: String) -> wasmtime::Result<Result<bool, Error>> {
        let store = self.table.get(&store)?;
        Ok(store.exists(&key).await.map_err(kv_error))
    }

    #[instrument(name = "spin_key_value.get_keys", skip_all, fields(otel.kind = "client"))]
    async fn get_keys(&mut self, store: Resource<Store>) -> wasmtime::Result<Result<Vec<String>, Error>> {
        let store = self.table.get(&store)?;
        Ok(store.keys("").await.map_err(kv_error))
    }

    async fn drop(&mut self, store: Resource<Store>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        self.open_stores = self.open_stores.saturating_sub(1);
        Ok(())
    }
}

/// The store's own message, as Spin reports backend failures (the components classify it).
fn kv_error(e: StoreError) -> Error {
    Error::Other(match e {
        StoreError::Unavailable(m) | StoreError::Conflict(m) | StoreError::Other(m) => m,
    })
}
