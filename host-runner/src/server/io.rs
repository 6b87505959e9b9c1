//! One client connection's socket, as hyper sees it: every read and write is noted in the
//! connection's [`ConnState`] (for its deadlines), and hyper's own answers to unparseable
//! requests (an empty `400`, `414` or `431`) are replaced by the API's problem documents.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

use spincrud_core::http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// What a connection's watchdog needs to know about it.
pub struct ConnState {
    inner: Mutex<Activity>,
    /// Woken when the last request in flight ends.
    idle: Notify,
    /// The largest request head accepted, for the `431` problem's text.
    max_head_bytes: usize,
}

#[derive(Clone, Copy)]
pub struct Activity {
    pub accepted: Instant,
    /// The last byte read or written.
    pub last_io: Instant,
    /// Requests whose handler has not finished.
    pub in_flight: usize,
    /// Requests handed to the handler so far.
    pub served: u64,
    /// When the first byte of a request head arrived that the handler has not yet seen.
    pub head_started: Option<Instant>,
}

impl ConnState {
    pub fn new(max_head_bytes: usize) -> Arc<ConnState> {
        let now = Instant::now();
        Arc::new(ConnState {
            inner: Mutex::new(Activity { accepted: now, last_io: now, in_flight: 0, served: 0, head_started: None }),
            idle: Notify::new(),
            max_head_bytes,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Activity> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn activity(&self) -> Activity {
        *self.lock()
    }

    /// Waits until a request ends (or returns at once if one ended since the last call).
    pub async fn request_ended(&self) {
        self.idle.notified().await
    }

    /// A request's head arrived and its handler starts; the returned guard ends it.
    pub fn start_request(self: &Arc<Self>) -> InFlight {
        let mut a = self.lock();
        a.in_flight += 1;
        a.served += 1;
        a.head_started = None;
        InFlight(self.clone())
    }

    fn read(&self, n: usize) {
        if n == 0 {
            return;
        }
        let now = Instant::now();
        let mut a = self.lock();
        a.last_io = now;
        if a.in_flight == 0 && a.head_started.is_none() {
            a.head_started = Some(now);
        }
    }

    fn wrote(&self, n: usize) {
        if n > 0 {
            self.lock().last_io = Instant::now();
        }
    }
}

/// A request in flight on its connection, until dropped.
pub struct InFlight(Arc<ConnState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut a = self.0.lock();
        a.in_flight -= 1;
        a.last_io = Instant::now();
        if a.in_flight == 0 {
            drop(a);
            self.0.idle.notify_one();
        }
    }
}

/// The socket wrapper.
pub struct TrackedIo<T> {
    inner: T,
    state: Arc<ConnState>,
    /// Our problem document, replacing hyper's empty answer, still to be written.
    replacement: Option<(Vec<u8>, usize)>,
}

impl<T> TrackedIo<T> {
    pub fn new(inner: T, state: Arc<ConnState>) -> Self {
        TrackedIo { inner, state, replacement: None }
    }
}

impl<T: AsyncWrite + Unpin> TrackedIo<T> {
    /// Writes what is left of the replacement; `Ready` once it is all out.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = &mut self.replacement {
            if *written == bytes.len() {
                self.replacement = None;
                break;
            }
            let n = std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
            self.state.wrote(n);
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TrackedIo<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            this.state.read(buf.filled().len() - before);
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TrackedIo<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_replacement(cx))?;
        if let Some(problem) = replace_automatic_answer(buf, this.state.max_head_bytes) {
            // hyper believes its answer is written; ours goes out instead (it then flushes and
            // closes the connection, which writes the rest).
            this.replacement = Some((problem, 0));
            let _ = this.poll_replacement(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = result {
            this.state.wrote(n);
        }
        result
    }

    fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_replacement(cx))?;
        if let Some(first) = bufs.iter().find(|b| !b.is_empty()) {
            if let Some(problem) = replace_automatic_answer(first, this.state.max_head_bytes) {
                this.replacement = Some((problem, 0));
                let _ = this.poll_replacement(cx)?;
                return Poll::Ready(Ok(first.len()));
            }
        }
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = result {
            this.state.wrote(n);
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_replacement(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_replacement(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// hyper answers a request it cannot parse by itself, before any handler runs, with an empty
/// `400`, `414` or `431`. Those answers are the only ones without an `x-request-id` (every
/// answer of the API carries one), which is how they are told apart. Returns the API's problem
/// document to send instead, as a whole HTTP/1.1 response that closes the connection.
fn replace_automatic_answer(buf: &[u8], max_head_bytes: usize) -> Option<Vec<u8>> {
    let rest = buf.strip_prefix(b"HTTP/1.1 ").or_else(|| buf.strip_prefix(b"HTTP/1.0 "))?;
    let status = match rest.get(..4)? {
        b"400 " => StatusCode::BAD_REQUEST,
        b"414 " => StatusCode::URI_TOO_LONG,
        b"431 " => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        _ => return None,
    };
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    if head.contains("\r\nx-request-id:") {
        return None;
    }
    let detail = match status {
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
            format!("The request's header section is larger than the server accepts ({} KiB).", max_head_bytes >> 10)
        }
        StatusCode::URI_TOO_LONG => "The request target is longer than the server accepts.".to_owned(),
        _ => "The request is not valid HTTP.".to_owned(),
    };
    let problem = spincrud_core::problem_response(status, &detail);
    let body = problem.body();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\nx-request-id: {}\r\nconnection: close\r\ndate: {}\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len(),
        spincrud_core::request::new_request_id().to_str().unwrap_or(""),
        httpdate::fmt_http_date(SystemTime::now()),
    )
    .into_bytes();
    out.extend_from_slice(body);
    tracing::info!(status = status.as_u16(), route = "unparsed", "request rejected before routing");
    crate::metrics::record_request("unparsed", "-", status.as_u16(), std::time::Duration::ZERO);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::replace_automatic_answer;

    #[test]
    fn only_hypers_own_empty_answers_are_replaced() {
        let hyper_431 = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Wed, 02 Dec 2026 18:40:39 GMT\r\n\r\n";
        let out = String::from_utf8(replace_automatic_answer(hyper_431, 64 << 10).unwrap()).unwrap();
        assert!(out.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "{out}");
        assert!(out.contains("content-type: application/problem+json\r\n"));
        assert!(out.contains("connection: close\r\n"));
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}\r\n", body.len())));
        let problem: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(problem["status"], 431);
        assert_eq!(problem["type"], "https://spincrud.dev/problems/request-header-fields-too-large");
        assert!(problem["detail"].as_str().unwrap().contains("64 KiB"));

        let hyper_400 = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
        assert!(replace_automatic_answer(hyper_400, 1).is_some());
        // The API's own answers carry a request id and are left alone, whatever their status.
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\nx-request-id: abc\r\ncontent-length: 0\r\n\r\n";
        assert!(replace_automatic_answer(ours, 1).is_none());
        assert!(replace_automatic_answer(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", 1).is_none());
        assert!(replace_automatic_answer(b"[{\"id\":1}]", 1).is_none());
    }
}
