//! host-runner's lame-duck shutdown, seen from its clients (`server/drain.rs`): on SIGTERM
//! `/readyz` answers `503` at once; for the drain period the server goes on serving, new
//! connections included, each answer with `Connection: close`, and leaves idle connections
//! alone; then it refuses connections, finishes what is in flight, and exits `0`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::json;

use super::traffic::{probe, Connection};
use crate::harness::http::Request;
use crate::harness::server::{Options, Server};
use crate::harness::Engine;
use crate::suite::support::assert_problem;

const DRAIN: Duration = Duration::from_secs(2);

fn start(engine: Engine, name: &'static str, drain: Duration) -> Server {
    Server::start(Options { name, engine, env: vec![("DRAIN_PERIOD".into(), format!("{}ms", drain.as_millis()))], ..Default::default() })
}

fn sigterm(server: &Server) {
    // SAFETY: kill(2) on a process this test started.
    unsafe {
        libc::kill(server.pid() as libc::pid_t, libc::SIGTERM);
    }
}

/// Whether the peer has closed `stream` (EOF or reset) within `within`; `false` if it is still
/// open and silent.
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => panic!("the server sent something unasked"),
        Err(e) => !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
    }
}

/// A connection that has served one request and is now idle (kept alive).
fn idle_connection(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(15).any(|w| w == b"{\"status\":\"ok\"}") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed before answering");
        got.extend_from_slice(&buf[..n]);
    }
    s
}

pub fn drains_then_stops(engine: Engine) {
    let server = start(engine, "lame_duck", DRAIN);
    let addr = server.addr;
    let mut kept = Connection::new(addr);
    let mut resent = 0;
    kept.send("GET", "/healthz", None, &mut resent).unwrap();
    let mut idle = idle_connection(addr);
    let before = Request::new(addr, "GET", "/readyz").send();
    before.expect(200);

    let term = Instant::now();
    sigterm(&server);
    // /readyz says so at once...
    let readyz = loop {
        let r = Request::new(addr, "GET", "/readyz").allow_server_error().send();
        if r.status == 503 || term.elapsed() > Duration::from_secs(1) {
            break r;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let problem = assert_problem(&readyz, 503, "service-unavailable");
    assert_eq!(problem["checks"], json!({ "server": "shutting-down" }), "{}", readyz.describe());
    assert_eq!(readyz.header("retry-after"), Some("1"));
    assert!(term.elapsed() < Duration::from_secs(1), "/readyz answered 503 only {:?} after SIGTERM", term.elapsed());
    // ...while everything else is served, each answer closing its connection: on a connection
    // opened before the signal, and on new ones.
    let cats = Request::new(addr, "POST", "/cats").json(&json!({ "name": "Drained", "breed": "Lame", "age": 1, "color": "grey" })).send();
    cats.expect(201);
    assert_eq!(cats.header("connection"), Some("close"), "{}", cats.describe());
    let (status, _) = kept.send("GET", "/healthz", None, &mut resent).unwrap();
    assert_eq!((status, resent), (200, 0), "a kept-alive connection is served while draining");
    // An idle kept-alive connection is left open: closing it could race a request on its way.
    assert!(!closed_within(&mut idle, Duration::from_millis(300)), "an idle connection was closed during the drain period");

    // A request whose body is still arriving when the drain period ends is finished.
    let body = json!({ "name": "In flight", "breed": "Lame", "age": 2, "color": "grey" }).to_string();
    let mut slow = TcpStream::connect(addr).unwrap();
    write!(slow, "POST /cats HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len()).unwrap();
    slow.write_all(&body.as_bytes()[..10]).unwrap();

    // After the drain period new connections are refused and the idle one is closed.
    let refused = loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            break term.elapsed();
        }
        assert!(term.elapsed() < DRAIN + Duration::from_secs(3), "still accepting connections {:?} after SIGTERM", term.elapsed());
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(refused >= DRAIN, "connections refused {refused:?} after SIGTERM, before the drain period ({DRAIN:?}) was over");
    assert!(closed_within(&mut idle, Duration::from_secs(2)), "the idle connection was not closed after the drain period");
    slow.write_all(&body.as_bytes()[10..]).unwrap();
    let mut answer = String::new();
    slow.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    slow.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201 "), "the request in flight at the end of the drain period: {answer}");
    assert!(answer.to_ascii_lowercase().contains("\r\nconnection: close\r\n"), "{answer}");

    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = server.exit_status() {
            break status;
        }
        assert!(Instant::now() < deadline, "still running after its in-flight request finished:\n{}", server.log_tail(20));
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exited with {status}:\n{}", server.log_tail(20));
    let log = server.log_text();
    assert!(log.contains("\"draining: "), "the log says it drains:\n{}", server.log_tail(20));
}

pub fn second_signal_ends_the_drain(engine: Engine) {
    let server = start(engine, "lame_duck_twice", Duration::from_secs(60));
    sigterm(&server);
    let term = Instant::now();
    while probe(server.addr, "/readyz") != Some(503) {
        assert!(term.elapsed() < Duration::from_secs(2), "/readyz did not turn 503");
        std::thread::sleep(Duration::from_millis(10));
    }
    sigterm(&server);
    while server.exit_status().is_none() {
        assert!(term.elapsed() < Duration::from_secs(10), "a second SIGTERM did not end a 60 s drain period");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(server.exit_status().is_some_and(|s| s.success()));
    assert!(probe(server.addr, "/healthz").is_none(), "still answering after it exited");
}

/// Spin has no drain: on SIGTERM it stops at once, cutting what is in flight (its trigger
/// aborts its server), and `/readyz` never says so first. This is why a Spin replica leaves the
/// rotation before it is sent SIGTERM (docs/contract-notes.md).
pub fn spin_stops_at_once(engine: Engine) {
    let server = Server::start(Options { name: "spin_sigterm", engine, ..Default::default() });
    let mut idle = idle_connection(server.addr);
    let term = Instant::now();
    sigterm(&server);
    while server.exit_status().is_none() {
        assert!(term.elapsed() < Duration::from_secs(5), "Spin still runs 5 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    }
    let exited = term.elapsed();
    assert!(closed_within(&mut idle, Duration::from_secs(1)), "the idle connection outlived Spin");
    assert!(probe(server.addr, "/readyz").is_none(), "still answering after it exited");
    eprintln!("Spin exited {exited:?} after SIGTERM");
}
