//! `wasi:keyvalue@0.2.0-draft2` (`store`, `batch`, `atomics`) over the same key-value stores as
//! `fermyon:spin/key-value`, as Spin 3.6 provides both: a bucket is a store label, with the same
//! grants (`key_value_stores`) and the same bytes in the store.
//!
//! Atomics are atomic on every backend: `increment` is one transaction (embedded) or `INCRBY`
//! (Redis), stored as Spin stores counters; a CAS handle reads the key's value when it is made,
//! and `swap` writes only if the value is still that one (from "missing" too, where Spin's
//! embedded store would overwrite).

use spincrud_core::store::{KvStore, StoreError};
use tracing::instrument;
use wasmtime::component::Resource;

use super::wasi::keyvalue::atomics::{self, CasError};
use super::wasi::keyvalue::batch;
use super::wasi::keyvalue::store::{self, Error, KeyResponse};
use super::State;
use crate::stores::KvBucket;

/// The host side of a guest `bucket`.
pub type Bucket = KvBucket;

/// The host side of a guest `cas`: the key and its value when the handle was made.
pub struct Cas {
    bucket: KvBucket,
    key: String,
    current: Option<Vec<u8>>,
}

/// Spin's limit on stores open at once in one instance (shared with `fermyon:spin/key-value`).
const MAX_OPEN_STORES: usize = 256;

fn error(e: StoreError) -> Error {
    Error::Other(match e {
        StoreError::Unavailable(m) | StoreError::Conflict(m) | StoreError::Other(m) => m,
    })
}

impl store::Host for State {
    #[instrument(name = "wasi_keyvalue.open", skip_all, fields(otel.kind = "client"))]
    async fn open(&mut self, identifier: String) -> wasmtime::Result<Result<Resource<Bucket>, Error>> {
        if !self.grants.key_value_stores.contains(&identifier) {
            return Ok(Err(Error::AccessDenied));
        }
        let Some(bucket) = self.backends.key_value(&identifier) else {
            return Ok(Err(Error::NoSuchStore));
        };
        if self.open_stores >= MAX_OPEN_STORES {
            return Ok(Err(Error::Other("too many stores open in this instance".into())));
        }
        self.open_stores += 1;
        Ok(Ok(self.table.push(bucket)?))
    }
}

impl store::HostBucket for State {
    #[instrument(name = "wasi_keyvalue.get", skip_all, fields(otel.kind = "client"))]
    async fn get(&mut self, bucket: Resource<Bucket>, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        Ok(self.table.get(&bucket)?.get(&key).await.map_err(error))
    }

    #[instrument(name = "wasi_keyvalue.set", skip_all, fields(otel.kind = "client"))]
    async fn set(&mut self, bucket: Resource<Bucket>, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), Error>> {
        Ok(self.table.get(&bucket)?.set(&key, &value).await.map_err(error))
    }

    #[instrument(name = "wasi_keyvalue.delete", skip_all, fields(otel.kind = "client"))]
    async fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> wasmtime::Result<Result<(), Error>> {
        Ok(self.table.get(&bucket)?.delete(&key).await.map_err(error))
    }

    #[instrument(name = "wasi_keyvalue.exists", skip_all, fields(otel.kind = "client"))]
    async fn exists(&mut self, bucket: Resource<Bucket>, key: String) -> wasmtime::Result<Result<bool, Error>> {
        Ok(self.table.get(&bucket)?.exists(&key).await.map_err(error))
    }

    /// Every key in one answer (no cursor), as Spin answers.
    #[instrument(name = "wasi_keyvalue.list_keys", skip_all, fields(otel.kind = "client"))]
    async fn list_keys(&mut self, bucket: Resource<Bucket>, _cursor: Option<String>) -> wasmtime::Result<Result<KeyResponse, Error>> {
        Ok(self.table.get(&bucket)?.keys("").await.map(|keys| KeyResponse { keys, cursor: None }).map_err(error))
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        self.open_stores = self.open_stores.saturating_sub(1);
        Ok(())
    }
}

impl batch::Host for State {
    /// Every key asked for, in order, `None` where missing.
    #[instrument(name = "wasi_keyvalue.get_many", skip_all, fields(otel.kind = "client"))]
    async fn get_many(&mut self, bucket: Resource<Bucket>, keys: Vec<String>) -> wasmtime::Result<Result<Vec<(String, Option<Vec<u8>>)>, Error>> {
        let values = self.table.get(&bucket)?.get_many(&keys).await;
        Ok(values.map(|values| keys.into_iter().zip(values).collect()).map_err(error))
    }

    #[instrument(name = "wasi_keyvalue.set_many", skip_all, fields(otel.kind = "client"))]
    async fn set_many(&mut self, bucket: Resource<Bucket>, key_values: Vec<(String, Vec<u8>)>) -> wasmtime::Result<Result<(), Error>> {
        Ok(self.table.get(&bucket)?.set_many(&key_values).await.map_err(error))
    }

    #[instrument(name = "wasi_keyvalue.delete_many", skip_all, fields(otel.kind = "client"))]
    async fn delete_many(&mut self, bucket: Resource<Bucket>, keys: Vec<String>) -> wasmtime::Result<Result<(), Error>> {
        Ok(self.table.get(&bucket)?.delete_many(&keys).await.map_err(error))
    }
}

impl atomics::Host for State {
    #[instrument(name = "wasi_keyvalue.increment", skip_all, fields(otel.kind = "client"))]
    async fn increment(&mut self, bucket: Resource<Bucket>, key: String, delta: i64) -> wasmtime::Result<Result<i64, Error>> {
        Ok(self.table.get(&bucket)?.increment(&key, delta).await.map_err(error))
    }

    #[instrument(name = "wasi_keyvalue.cas.swap", skip_all, fields(otel.kind = "client"))]
    async fn swap(&mut self, cas: Resource<Cas>, value: Vec<u8>) -> wasmtime::Result<Result<(), CasError>> {
        let cas = self.table.delete(cas)?;
        match cas.bucket.compare_and_swap(&cas.key, cas.current.as_deref(), &value).await {
            Ok(true) => Ok(Ok(())),
            // A handle on the value as it is now, for the retry.
            Ok(false) => match cas.bucket.get(&cas.key).await {
                Ok(current) => Ok(Err(CasError::CasFailed(self.table.push(Cas { current, ..cas })?))),
                Err(e) => Ok(Err(CasError::StoreError(error(e)))),
            },
            Err(e) => Ok(Err(CasError::StoreError(error(e)))),
        }
    }
}

impl atomics::HostCas for State {
    #[instrument(name = "wasi_keyvalue.cas.new", skip_all, fields(otel.kind = "client"))]
    async fn new(&mut self, bucket: Resource<Bucket>, key: String) -> wasmtime::Result<Result<Resource<Cas>, Error>> {
        let bucket = self.table.get(&bucket)?.clone();
        let current = match bucket.get(&key).await {
            Ok(current) => current,
            Err(e) => return Ok(Err(error(e))),
        };
        Ok(Ok(self.table.push(Cas { bucket, key, current })?))
    }

    async fn current(&mut self, cas: Resource<Cas>) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        Ok(Ok(self.table.get(&cas)?.current.clone()))
    }

    async fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}
