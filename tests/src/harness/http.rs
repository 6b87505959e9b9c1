//! A small blocking HTTP/1.1 client, written for testing: any method, raw bytes, any or no
//! `Content-Type`, every status is a normal answer, no redirects, one connection per request
//! (`Connection: close`). A request that the server answers before reading the whole body
//! (413) still yields the answer.

use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::logs::LogTail;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const IO_TIMEOUT: Duration = Duration::from_secs(180);
const SHOWN_BODY: usize = 1500;

pub struct Request {
    addr: SocketAddr,
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    chunked: bool,
    allow_server_error: bool,
    logs: Option<Arc<LogTail>>,
}

impl Request {
    pub fn new(addr: SocketAddr, method: &str, target: &str) -> Request {
        assert!(
            target.starts_with('/'),
            "request target must start with '/': {target}"
        );
        Request {
            addr,
            method: method.to_string(),
            target: target.to_string(),
            headers: Vec::new(),
            body: None,
            chunked: false,
            allow_server_error: false,
            logs: None,
        }
    }

    pub(crate) fn with_logs(mut self, logs: Arc<LogTail>) -> Request {
        self.logs = Some(logs);
        self
    }

    /// Adds a header (replacing one of the same name).
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Removes a header set earlier (e.g. the default token).
    pub fn without_header(mut self, name: &str) -> Request {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    pub fn content_type(self, value: &str) -> Request {
        self.header("Content-Type", value)
    }

    pub fn bearer(self, token: &str) -> Request {
        self.header("Authorization", &format!("Bearer {token}"))
    }

    /// A raw body; sets no `Content-Type`.
    pub fn body(mut self, bytes: impl Into<Vec<u8>>) -> Request {
        self.body = Some(bytes.into());
        self
    }

    /// A JSON body with `Content-Type: application/json`.
    pub fn json(self, value: &Value) -> Request {
        self.content_type("application/json")
            .body(serde_json::to_vec(value).unwrap())
    }

    /// Raw JSON text with `Content-Type: application/json`.
    pub fn json_text(self, text: &str) -> Request {
        self.content_type("application/json")
            .body(text.as_bytes().to_vec())
    }

    /// A merge patch with `Content-Type: application/merge-patch+json`.
    pub fn merge_patch(self, value: &Value) -> Request {
        self.content_type("application/merge-patch+json")
            .body(serde_json::to_vec(value).unwrap())
    }

    /// Sends the body with `Transfer-Encoding: chunked` (no `Content-Length`).
    pub fn chunked(mut self) -> Request {
        self.chunked = true;
        self
    }

    /// By default `send` fails the test on any 5xx (the suite never expects one).
    pub fn allow_server_error(mut self) -> Request {
        self.allow_server_error = true;
        self
    }

    pub fn if_match(self, etag: &str) -> Request {
        self.header("If-Match", etag)
    }

    pub fn if_none_match(self, etag: &str) -> Request {
        self.header("If-None-Match", etag)
    }

    #[track_caller]
    pub fn send(self) -> Response {
        let summary = self.summary();
        match self.exchange() {
            Ok((status, headers, body)) => {
                let resp = Response {
                    status,
                    headers,
                    body,
                    request: summary,
                    logs: self.logs,
                };
                if resp.status >= 500 && !self.allow_server_error {
                    panic!(
                        "the server answered {} (the suite never expects a 5xx)\n{}",
                        resp.status,
                        resp.describe()
                    );
                }
                resp
            }
            Err(e) => {
                let logs = self
                    .logs
                    .as_ref()
                    .map(|l| {
                        format!(
                            "\nlast server log lines ({}):\n{}",
                            l.path().display(),
                            l.tail(40)
                        )
                    })
                    .unwrap_or_default();
                panic!("{summary}\n→ no HTTP answer: {e}{logs}")
            }
        }
    }

    fn summary(&self) -> String {
        let mut s = format!("{} http://{}{}", self.method, self.addr, self.target);
        for (n, v) in &self.headers {
            let _ = write!(s, "\n  {n}: {v}");
        }
        match &self.body {
            None => s.push_str("\n  (no body)"),
            Some(b) => {
                let how = if self.chunked { ", sent chunked" } else { "" };
                let _ = write!(s, "\n  body ({} bytes{how}): {}", b.len(), excerpt(b));
            }
        }
        s
    }

    fn exchange(&self) -> io::Result<Answer> {
        let stream = TcpStream::connect_timeout(&self.addr, CONNECT_TIMEOUT)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.method, self.target, self.addr
        );
        for (n, v) in &self.headers {
            let _ = write!(head, "{n}: {v}\r\n");
        }
        match &self.body {
            Some(_) if self.chunked => head.push_str("Transfer-Encoding: chunked\r\n"),
            Some(body) => {
                let _ = write!(head, "Content-Length: {}\r\n", body.len());
            }
            None => {}
        }
        head.push_str("\r\n");
        let mut writer = &stream;
        let mut write_error = writer.write_all(head.as_bytes()).err();
        if write_error.is_none() {
            if let Some(body) = &self.body {
                write_error = if self.chunked {
                    write_chunked(&mut writer, body)
                } else {
                    writer.write_all(body)
                }
                .err();
            }
        }
        if let Some(e) = &write_error {
            if !matches!(
                e.kind(),
                ErrorKind::BrokenPipe | ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
            ) {
                return Err(io::Error::new(e.kind(), format!("while sending: {e}")));
            }
        }
        read_response(&stream, self.method == "HEAD").map_err(|e| match write_error {
            Some(w) => io::Error::new(
                e.kind(),
                format!("sending failed ({w}), then reading failed ({e})"),
            ),
            None => e,
        })
    }
}

/// Status, headers (lower-cased names), body.
type Answer = (u16, Vec<(String, String)>, Vec<u8>);

fn write_chunked(w: &mut impl Write, body: &[u8]) -> io::Result<()> {
    for chunk in body.chunks(512) {
        write!(w, "{:x}\r\n", chunk.len())?;
        w.write_all(chunk)?;
        w.write_all(b"\r\n")?;
    }
    w.write_all(b"0\r\n\r\n")
}

fn read_response(stream: &TcpStream, head_request: bool) -> io::Result<Answer> {
    let mut r = BufReader::new(stream);
    loop {
        let status_line = read_line(&mut r)?;
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .filter(|_| version.starts_with("HTTP/1."))
            .ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;
        let mut headers = Vec::new();
        loop {
            let line = read_line(&mut r)?;
            if line.is_empty() {
                break;
            }
            let (n, v) = line
                .split_once(':')
                .ok_or_else(|| invalid(format!("bad header line {line:?}")))?;
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        if (100..200).contains(&status) {
            continue; // interim answer (100 Continue)
        }
        let find = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let body = if head_request || status == 204 || status == 304 {
            Vec::new()
        } else if find("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
        {
            read_chunked(&mut r)?
        } else if let Some(len) = find("content-length") {
            let len: usize = len
                .parse()
                .map_err(|_| invalid(format!("bad content-length {len:?}")))?;
            let mut body = vec![0; len];
            r.read_exact(&mut body)?;
            body
        } else {
            let mut body = Vec::new();
            r.read_to_end(&mut body)?;
            body
        };
        return Ok((status, headers, body));
    }
}

fn read_line(r: &mut impl BufRead) -> io::Result<String> {
    let mut buf = Vec::new();
    if r.read_until(b'\n', &mut buf)? == 0 {
        return Err(io::Error::new(
            ErrorKind::UnexpectedEof,
            "connection closed before a complete answer",
        ));
    }
    while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        buf.pop();
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn read_chunked(r: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(r)?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| invalid(format!("bad chunk size {line:?}")))?;
        if size == 0 {
            while !read_line(r)?.is_empty() {} // trailers
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..])?;
        read_line(r)?;
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, msg)
}

fn excerpt(bytes: &[u8]) -> String {
    let text = squeeze(&String::from_utf8_lossy(bytes));
    if text.chars().count() <= SHOWN_BODY {
        text
    } else {
        let cut: String = text.chars().take(SHOWN_BODY).collect();
        format!("{cut}… ({} bytes in all)", bytes.len())
    }
}

/// Long runs of one character (padding, nesting) shortened to `c…(×N)`.
fn squeeze(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let mut n = 1;
        while chars.peek() == Some(&c) {
            chars.next();
            n += 1;
        }
        if n > 16 {
            let _ = write!(out, "{c}…(×{n})");
        } else {
            out.extend(std::iter::repeat_n(c, n));
        }
    }
    out
}

/// A complete answer, plus what was asked (for failure messages).
pub struct Response {
    pub status: u16,
    /// Lower-cased names, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    request: String,
    logs: Option<Arc<LogTail>>,
}

impl Response {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every header of that name, in order.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The media type of `Content-Type`, lower-cased, without parameters.
    pub fn media_type(&self) -> Option<String> {
        self.header("content-type").map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The request and the answer, for failure messages; server logs are added for a 5xx.
    pub fn describe(&self) -> String {
        let mut s = format!("{}\n→ {}", self.request, self.status);
        for (n, v) in &self.headers {
            let _ = write!(s, "\n  {n}: {v}");
        }
        if self.body.is_empty() {
            s.push_str("\n  (empty body)");
        } else {
            let _ = write!(s, "\n  body: {}", excerpt(&self.body));
        }
        if self.status >= 500 {
            if let Some(logs) = &self.logs {
                let _ = write!(
                    s,
                    "\nlast server log lines ({}):\n{}",
                    logs.path().display(),
                    logs.tail(40)
                );
            }
        }
        s
    }

    /// Panics (with the whole exchange) unless the status is `status`.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Response {
        if self.status != status {
            panic!(
                "expected status {status}, got {}\n{}",
                self.status,
                self.describe()
            );
        }
        self
    }

    /// The body as JSON (panics with the exchange if it is not).
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("answer body is not JSON ({e})\n{}", self.describe()))
    }

    /// `expect(status)`, checks `Content-Type: application/json`, and parses the body.
    #[track_caller]
    pub fn expect_json(&self, status: u16) -> Value {
        self.expect(status);
        self.check(
            self.media_type().as_deref() == Some("application/json"),
            "Content-Type should be application/json",
        );
        self.json()
    }

    /// Panics with `what` and the exchange unless `ok`.
    #[track_caller]
    pub fn check(&self, ok: bool, what: &str) {
        if !ok {
            panic!("{what}\n{}", self.describe());
        }
    }
}

/// Percent-encodes a query parameter value (or name).
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The target of `Link: <...>; rel="next"` among the answer's `Link` headers, if any.
pub fn next_link(resp: &Response) -> Option<String> {
    resp.headers_named("link")
        .iter()
        .flat_map(|v| split_links(v))
        .find_map(|link| {
            let (target, params) = link.split_once('>')?;
            let target = target.trim().strip_prefix('<')?;
            let is_next = params
                .split(';')
                .filter_map(|p| p.trim().split_once('='))
                .any(|(k, v)| {
                    k.trim().eq_ignore_ascii_case("rel")
                        && v.trim().trim_matches('"').split(' ').any(|r| r == "next")
                });
            is_next.then(|| target.to_string())
        })
}

fn split_links(value: &str) -> Vec<&str> {
    // Commas separate links, but may not appear inside <...>.
    let mut out = Vec::new();
    let (mut depth, mut start) = (false, 0);
    for (i, c) in value.char_indices() {
        match c {
            '<' => depth = true,
            '>' => depth = false,
            ',' if !depth => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(headers: &[(&str, &str)]) -> Response {
        Response {
            status: 200,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: Vec::new(),
            request: String::new(),
            logs: None,
        }
    }

    #[test]
    fn finds_next_link() {
        let r = resp(&[(
            "link",
            "</cats?limit=2&offset=0>; rel=\"prev\", </cats?limit=2&offset=4,x>; rel=\"next\"",
        )]);
        assert_eq!(next_link(&r).as_deref(), Some("/cats?limit=2&offset=4,x"));
        assert_eq!(next_link(&resp(&[("link", "</a>; rel=\"prev\"")])), None);
        assert_eq!(next_link(&resp(&[])), None);
    }

    #[test]
    fn decodes_chunks() {
        let mut input: &[u8] = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: x\r\n\r\n";
        assert_eq!(read_chunked(&mut input).unwrap(), b"Wikipedia");
    }

    #[test]
    fn encodes_query_values() {
        assert_eq!(enc("a b@c/ü"), "a%20b%40c%2F%C3%BC");
    }
}
