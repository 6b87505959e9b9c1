//! Closing the listening socket without failing a request. Closing a listener resets every
//! connection in its accept queue: connections the kernel completed for a client that may
//! already have sent its request, which a proxy cannot resend when it is a POST (it may have
//! been served). So on Linux the socket first stops completing new handshakes (a socket filter
//! drops incoming SYNs: their clients try again a moment later and find the port closed, a
//! refusal that proxies do resend elsewhere), then the connections already accepted or finishing
//! their handshake are taken and served, and only then does the socket close.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tracing::warn;

/// How long handshakes under way get to complete (a round trip; generous for a LAN).
const HANDSHAKES_SETTLE: Duration = Duration::from_millis(100);
/// The queue is empty once no connection came for this long after that.
const QUIET: Duration = Duration::from_millis(20);

/// Stops new handshakes, hands every connection still coming to `serve`, then closes.
pub async fn close<F: Future<Output = ()>>(listener: TcpListener, mut serve: impl FnMut(TcpStream, SocketAddr) -> F) {
    if let Err(e) = refuse_new_handshakes(&listener) {
        warn!(error = %e, "cannot stop new handshakes before closing the listener: connections it had queued are reset");
    }
    let settled = Instant::now() + HANDSHAKES_SETTLE;
    loop {
        let wait = settled.saturating_duration_since(Instant::now()).max(QUIET);
        match tokio::time::timeout(wait, listener.accept()).await {
            Ok(Ok((stream, peer))) => serve(stream, peer).await,
            Ok(Err(_)) => {}
            Err(_) if Instant::now() >= settled => break,
            Err(_) => {}
        }
    }
}

/// Attaches a classic BPF filter that drops TCP segments with SYN set and ACK clear (a new
/// handshake), and lets everything else through (the last ACK of a handshake under way).
#[cfg(target_os = "linux")]
fn refuse_new_handshakes(listener: &TcpListener) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // A socket filter on a TCP socket sees the segment from its TCP header: byte 13 holds the
    // flags (ACK 0x10, SYN 0x02).
    let program = [
        libc::sock_filter { code: (libc::BPF_LD | libc::BPF_B | libc::BPF_ABS) as u16, jt: 0, jf: 0, k: 13 },
        libc::sock_filter { code: (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16, jt: 0, jf: 0, k: 0x12 },
        libc::sock_filter { code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16, jt: 0, jf: 1, k: 0x02 },
        libc::sock_filter { code: (libc::BPF_RET | libc::BPF_K) as u16, jt: 0, jf: 0, k: 0 },
        libc::sock_filter { code: (libc::BPF_RET | libc::BPF_K) as u16, jt: 0, jf: 0, k: u32::MAX },
    ];
    let fprog = libc::sock_fprog { len: program.len() as u16, filter: program.as_ptr().cast_mut() };
    // SAFETY: setsockopt on the listener's open descriptor, with a valid program that outlives
    // the call (the kernel copies it).
    let rc = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&raw const fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn refuse_new_handshakes(_: &TcpListener) -> std::io::Result<()> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "socket filters are Linux only"))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// After the filter, a new connection does not complete (its SYN is dropped), while one
    /// the kernel had already accepted is still there to take.
    #[tokio::test]
    async fn new_handshakes_are_dropped_queued_connections_kept() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let queued = std::net::TcpStream::connect(addr).unwrap();
        refuse_new_handshakes(&listener).unwrap();
        let late = tokio::time::timeout(Duration::from_millis(300), TcpStream::connect(addr)).await;
        assert!(late.is_err(), "a handshake completed after the filter: {late:?}");
        let (accepted, _) = tokio::time::timeout(Duration::from_secs(1), listener.accept()).await.unwrap().unwrap();
        assert_eq!(accepted.peer_addr().unwrap(), queued.local_addr().unwrap());
    }
}
