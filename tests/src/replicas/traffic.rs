//! Traffic through nginx as real clients send it: many kept-alive connections, each sending a
//! mix of `GET /cats/{id}` (of seeded cats, and of the cats it created itself: a read after a
//! write, through any replica) and `POST /cats`, plus clients that hang up as soon as they have
//! sent a request. Every answer but the expected `200`/`201` is a failure, with what it was and
//! when; every `201` is an acknowledged write that must be there afterwards.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::harness::http::Request;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// nginx answers within its own deadlines (60 s to read, three tries).
const READ_TIMEOUT: Duration = Duration::from_secs(200);

/// A request that did not get its expected answer.
#[derive(Debug, Clone)]
pub struct Failure {
    /// When the request was sent, in seconds since the epoch (as nginx logs it).
    pub sent: f64,
    pub method: &'static str,
    pub target: String,
    /// The status and body, or the I/O error.
    pub what: String,
    /// The status, when there was an answer.
    pub status: Option<u16>,
}

/// What a load run saw.
#[derive(Debug, Default)]
pub struct Tally {
    pub gets: u64,
    pub posts: u64,
    /// Ids of the cats whose creation was acknowledged (`201`).
    pub acked: Vec<String>,
    pub failures: Vec<Failure>,
    /// Requests resent because nginx had closed the kept-alive connection they were sent on
    /// before answering anything (an HTTP client's usual retry; it happens when nginx reloads
    /// and its old workers close their idle connections, never because of a replica).
    pub resent: u64,
}

impl Tally {
    /// The failures, one a line, for a failure message.
    pub fn describe_failures(&self) -> String {
        self.failures.iter().take(20).map(|f| format!("  {:.3} {} {}: {}", f.sent, f.method, f.target, f.what)).collect::<Vec<_>>().join("\n")
    }
}

/// A running load; [`Load::finish`] stops it and returns what it saw.
pub struct Load {
    stop: Arc<AtomicBool>,
    clients: Vec<JoinHandle<Tally>>,
    rude: Vec<JoinHandle<()>>,
}

/// Starts `clients` clients sending the mix to `addr`, and `rude` clients that hang up on every
/// request they send. `seeds` are ids of cats that exist.
pub fn start(addr: SocketAddr, seeds: &[String], clients: usize, rude: usize) -> Load {
    let stop = Arc::new(AtomicBool::new(false));
    let seeds = Arc::new(seeds.to_vec());
    let clients = (0..clients)
        .map(|c| {
            let (stop, seeds) = (stop.clone(), seeds.clone());
            std::thread::spawn(move || client(addr, c, &seeds, &stop))
        })
        .collect();
    let rude = (0..rude)
        .map(|c| {
            let stop = stop.clone();
            std::thread::spawn(move || rude_client(addr, c, &stop))
        })
        .collect();
    Load { stop, clients, rude }
}

impl Load {
    pub fn finish(self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        for r in self.rude {
            let _ = r.join();
        }
        let mut total = Tally::default();
        for c in self.clients {
            let t = c.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            total.gets += t.gets;
            total.posts += t.posts;
            total.acked.extend(t.acked);
            total.failures.extend(t.failures);
            total.resent += t.resent;
        }
        total.failures.sort_by(|a, b| a.sent.total_cmp(&b.sent));
        total
    }
}

fn client(addr: SocketAddr, c: usize, seeds: &[String], stop: &AtomicBool) -> Tally {
    let mut tally = Tally::default();
    let mut conn = Connection::new(addr);
    let mut rng = (c as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut mine: Vec<String> = Vec::new();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        n += 1;
        let post = rng % 3 == 0;
        let (method, target, body) = if post {
            let cat = json!({ "name": format!("load {c} {n}"), "breed": "Replica", "age": n % 20, "color": "black" });
            ("POST", "/cats".to_string(), Some(serde_json::to_vec(&cat).unwrap()))
        } else {
            let id = match mine.last() {
                Some(own) if rng % 4 == 1 => own,
                _ => &seeds[(rng >> 8) as usize % seeds.len()],
            };
            ("GET", format!("/cats/{id}"), None)
        };
        let sent = now();
        let expected = if post { 201 } else { 200 };
        match conn.send(method, &target, body.as_deref(), &mut tally.resent) {
            Ok((status, body)) if status == expected => {
                if post {
                    tally.posts += 1;
                    let id = serde_json::from_slice::<Value>(&body).ok().and_then(|v| v["id"].as_str().map(String::from));
                    match id {
                        Some(id) => {
                            tally.acked.push(id.clone());
                            mine.push(id);
                        }
                        None => tally.failures.push(Failure { sent, method, target, what: format!("201 without an id: {}", String::from_utf8_lossy(&body)), status: Some(201) }),
                    }
                } else {
                    tally.gets += 1;
                }
            }
            Ok((status, body)) => {
                let text: String = String::from_utf8_lossy(&body).chars().take(300).collect();
                tally.failures.push(Failure { sent, method, target, what: format!("{status} {text}"), status: Some(status) });
            }
            Err(e) => tally.failures.push(Failure { sent, method, target, what: format!("no answer: {e}"), status: None }),
        }
    }
    tally
}

/// Sends a whole `POST /cats` and hangs up without waiting for the answer: nginx then drops its
/// request to the replica mid-way.
fn rude_client(addr: SocketAddr, c: usize, stop: &AtomicBool) {
    let mut n = 0u32;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let body = json!({ "name": format!("gone {c} {n}"), "breed": "Replica", "age": 1, "color": "white" }).to_string();
        if let Ok(mut s) = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            let head = format!("POST /cats HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len());
            let _ = s.write_all(head.as_bytes()).and_then(|()| s.write_all(body.as_bytes()));
            std::thread::sleep(Duration::from_millis(u64::from(n % 4)));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A kept-alive HTTP/1.1 connection to one address, opened again when needed.
pub struct Connection {
    addr: SocketAddr,
    stream: Option<BufReader<TcpStream>>,
}

/// Why an exchange failed, and whether any byte of an answer had arrived.
struct Broken {
    error: io::Error,
    answered: bool,
}

impl Connection {
    pub fn new(addr: SocketAddr) -> Connection {
        Connection { addr, stream: None }
    }

    /// Sends a request and reads its answer (status, body). A request sent on a reused
    /// connection that the server had closed before answering anything is sent once more, on a
    /// new connection, as HTTP clients do (`resent` counts it).
    pub fn send(&mut self, method: &str, target: &str, body: Option<&[u8]>, resent: &mut u64) -> io::Result<(u16, Vec<u8>)> {
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        if let Some(body) = body {
            head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(body.unwrap_or_default());
        for attempt in 0.. {
            let reused = self.stream.is_some();
            let stream = match &mut self.stream {
                Some(s) => s,
                None => {
                    let s = TcpStream::connect_timeout(&self.addr, CONNECT_TIMEOUT)?;
                    s.set_read_timeout(Some(READ_TIMEOUT))?;
                    s.set_nodelay(true)?;
                    self.stream.insert(BufReader::new(s))
                }
            };
            match exchange(stream, &request, method == "HEAD") {
                Ok((status, close, body)) => {
                    if close {
                        self.stream = None;
                    }
                    return Ok((status, body));
                }
                Err(Broken { answered: false, .. }) if reused && attempt == 0 => {
                    self.stream = None;
                    *resent += 1;
                }
                Err(broken) => {
                    self.stream = None;
                    return Err(broken.error);
                }
            }
        }
        unreachable!()
    }
}

/// Status, whether the server closes the connection, body.
fn exchange(stream: &mut BufReader<TcpStream>, request: &[u8], head_request: bool) -> Result<(u16, bool, Vec<u8>), Broken> {
    let unanswered = |error| Broken { error, answered: false };
    stream.get_mut().write_all(request).map_err(unanswered)?;
    let mut line = String::new();
    match stream.read_line(&mut line) {
        Ok(0) => return Err(unanswered(io::ErrorKind::UnexpectedEof.into())),
        Ok(_) => {}
        Err(e) => return Err(unanswered(e)),
    }
    let answered = |error| Broken { error, answered: true };
    let status: u16 = line.get(9..12).and_then(|s| s.parse().ok()).ok_or_else(|| answered(io::Error::other(format!("bad status line {line:?}"))))?;
    let (mut length, mut chunked, mut close) = (None, false, false);
    loop {
        line.clear();
        stream.read_line(&mut line).map_err(answered)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else { continue };
        let value = value.trim().to_ascii_lowercase();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse::<usize>().ok(),
            "transfer-encoding" => chunked = value.contains("chunked"),
            "connection" => close = value.contains("close"),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if head_request || status == 204 || status == 304 {
    } else if chunked {
        loop {
            line.clear();
            stream.read_line(&mut line).map_err(answered)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16).map_err(|_| answered(io::Error::other("bad chunk size")))?;
            let mut chunk = vec![0; size + 2];
            stream.read_exact(&mut chunk).map_err(answered)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(n) = length {
        body.resize(n, 0);
        stream.read_exact(&mut body).map_err(answered)?;
    } else {
        stream.read_to_end(&mut body).map_err(answered)?;
        close = true;
    }
    Ok((status, close, body))
}

/// The status of `GET path` on a new connection, or `None` (refused, reset, no answer in 2 s).
pub fn probe(addr: SocketAddr, path: &str) -> Option<u16> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let mut reader = BufReader::new(s);
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    exchange(&mut reader, request.as_bytes(), false).ok().map(|(status, _, _)| status)
}

/// Creates `n` cats through `addr` for the load to read; returns their ids.
pub fn seed_cats(addr: SocketAddr, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let resp = Request::new(addr, "POST", "/cats").json(&json!({ "name": format!("seed {i}"), "breed": "Replica", "age": 3, "color": "grey" })).send();
            resp.expect(201);
            resp.json()["id"].as_str().expect("an id").to_string()
        })
        .collect()
}

/// Every cat's id, read page by page through `addr`.
pub fn all_cat_ids(addr: SocketAddr) -> std::collections::HashSet<String> {
    let mut ids = std::collections::HashSet::new();
    for offset in (0..).step_by(1000) {
        let resp = Request::new(addr, "GET", &format!("/cats?limit=1000&offset={offset}&order=createdAt.asc")).header("Prefer", "count=none").send();
        let page = resp.expect(200).json();
        let items = page.as_array().expect("a list");
        ids.extend(items.iter().filter_map(|c| c["id"].as_str().map(String::from)));
        if items.len() < 1000 {
            return ids;
        }
    }
    unreachable!()
}

/// Every acknowledged cat is there.
#[track_caller]
pub fn assert_acknowledged_present(addr: SocketAddr, tally: &Tally) {
    let present = all_cat_ids(addr);
    let missing: Vec<&String> = tally.acked.iter().filter(|id| !present.contains(*id)).collect();
    assert!(missing.is_empty(), "{} of {} acknowledged cats are missing, e.g. {:?}", missing.len(), tally.acked.len(), &missing[..missing.len().min(5)]);
}

/// Now, in seconds since the epoch.
pub fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64()
}
