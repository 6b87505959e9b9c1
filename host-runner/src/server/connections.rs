//! Accepting and keeping client connections: HTTP/1.1 and HTTP/2 (hyper-util's auto builder)
//! over the axum router, with what a server facing the open network needs and axum::serve does
//! not give:
//!
//! - a cap on open connections (the next one waits in the kernel's backlog until one closes);
//! - a deadline for a request's head (from its first byte; for a new connection, from accept),
//!   so that a client that stalls mid-head, or connects and says nothing, is cut off;
//! - an idle timeout between requests on a kept-alive connection (which also ends a client that
//!   stops reading its answer: no bytes move);
//! - request heads larger than a bound are refused with a problem document (`io.rs`).
//!
//! A request's body has its own deadline in the handler (`408`). While the server drains
//! (`drain.rs`), each HTTP/1 answer closes its connection; then the listener closes and each
//! connection finishes its request in progress, or the one just arriving, and closes.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;
use tracing::{debug, warn};

use super::drain::Drain;
use super::io::{ConnState, InFlight, TrackedIo};

/// The connection limits, from `serve`'s settings.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    pub header_timeout: Duration,
    pub keep_alive_timeout: Duration,
    pub max_connections: usize,
    /// The largest request head (request line and headers), in bytes.
    pub max_head_bytes: usize,
}

/// Serves `app` on `listener` until `shutdown` completes, then closes the listener (without
/// resetting a connection the kernel had already accepted: `listener.rs`) and lets open
/// connections finish their requests for at most `grace`. Returns whether they all did.
pub async fn serve(listener: TcpListener, app: Router, limits: ConnLimits, drain: &Drain, shutdown: impl Future<Output = ()>, grace: Duration) -> bool {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        // The watchdog below keeps the deadlines: hyper's own header timeout would also close
        // idle kept-alive connections at the header deadline.
        .header_read_timeout(None)
        .max_buf_size(limits.max_head_bytes.max(8192))
        .http2()
        .max_header_list_size(u32::try_from(limits.max_head_bytes).unwrap_or(u32::MAX));
    let (stop, stopping) = watch::channel(false);
    let connections = Connections { builder: Arc::new(builder), app, limits, drain: drain.clone(), stopping };
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut warned_full = false;
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        if slots.available_permits() == 0 && !warned_full {
            warn!(max_connections = limits.max_connections, "connection cap reached: new connections wait until one closes");
            warned_full = true;
        } else if slots.available_permits() > limits.max_connections / 10 {
            warned_full = false;
        }
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => connections.serve(stream, peer, slot),
                Err(e) => {
                    // Out of file descriptors, or a connection reset before accept: wait a
                    // moment rather than spin.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = &mut shutdown => break,
        };
    }
    super::listener::close(listener, |stream, peer| {
        let slots = slots.clone();
        let connections = &connections;
        async move {
            // Past the cap, wait for a connection to close rather than drop one that the
            // kernel accepted.
            let slot = slots.acquire_owned().await.expect("the semaphore is never closed");
            connections.serve(stream, peer, slot);
        }
    })
    .await;
    let _ = stop.send(true);
    // Every connection holds a slot until it has closed.
    let all = u32::try_from(limits.max_connections.max(1)).unwrap_or(u32::MAX);
    tokio::time::timeout(grace, slots.acquire_many_owned(all)).await.is_ok()
}

/// What every connection is served with.
struct Connections {
    builder: Arc<Builder<TokioExecutor>>,
    app: Router,
    limits: ConnLimits,
    drain: Drain,
    /// Turns `true` once the listener is closed: connections finish what they have and close.
    stopping: watch::Receiver<bool>,
}

impl Connections {
    /// Serves one accepted connection on a task of its own, which holds `slot` until it ends.
    fn serve(&self, stream: TcpStream, peer: SocketAddr, slot: OwnedSemaphorePermit) {
        let _ = stream.set_nodelay(true);
        let limits = self.limits;
        let state = ConnState::new(limits.max_head_bytes);
        let io = TokioIo::new(TrackedIo::new(stream, state.clone()));
        let service = {
            let (app, state, drain) = (self.app.clone(), state.clone(), self.drain.clone());
            hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                let in_flight = state.start_request();
                req.extensions_mut().insert(ConnectInfo(peer));
                let (app, drain) = (app.clone(), drain.clone());
                let http1 = req.version() < hyper::Version::HTTP_2;
                async move {
                    let mut resp = app.oneshot(req).await.unwrap_or_else(|never| match never {});
                    if http1 && drain.is_draining() {
                        // The client (a proxy's pool, most often) opens its next request
                        // elsewhere. HTTP/2 has no such header: its connections get GOAWAY
                        // when the server stops accepting, which says what was not served.
                        resp.headers_mut().insert(hyper::header::CONNECTION, hyper::header::HeaderValue::from_static("close"));
                    }
                    Ok::<_, Infallible>(finish_with(resp, in_flight))
                }
            })
        };
        let conn = self.builder.serve_connection(io, service).into_owned();
        let mut stopping = self.stopping.clone();
        crate::metrics::connection_opened();
        tokio::spawn(async move {
            tokio::pin!(conn);
            // When the server stops: `None` until then, then when to stop waiting for a request
            // that may be arriving, and `Some(None)` once the connection was told to close.
            let mut stop_by: Option<Option<Instant>> = None;
            loop {
                tokio::select! {
                    result = conn.as_mut() => {
                        if let Err(e) = result {
                            debug!(%peer, error = %e, "connection ended with an error");
                        }
                        break;
                    }
                    reason = watchdog(&state, &limits) => {
                        debug!(%peer, reason, "closing connection");
                        break;
                    }
                    _ = stopping.wait_for(|stop| *stop), if stop_by.is_none() => {
                        stop_by = Some(Some(Instant::now() + FIRST_REQUEST_GRACE));
                    }
                    () = tokio::time::sleep(STOP_POLL), if matches!(stop_by, Some(Some(_))) => {}
                }
                if let Some(Some(deadline)) = stop_by {
                    if !request_may_be_arriving(&state) || Instant::now() >= deadline {
                        // hyper finishes a request in progress, then closes.
                        conn.as_mut().graceful_shutdown();
                        stop_by = Some(None);
                    }
                }
            }
            crate::metrics::connection_closed();
            drop(slot);
        });
    }
}

/// How long a connection that has not yet started a request when the server stops gets for
/// one to start: a client that has just connected sends its request at once, and closing a
/// connection whose request is still in the socket would lose it.
const FIRST_REQUEST_GRACE: Duration = Duration::from_secs(1);
const STOP_POLL: Duration = Duration::from_millis(10);

/// Whether a request may be on its way on a connection between requests: it has never started
/// one (it was just accepted), or the head of the next has begun to arrive. hyper would close
/// such a connection at once if told to shut down.
fn request_may_be_arriving(state: &ConnState) -> bool {
    let a = state.activity();
    a.in_flight == 0 && (a.served == 0 || a.head_started.is_some())
}

/// Keeps the request in flight until the handler's answer is complete.
fn finish_with(resp: axum::response::Response, in_flight: InFlight) -> axum::response::Response {
    drop(in_flight);
    resp
}

/// Returns (with the reason) when a deadline of an idle connection passes: the request head
/// did not arrive in time, or the connection stayed idle too long between requests. A
/// connection with a request in flight has no deadline here.
async fn watchdog(state: &ConnState, limits: &ConnLimits) -> &'static str {
    loop {
        let a = state.activity();
        let (deadline, reason) = if a.in_flight > 0 {
            state.request_ended().await;
            continue;
        } else if let Some(started) = a.head_started {
            (started + limits.header_timeout, "request head not received in time")
        } else if a.served == 0 {
            (a.accepted + limits.header_timeout, "no request received in time")
        } else {
            (a.last_io + limits.keep_alive_timeout, "idle keep-alive timeout")
        };
        if Instant::now() >= deadline {
            return reason;
        }
        tokio::select! {
            () = tokio::time::sleep_until(deadline.into()) => {}
            () = state.request_ended() => {}
        }
    }
}

/// Lets the process open as many sockets as the connection cap needs: raises the soft limit on
/// open files to the hard limit (a common soft limit is 1024).
pub fn raise_open_file_limit(max_connections: usize) {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return;
        }
        if limit.rlim_cur < limit.rlim_max {
            let wanted = limit.rlim_max;
            let raised = libc::rlimit { rlim_cur: wanted, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit.rlim_cur = wanted;
            }
        }
    }
    // Each connection is one descriptor; the stores and the runtime need some more.
    if (limit.rlim_cur as u128) < max_connections as u128 + 256 {
        warn!(open_files = limit.rlim_cur, max_connections, "the open-file limit is below the connection cap: accepting may fail before the cap");
    }
}
