//! Lame-duck shutdown. A replica behind a load balancer must not fail a request when it stops,
//! so on SIGTERM (or SIGINT) the server first drains: for `DRAIN_PERIOD` it keeps accepting and
//! serving, but `/readyz` answers `503` and every HTTP/1 answer carries `Connection: close`, so
//! that health-checking balancers take it out of rotation and clients and proxies stop reusing
//! its connections (an idle kept-alive connection is left open: closing it could race a request
//! already on its way). Then it refuses new connections and finishes what is in flight
//! (`SHUTDOWN_TIMEOUT`). A second signal ends the drain period at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{signal, Signal, SignalKind};
use tracing::info;

/// Whether the server is draining; cheap to clone and to ask.
#[derive(Clone, Default)]
pub struct Drain(Arc<AtomicBool>);

impl Drain {
    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Waits for SIGTERM or SIGINT, drains for `period` (or until the next signal), and
    /// returns when the server must stop accepting connections.
    pub async fn on_signal(&self, mut signals: Signals, period: Duration) {
        let name = signals.next().await;
        self.0.store(true, Ordering::Relaxed);
        info!(signal = name, drain_period_s = period.as_secs_f64(), "draining: /readyz answers 503 and answers close their connections; new connections are refused after the drain period (a second signal: now)");
        tokio::select! {
            () = tokio::time::sleep(period) => {}
            name = signals.next() => info!(signal = name, "second signal: ending the drain period now"),
        }
    }
}

/// The signals that stop the server, installed once so that a second one is caught too.
pub struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    /// From now on SIGTERM and SIGINT no longer kill the process: they are kept until the
    /// server asks for them. Installed before the server listens, so that a signal sent as
    /// soon as it does is a drain too.
    pub fn install() -> Signals {
        let install = |kind| signal(kind).expect("installing a signal handler");
        Signals { term: install(SignalKind::terminate()), int: install(SignalKind::interrupt()) }
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}
