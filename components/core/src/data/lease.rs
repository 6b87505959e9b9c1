//! The lease on `/data`'s layout: one writer at a time, with an expiry so that a writer that died
//! holding it does not block the others for good.
//!
//! `data:lease` holds a holder's 8 bytes: a random id (4 bytes, never 0) and the second its term
//! ends (4 bytes), both little-endian. Anything else there means "free": the 8 zero bytes of
//! [`FREE`], a counter of nothing (how the key is created), a lease whose term is over.
//!
//! Only what every key-value store does atomically *and* reports truly decides who holds it,
//! because Spin's own stores do not all report their atomics truly:
//! - The lease is taken by a compare-and-swap from the free value just read, and held only if
//!   reading the key back finds this attempt's own bytes. Spin 3.6's Redis store writes a swap
//!   correctly (`WATCH`/`MULTI`/`EXEC`) but reports `cas-failed` for every swap that it made and
//!   may report a swap that `EXEC` aborted as done; the read-back is right either way.
//! - The key is created by `increment(key, 0)`, atomic on every store (the 8 zero bytes of a
//!   counter in Spin's embedded store and host-runner's, `0` in Redis), never by a swap from
//!   "missing", which Spin's embedded store performs as a plain write that could overwrite a
//!   holder. Incrementing a key that exists is harmless: an 8-byte value is written back as it
//!   was, and Redis refuses to count anything else.

use crate::clock;
use crate::problem::{ApiError, ApiResult};
use crate::store::KvStore;

pub const KEY: &str = "data:lease";
/// What a holder writes back when it is done.
pub(super) const FREE: [u8; 8] = [0; 8];
/// How long a holder may keep the lease: longer than any load takes (45,716 records load in
/// seconds), short enough that a dead holder's lease is soon taken over.
const TERM_SECONDS: i64 = 30;
/// How long a writer waits for the lease before the request answers 503.
const PATIENCE_MS: i64 = 20_000;
/// Tries to give the lease back before leaving it to expire.
const RELEASE_TRIES: usize = 3;

/// The lease, while held: the exact bytes written, which releasing compares against.
pub struct Held([u8; 8]);

/// A holder's value: a random non-zero id and the end of its term.
fn holder_value(now_ms: i64) -> [u8; 8] {
    let random = clock::random_bytes();
    let id = u32::from_le_bytes([random[0], random[1], random[2], random[3]]).max(1);
    let until = u32::try_from(now_ms / 1000 + TERM_SECONDS).unwrap_or(u32::MAX);
    let mut value = [0; 8];
    value[..4].copy_from_slice(&id.to_le_bytes());
    value[4..].copy_from_slice(&until.to_le_bytes());
    value
}

/// Whether `value` leaves the lease free at `now_ms`.
fn is_free(value: &[u8], now_ms: i64) -> bool {
    let Ok(value) = <[u8; 8]>::try_from(value) else {
        // The JSON lease of earlier builds (`{"holder": …, "until": <ms>}`), respected until
        // its term ends; anything else is not a lease.
        return match serde_json::from_slice::<serde_json::Value>(value) {
            Ok(v) => v["until"].as_i64().is_none_or(|until| until < now_ms),
            Err(_) => true,
        };
    };
    let id = u32::from_le_bytes(value[..4].try_into().expect("4 bytes"));
    let until = u32::from_le_bytes(value[4..].try_into().expect("4 bytes"));
    id == 0 || i64::from(until) * 1000 <= now_ms
}

/// Takes the lease, waiting (with growing pauses) while another writer holds it.
pub async fn acquire<K: KvStore>(kv: &K) -> ApiResult<Held> {
    let started = clock::unix_millis();
    let mut attempt: u32 = 0;
    loop {
        let now = clock::unix_millis();
        match kv.get(KEY).await? {
            None => {
                // A store that is down says so at the next read.
                let _ = kv.increment(KEY, 0).await;
            }
            Some(current) if is_free(&current, now) => {
                let mine = holder_value(now);
                // The swap's own answer is not trusted (see above): the read-back decides.
                kv.compare_and_swap(KEY, Some(&current), &mine).await?;
                if kv.get(KEY).await?.as_deref() == Some(mine.as_slice()) {
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

/// Gives the lease back, checking that it went. A failure here only delays the next writer
/// until the term ends.
pub async fn release<K: KvStore>(kv: &K, held: Held) {
    for _ in 0..RELEASE_TRIES {
        let _ = kv.compare_and_swap(KEY, Some(&held.0), &FREE).await;
        match kv.get(KEY).await {
            Ok(Some(value)) if value == held.0 => continue,
            _ => return,
        }
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
        let now = 1_000_000_000;
        let held = holder_value(now);
        assert!(!is_free(&held, now));
        assert!(!is_free(&held, now + (TERM_SECONDS - 1) * 1000));
        assert!(is_free(&held, now + (TERM_SECONDS + 1) * 1000));
        assert!(is_free(&FREE, now));
        // What creating the key leaves: a counter of nothing.
        assert!(is_free(&0i64.to_le_bytes(), now));
        assert!(is_free(b"0", now));
        // The lease of earlier versions.
        assert!(is_free(b"free", now));
        assert!(!is_free(br#"{"holder":"a","until":1000000001}"#, now));
        assert!(is_free(br#"{"holder":"a","until":999999999}"#, now));
        assert!(is_free(b"garbage", now));
        assert_eq!(backoff_ms(0), 2);
        assert_eq!(backoff_ms(10), 64);
    }

    #[test]
    fn attempts_are_told_apart() {
        let now = 1_000_000_000;
        assert_ne!(holder_value(now), holder_value(now));
    }

    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::store::{MemoryKv, StoreError};

    /// A store whose atomics act as Spin's do: `Redis` swaps correctly but reports every swap it
    /// made as failed and every third one it refused as made; `Embedded` performs a swap from
    /// "missing" as a plain write, a while after it was asked. Every call yields first, so that
    /// threads interleave.
    struct SpinLike {
        inner: MemoryKv,
        redis: bool,
        refused: AtomicUsize,
    }

    impl KvStore for SpinLike {
        async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
            std::thread::yield_now();
            self.inner.get(key).await
        }
        async fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
            std::thread::yield_now();
            self.inner.set(key, value).await
        }
        async fn delete(&self, key: &str) -> Result<(), StoreError> {
            self.inner.delete(key).await
        }
        async fn keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
            self.inner.keys(prefix).await
        }
        async fn compare_and_swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> Result<bool, StoreError> {
            std::thread::yield_now();
            if !self.redis && expected.is_none() {
                // As a host call takes its time: others may act between the read and the write.
                std::thread::sleep(std::time::Duration::from_micros(200));
                self.inner.set(key, new).await?;
                return Ok(true);
            }
            let swapped = self.inner.compare_and_swap(key, expected, new).await?;
            if !self.redis {
                return Ok(swapped);
            }
            Ok(!swapped && self.refused.fetch_add(1, Ordering::Relaxed) % 3 == 0)
        }
        async fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
            std::thread::yield_now();
            self.inner.increment(key, delta).await
        }
        async fn pause(&self, _millis: u64) {
            std::thread::sleep(std::time::Duration::from_micros(50));
        }
    }

    /// Many writers meeting on brand-new stores: never two holders at once, every one gets its
    /// turn, and the lease is left free.
    fn one_holder_at_a_time(redis: bool) {
        const WRITERS: usize = 8;
        const TURNS: usize = 5;
        for _store in 0..100 {
            let kv = SpinLike { inner: MemoryKv::default(), redis, refused: AtomicUsize::new(0) };
            let (holders, turns) = (AtomicUsize::new(0), AtomicUsize::new(0));
            let start = std::sync::Barrier::new(WRITERS);
            std::thread::scope(|s| {
                for _ in 0..WRITERS {
                    s.spawn(|| {
                        start.wait();
                        for _ in 0..TURNS {
                            let held = futures_executor::block_on(acquire(&kv)).unwrap_or_else(|_| panic!("no turn within the patience"));
                            assert_eq!(holders.fetch_add(1, Ordering::SeqCst), 0, "two holders at once");
                            std::thread::sleep(std::time::Duration::from_micros(300));
                            holders.fetch_sub(1, Ordering::SeqCst);
                            turns.fetch_add(1, Ordering::Relaxed);
                            futures_executor::block_on(release(&kv, held));
                        }
                    });
                }
            });
            assert_eq!(turns.load(Ordering::Relaxed), WRITERS * TURNS);
            let left = futures_executor::block_on(kv.inner.get(KEY)).unwrap().unwrap();
            assert!(is_free(&left, clock::unix_millis()), "the lease was left held");
        }
    }

    #[test]
    fn one_holder_at_a_time_on_a_redis_store_that_misreports_its_swaps() {
        one_holder_at_a_time(true);
    }

    #[test]
    fn one_holder_at_a_time_on_an_embedded_store_that_creates_keys_by_plain_writes() {
        one_holder_at_a_time(false);
    }
}
