//! `host-runner probe URL`: one plain-HTTP GET, exit status 0 on a 2xx answer. The image has no
//! shell and no HTTP client, so compose's healthcheck (and any exec probe) runs this instead.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Exit status: 0 for a 2xx answer, 1 for any other answer or failure (said on stderr).
pub fn run(url: &str, timeout: Duration) -> i32 {
    match get_status(url, timeout) {
        Ok(status) if (200..300).contains(&status) => 0,
        Ok(status) => {
            eprintln!("probe: {url} answered {status}");
            1
        }
        Err(e) => {
            eprintln!("probe: {url}: {e}");
            1
        }
    }
}

/// `(host:port, path)` of an `http://` URL.
fn split(url: &str) -> Result<(String, String), String> {
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs are supported")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err("the URL has no host".into());
    }
    let authority = if authority.rsplit_once(':').is_some_and(|(_, port)| port.bytes().all(|b| b.is_ascii_digit())) && !authority.ends_with(']') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, path.to_owned()))
}

fn get_status(url: &str, timeout: Duration) -> Result<u16, String> {
    let deadline = Instant::now() + timeout;
    let (authority, path) = split(url)?;
    let addr = authority.to_socket_addrs().map_err(|e| e.to_string())?.next().ok_or("the host has no address")?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    let left = || deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
    stream.set_write_timeout(Some(left())).map_err(|e| e.to_string())?;
    let host = authority.trim_end_matches(":80");
    // One write: `write!` on the socket would send each piece of the format on its own.
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: host-runner-probe\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(left())).map_err(|e| e.to_string())?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).map_err(|e| format!("no answer: {e}"))?;
    let line = std::str::from_utf8(&head).map_err(|_| "not an HTTP answer")?;
    match (line.get(..5), line.get(9..12).and_then(|s| s.parse().ok())) {
        (Some("HTTP/"), Some(status)) => Ok(status),
        _ => Err(format!("not an HTTP answer: {line:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(split("http://127.0.0.1:3000/readyz"), Ok(("127.0.0.1:3000".into(), "/readyz".into())));
        assert_eq!(split("http://localhost"), Ok(("localhost:80".into(), "/".into())));
        assert!(split("https://x/").is_err());
        assert!(split("http:///x").is_err());
    }

    #[test]
    fn answers() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            for status in ["200 OK", "503 Service Unavailable"] {
                let (mut s, _) = listener.accept().unwrap();
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).unwrap();
                // One write: the probe closes once it has the status line, and a piece written
                // after that would meet its reset (`write!` sends each piece on its own).
                s.write_all(format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n").as_bytes()).unwrap();
            }
        });
        let url = format!("http://{addr}/readyz");
        assert_eq!(run(&url, Duration::from_secs(2)), 0);
        assert_eq!(run(&url, Duration::from_secs(2)), 1);
        server.join().unwrap();
        // Nothing listens there any more.
        assert_eq!(run(&url, Duration::from_millis(200)), 1);
    }
}
