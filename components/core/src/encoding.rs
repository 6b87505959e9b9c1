//! Content coding of answers: gzip for answers of [`MIN_LENGTH`] bytes or more when the request's
//! `Accept-Encoding` takes it. In the core, so that every engine (Spin included) compresses alike.
//!
//! Level 1, the fastest: a page of 1,000 passengers (289 KB) becomes 16% of its size in about a
//! quarter of the time level 6 takes for 11%; level 1 costs that page some 10% of its requests per
//! second (`cargo run -p spincrud-bench` measures it). Brotli would save 10–20% more bytes, but
//! its encoder does not fit the components' 1 MiB budget.

use std::io::Write as _;

use flate2::write::GzEncoder;
use flate2::Compression;
use http::header::{self, HeaderMap, HeaderValue};
use http::StatusCode;

use crate::response::{add_vary, Response};

/// Answers shorter than this go out as they are: compression would save a few hundred bytes at
/// most, less than it costs.
pub const MIN_LENGTH: usize = 1024;

/// Whether `Accept-Encoding` takes gzip (RFC 9110 §12.5.3): named (`gzip`, or its old alias
/// `x-gzip`) with a weight above 0, or not named and `*` is, with a weight above 0.
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut gzip = None;
    let mut any = None;
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        let Ok(text) = value.to_str() else { continue };
        for member in text.split(',') {
            let mut parts = member.split(';');
            let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let weight = parts.find_map(|p| {
                let (name, value) = p.split_once('=')?;
                name.trim().eq_ignore_ascii_case("q").then(|| value.trim().parse::<f32>().unwrap_or(0.0))
            });
            let acceptable = weight.is_none_or(|q| q > 0.0);
            match coding.as_str() {
                "gzip" | "x-gzip" => gzip = Some(acceptable),
                "*" => any = Some(acceptable),
                _ => {}
            }
        }
    }
    gzip.or(any).unwrap_or(false)
}

/// Compresses `resp` for a request with `request_headers` when it is long enough and the request
/// takes gzip. An answer long enough to be compressed says `Vary: Accept-Encoding` either way.
pub fn compress(request_headers: &HeaderMap, resp: &mut Response) {
    if matches!(resp.status(), StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED)
        || resp.body().len() < MIN_LENGTH
        || resp.headers().contains_key(header::CONTENT_ENCODING)
    {
        return;
    }
    add_vary(resp, "Accept-Encoding");
    if !accepts_gzip(request_headers) {
        return;
    }
    if let Some(gzipped) = gzip(resp.body()) {
        *resp.body_mut() = gzipped;
        resp.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
}

/// The gzip member (RFC 1952) of `bytes`; `None` if it would not be shorter.
pub fn gzip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(bytes.len() / 4 + 64), Compression::fast());
    encoder.write_all(bytes).ok()?;
    let out = encoder.finish().ok()?;
    (out.len() < bytes.len()).then_some(out)
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    fn accepts(value: &str) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        accepts_gzip(&headers)
    }

    #[test]
    fn accept_encoding_weights() {
        for yes in ["gzip", "GZIP", "gzip, deflate, br, zstd", "br;q=1.0, gzip;q=0.8", "*", "x-gzip", "deflate, *;q=0.1", "gzip;q=0.001"] {
            assert!(accepts(yes), "{yes}");
        }
        for no in ["", "identity", "br", "gzip;q=0", "gzip;q=0.0, *", "*;q=0", "gzip;q=bad", "deflate"] {
            assert!(!accepts(no), "{no}");
        }
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn gzip_round_trips() {
        let text = "[".to_string() + &vec![r#"{"name":"Tom","age":3}"#; 100].join(",") + "]";
        let gzipped = gzip(text.as_bytes()).unwrap();
        assert!(gzipped.len() < text.len() / 5, "{} of {}", gzipped.len(), text.len());
        let mut back = String::new();
        flate2::read::GzDecoder::new(&gzipped[..]).read_to_string(&mut back).unwrap();
        assert_eq!(back, text);
        assert_eq!(gzip(b"x"), None, "not shorter");
    }
}
