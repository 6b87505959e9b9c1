//! One writer at a time per SQLite database file, in arrival order.
//!
//! SQLite lets one connection write at a time; the others spin in its busy handler, which sleeps
//! and retries in growing steps and serves no one in particular, so under many concurrent writers
//! some wait out the whole busy timeout and fail while others pass them. Writers of this process
//! queue here instead (a fair semaphore), and only the writer at the head of the queue meets
//! SQLite's lock; the busy timeout remains for writers in other processes (a `host-runner import`
//! beside a server).

use std::sync::Arc;
use std::time::Duration;

use spincrud_core::store::StoreError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Clone)]
pub struct WriteGate {
    permit: Arc<Semaphore>,
    /// How long a writer waits for its turn before the request answers 503.
    patience: Duration,
}

/// The right to write, until dropped.
pub type WriteTurn = OwnedSemaphorePermit;

impl WriteGate {
    pub fn new(patience: Duration) -> WriteGate {
        WriteGate { permit: Arc::new(Semaphore::new(1)), patience }
    }

    /// Waits for this writer's turn.
    pub async fn enter(&self) -> Result<WriteTurn, StoreError> {
        match tokio::time::timeout(self.patience, self.permit.clone().acquire_owned()).await {
            Ok(Ok(turn)) => Ok(turn),
            Ok(Err(_)) => Err(StoreError::Unavailable("the database is closed".into())),
            Err(_) => Err(StoreError::Unavailable(format!("timed out after {:?} waiting for a turn to write: too many writers queued", self.patience))),
        }
    }
}

pub use spincrud_core::store::may_write;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writers_take_turns_in_order() {
        let gate = WriteGate::new(Duration::from_secs(5));
        let first = gate.enter().await.unwrap();
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut waiting = Vec::new();
        for i in 0..5 {
            let (gate, order) = (gate.clone(), order.clone());
            waiting.push(tokio::spawn(async move {
                let _turn = gate.enter().await.unwrap();
                order.lock().unwrap().push(i);
            }));
            // Let each queue before the next.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(first);
        for w in waiting {
            w.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4]);
    }

    #[tokio::test]
    async fn a_writer_that_waits_too_long_is_unavailable() {
        let gate = WriteGate::new(Duration::from_millis(20));
        let _held = gate.enter().await.unwrap();
        assert!(matches!(gate.enter().await, Err(StoreError::Unavailable(_))));
    }
}
