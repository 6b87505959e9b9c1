//! Load and raw sockets for the fault tests: many keep-alive clients, clients that hang up
//! mid-request, connections that stall, and the server's memory from /proc.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The server's resident memory, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS for pid {pid}"))
}

/// A connection with the usual timeouts.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// Reads one response (status, whole body by `Content-Length`) from a kept-alive connection.
pub fn read_response(reader: &mut BufReader<TcpStream>) -> io::Result<(u16, Vec<u8>)> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    let status: u16 = line.get(9..12).and_then(|s| s.parse().ok()).ok_or_else(|| io::Error::other(format!("bad status line {line:?}")))?;
    let mut length = 0;
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok((status, body))
}

/// What a load run saw.
#[derive(Debug, Default)]
pub struct Tally {
    pub ok: u64,
    /// Answers with another status, or no answer.
    pub failed: u64,
    pub first_failure: Option<String>,
}

/// `clients` keep-alive connections sending `GET path` as fast as they can for `duration`.
/// Every answer must be `200`.
pub fn keep_alive_gets(addr: SocketAddr, path: &str, clients: usize, duration: Duration) -> Tally {
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let first = Arc::new(std::sync::Mutex::new(None));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (stop, ok, failed, first, request) = (stop.clone(), ok.clone(), failed.clone(), first.clone(), request.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(connect(addr));
                while !stop.load(Ordering::Relaxed) {
                    let result = reader.get_mut().write_all(&request).and_then(|()| read_response(&mut reader));
                    match result {
                        Ok((200, _)) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        other => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            first.lock().unwrap().get_or_insert_with(|| format!("{other:?}"));
                            reader = BufReader::new(connect(addr));
                        }
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let first_failure = first.lock().unwrap().take();
    Tally { ok: ok.load(Ordering::Relaxed), failed: failed.load(Ordering::Relaxed), first_failure }
}

/// Whether the server has closed `stream` (reads EOF or a reset) within `within`.
pub fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return true,
            // Something the server sent before closing (a 408, a 431): keep reading.
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => return false,
            Err(_) => return true,
        }
    }
}
