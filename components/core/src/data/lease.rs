//! The lease on `/data`'s layout: one writer at a time, with an expiry so that a writer that died
//! holding it does not block the others for good.
//!
//! `data:lease` holds `free` or the holder's `{"holder": "<uuid>", "until": <unix ms>}`. Taking
//! it is a compare-and-swap from a value read before (`free`, or a holder whose time is up):
//! atomic on every store, Spin's included (its SQLite store updates only a row that still holds
//! the old value; its Redis store watches the key). The key is created once as `free`; only that
//! creation is a swap from "missing", which Spin's embedded SQLite store (local development
//! only) performs as a plain write, so two writers meeting on a brand-new store could, in a narrow
//! window, both proceed; host-runner's stores and Redis refuse the second.

use serde_json::json;

use crate::clock;
use crate::problem::{ApiError, ApiResult};
use crate::store::KvStore;

pub const KEY: &str = "data:lease";
const FREE: &[u8] = b"free";
/// How long a holder may keep the lease: longer than any load takes (45,716 records load in
/// seconds), short enough that a dead holder's lease is soon taken over.
const TERM_MS: i64 = 30_000;
/// How long a writer waits for the lease before the request answers 503.
const PATIENCE_MS: i64 = 20_000;

/// The lease, while held: the exact bytes written, which releasing compares against.
pub struct Held(Vec<u8>);

/// Takes the lease, waiting (with growing pauses) while another writer holds it.
pub async fn acquire<K: KvStore>(kv: &K) -> ApiResult<Held> {
    let started = clock::unix_millis();
    let mut attempt: u32 = 0;
    loop {
        let now = clock::unix_millis();
        let mine = serde_json::to_vec(&json!({ "holder": clock::new_id(), "until": now + TERM_MS })).expect("json");
        match kv.get(KEY).await? {
            None => {
                // Created once; a writer that raced to create it too wrote the same.
                kv.compare_and_swap(KEY, None, FREE).await?;
                continue;
            }
            Some(current) if current == FREE || expired(&current, now) => {
                if kv.compare_and_swap(KEY, Some(&current), &mine).await? {
                    return Ok(Held(mine));
                }
            }
            Some(_) => {}
        }
        if now - started > PATIENCE_MS {
            return Err(ApiError::unavailable(
                "Another change to /data is in progress; try again.",
                Some("the /data lease stayed held by another writer".into()),
            ));
        }
        kv.pause(backoff_ms(attempt)).await;
        attempt = attempt.saturating_add(1);
    }
}

/// Gives the lease back. A failure here only delays the next writer until the term ends.
pub async fn release<K: KvStore>(kv: &K, held: Held) {
    let _ = kv.compare_and_swap(KEY, Some(&held.0), FREE).await;
}

fn expired(value: &[u8], now: i64) -> bool {
    match serde_json::from_slice::<serde_json::Value>(value) {
        Ok(v) => v["until"].as_i64().is_none_or(|until| until < now),
        // Not a lease this code wrote: taken over rather than waited on forever.
        Err(_) => true,
    }
}

/// 2, 4, 8 … 64 ms, then 64 ms.
fn backoff_ms(attempt: u32) -> u64 {
    2u64 << attempt.min(5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_expire() {
        let now = 1_000_000;
        assert!(expired(br#"{"holder":"a","until":999999}"#, now));
        assert!(!expired(br#"{"holder":"a","until":1000001}"#, now));
        assert!(expired(b"garbage", now));
        assert_eq!(backoff_ms(0), 2);
        assert_eq!(backoff_ms(10), 64);
    }
}
