//! A circuit breaker for a networked store (PostgreSQL, Redis): once the store has failed to
//! answer, requests fail at once instead of each waiting for a connection that will not come.
//!
//! Closed (the store answers): every request tries. Open (the last try failed with "unavailable"):
//! one request at a time tries (the trial, bounded by the store timeout) while the others get
//! `503` immediately; the first trial that succeeds closes the circuit. There is no cool-down
//! between trials, so the first request after the store is back succeeds.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use spincrud_core::store::StoreError;
use tracing::{info, warn};

pub struct Circuit {
    /// Which store, for the log and for the fail-fast error.
    store: &'static str,
    /// The last try failed: the store counts as down.
    down: AtomicBool,
    /// A request is trying the store while it counts as down.
    trial: AtomicBool,
}

/// Clears the trial flag however the trial ends (including a request dropped mid-way).
struct Trial<'a>(&'a AtomicBool);

impl Drop for Trial<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Circuit {
    pub fn new(store: &'static str) -> Circuit {
        Circuit { store, down: AtomicBool::new(false), trial: AtomicBool::new(false) }
    }

    /// Whether the store counts as down (for `/metrics`).
    pub fn is_open(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// Runs `connect` (taking a connection from the store's pool) unless the store is down and
    /// another request is already finding out whether it is back.
    pub async fn call<T>(&self, connect: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
        let _trial = if self.down.load(Ordering::Acquire) {
            if self.trial.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_err() {
                return Err(StoreError::Unavailable(format!("{} is down (failing fast while another request checks whether it is back)", self.store)));
            }
            Some(Trial(&self.trial))
        } else {
            None
        };
        let result = connect.await;
        match &result {
            Ok(_) => self.close(),
            Err(StoreError::Unavailable(cause)) => self.open(cause),
            Err(_) => {}
        }
        result
    }

    /// Records a failure seen after the connection was taken (a query's I/O error).
    pub fn record(&self, error: &StoreError) {
        if let StoreError::Unavailable(cause) = error {
            self.open(cause);
        }
    }

    fn open(&self, cause: &str) {
        if !self.down.swap(true, Ordering::AcqRel) {
            warn!(store = self.store, cause, "store unavailable: failing fast until it answers again");
        }
    }

    fn close(&self) {
        if self.down.swap(false, Ordering::AcqRel) {
            info!(store = self.store, "store available again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn down() -> StoreError {
        StoreError::Unavailable("connection refused".into())
    }

    #[tokio::test]
    async fn a_failure_opens_and_a_success_closes() {
        let c = Circuit::new("test");
        assert!(c.call(async { Ok::<_, StoreError>(1) }).await.is_ok());
        assert!(!c.is_open());
        assert!(c.call(async { Err::<(), _>(down()) }).await.is_err());
        assert!(c.is_open());
        // Down, no trial running: this request is the trial, and it succeeds.
        assert_eq!(c.call(async { Ok::<_, StoreError>(2) }).await, Ok(2));
        assert!(!c.is_open());
        // Errors that are not about availability leave the circuit closed.
        let _ = c.call(async { Err::<(), _>(StoreError::Other("syntax".into())) }).await;
        assert!(!c.is_open());
    }

    #[tokio::test]
    async fn while_a_trial_runs_the_others_fail_at_once() {
        let c = std::sync::Arc::new(Circuit::new("test"));
        let _ = c.call(async { Err::<(), _>(down()) }).await;
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        let trial = tokio::spawn({
            let c = c.clone();
            async move { c.call(async { wait.await.ok(); Ok::<_, StoreError>(()) }).await }
        });
        tokio::task::yield_now().await;
        while !c.trial.load(Ordering::Acquire) {
            tokio::task::yield_now().await;
        }
        let started = std::time::Instant::now();
        let other = c.call(async { Ok::<_, StoreError>(()) }).await;
        assert!(matches!(other, Err(StoreError::Unavailable(_))), "{other:?}");
        assert!(started.elapsed() < std::time::Duration::from_millis(50));
        release.send(()).unwrap();
        trial.await.unwrap().unwrap();
        assert!(!c.is_open());
    }

    #[tokio::test]
    async fn a_dropped_trial_lets_the_next_request_try() {
        let c = Circuit::new("test");
        let _ = c.call(async { Err::<(), _>(down()) }).await;
        {
            let pending = c.call(std::future::pending::<Result<(), StoreError>>());
            let _ = tokio::time::timeout(std::time::Duration::from_millis(10), pending).await;
        }
        assert!(c.call(async { Ok::<_, StoreError>(()) }).await.is_ok());
    }
}
