//! WASI HTTP (`wasi:http/incoming-handler@0.2.0`) ⇄ `http` crate, for the core.
//!
//! The components take spin-sdk's [`IncomingRequest`]/[`ResponseOutparam`] pair rather than the
//! SDK's `http::Request<Vec<u8>>` conversion, for two reasons:
//! - the SDK's conversion goes through a header `HashMap`, which keeps one value per header name
//!   (a repeated request header, or two `Link`/`Vary` response headers, would lose values);
//! - the body is read only up to the configured limit plus one byte, so a huge upload costs no
//!   more memory than that and still gets the core's `413`.
//!
//! Both bodies move with plain `wasi:io` calls (blocking ones where there is nothing else to do),
//! the response headers go over in one `fields.from-list` and a body of up to 4 KiB in one
//! `blocking-write-and-flush`: every host call costs about the
//! same whatever it carries, and a request here is a few dozen of them, so fewer calls is most of
//! what this layer can save. (A blocking call blocks only this request's instance.)

use spin_sdk::http::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use spincrud_core::request::client_request_id;
use wasi::io::streams::StreamError;

use crate::http::{self, HeaderName, HeaderValue};
use crate::{fallback, settings};
use spincrud_core::Settings as _;

/// The whole component: reads the request, runs the core, writes the response.
pub async fn handle_incoming(req: IncomingRequest, out: ResponseOutparam) {
    spincrud_core::clock::install(spincrud_core::clock::Platform { now_nanos: wasi_now_nanos, random: wasi_random });
    let headers = request_headers(&req);
    // For the answers given before the core runs, which echo it as the core does.
    let request_id = client_request_id(&headers);
    // Read once: every getter is a host call.
    let method = req.method();
    let is_head = matches!(method, Method::Head);
    let settings = settings::SpinSettings::default();
    let resp = match read_request(req, method, headers, &settings) {
        Ok(req) => crate::serve_with(req, &settings).await,
        Err(resp) => fallback::with_request_id(resp, request_id),
    };
    write_response(resp, out, is_head);
}

/// The wall clock, from WASI 0.2 directly (not through the preview 1 adapter).
fn wasi_now_nanos() -> i128 {
    let now = wasi::clocks::wall_clock::now();
    i128::from(now.seconds) * 1_000_000_000 + i128::from(now.nanoseconds)
}

/// Randomness, from WASI 0.2 directly.
fn wasi_random() -> [u8; 16] {
    let mut bytes = [0; 16];
    let random = wasi::random::random::get_random_bytes(16);
    bytes[..random.len().min(16)].copy_from_slice(&random[..random.len().min(16)]);
    bytes
}

/// Every request header value, repeated names included.
fn request_headers(req: &IncomingRequest) -> http::HeaderMap {
    let entries = req.headers().entries();
    let mut headers = http::HeaderMap::with_capacity(entries.len());
    for (name, value) in entries {
        // The host has already validated them; anything `http` still refuses is dropped.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(&value),
        ) {
            headers.append(name, value);
        }
    }
    headers
}

/// Converts the request, reading at most `body_limit + 1` bytes of its body.
fn read_request(
    req: IncomingRequest,
    method: Method,
    headers: http::HeaderMap,
    settings: &settings::SpinSettings,
) -> Result<http::Request<Vec<u8>>, http::Response<Vec<u8>>> {
    let method = convert_method(method)
        .ok_or_else(|| fallback::bad_request("The request method is not valid."))?;
    let path = req.path_with_query().unwrap_or_else(|| "/".to_owned());
    let uri = http::Uri::try_from(path)
        .map_err(|_| fallback::bad_request("The request target is not valid."))?;

    // Writes carry a body (Spin passes a chunked one on without its `transfer-encoding`); a
    // read, a delete or an `OPTIONS` has one only if it says how long: otherwise its body
    // stream is not opened (three host calls fewer for most requests).
    let may_have_body = matches!(method, http::Method::POST | http::Method::PUT | http::Method::PATCH)
        || headers.get(http::header::CONTENT_LENGTH).is_some_and(|v| v.as_bytes() != b"0");
    let body = if may_have_body {
        let body_limit = settings.body_limit().map_err(|message| {
            eprintln!("spincrud: configuration error: {message}");
            fallback::misconfigured()
        })?;
        read_body(req, body_limit).map_err(|_| fallback::bad_request("The request body could not be read."))?
    } else {
        Vec::new()
    };
    let mut request = http::Request::builder()
        .method(method)
        .uri(uri)
        .body(body)
        .map_err(|_| fallback::bad_request("The request is not valid."))?;
    *request.headers_mut() = headers;
    Ok(request)
}

/// At most `limit + 1` bytes of the body: enough to know it is too large, as the core answers
/// 413 for any longer body.
fn read_body(req: IncomingRequest, limit: usize) -> Result<Vec<u8>, ()> {
    const CHUNK: usize = 64 << 10;
    let incoming = req.consume()?;
    let mut body = Vec::new();
    {
        let stream = incoming.stream()?;
        while body.len() <= limit {
            let want = (limit + 1 - body.len()).min(CHUNK);
            match stream.blocking_read(want as u64) {
                Ok(chunk) => body.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(_)) => return Err(()),
            }
        }
        // The stream is a child of the body: dropped first.
    }
    drop(incoming);
    Ok(body)
}

fn convert_method(method: Method) -> Option<http::Method> {
    Some(match method {
        Method::Get => http::Method::GET,
        Method::Head => http::Method::HEAD,
        Method::Post => http::Method::POST,
        Method::Put => http::Method::PUT,
        Method::Delete => http::Method::DELETE,
        Method::Connect => http::Method::CONNECT,
        Method::Options => http::Method::OPTIONS,
        Method::Trace => http::Method::TRACE,
        Method::Patch => http::Method::PATCH,
        Method::Other(other) => http::Method::from_bytes(other.as_bytes()).ok()?,
    })
}

/// Writes the core's response: every header value (repeated names included) and the body.
///
/// A HEAD answer states the length of the body its GET would carry (as every engine answers)
/// and carries none: its body is left unfinished, since WASI HTTP would refuse to finish a body
/// shorter than its `content-length`. The host sends the head and never reads a HEAD answer's
/// body (Spin's HTTP server, and host-runner's wasm engine alike).
fn write_response(resp: http::Response<Vec<u8>>, out: ResponseOutparam, is_head: bool) {
    let (parts, body) = resp.into_parts();
    let mut entries = Vec::with_capacity(parts.headers.len());
    for (name, value) in &parts.headers {
        entries.push((name.as_str().to_owned(), value.as_bytes().to_vec()));
    }
    let headers = match Fields::from_list(&entries) {
        Ok(headers) => headers,
        // One the host refuses: the others still go, one by one, and the log names it.
        Err(_) => {
            let headers = Fields::new();
            for (name, value) in &entries {
                if let Err(e) = headers.append(name, value) {
                    eprintln!("spincrud: response header {name} refused by the host: {e:?}");
                }
            }
            headers
        }
    };
    let response = OutgoingResponse::new(headers);
    if response.set_status_code(parts.status.as_u16()).is_err() {
        eprintln!("spincrud: status {} refused by the host", parts.status);
    }
    let Ok(outgoing) = response.body() else {
        eprintln!("spincrud: the response body was already taken");
        return;
    };
    out.set(response);
    if is_head {
        return;
    }
    if let Err(e) = write_body(&outgoing, &body) {
        eprintln!("spincrud: could not send the response body: {e:?}");
    }
    if let Err(e) = OutgoingBody::finish(outgoing, None) {
        eprintln!("spincrud: could not finish the response body: {e:?}");
    }
}

/// The most `blocking-write-and-flush` takes in one call (`wasi:io/streams@0.2.0`).
const ONE_CALL_BYTES: usize = 4096;

fn write_body(outgoing: &OutgoingBody, body: &[u8]) -> Result<(), StreamError> {
    let Ok(stream) = outgoing.write() else {
        return Err(StreamError::Closed);
    };
    // Most answers fit in one `blocking-write-and-flush` (WASI lets one take 4,096 bytes): one
    // host call rather than three, as the floor components write.
    if body.len() <= ONE_CALL_BYTES {
        return stream.blocking_write_and_flush(body);
    }
    // As much per `write` as the host takes (usually the whole body), waiting while it is full.
    let mut rest = body;
    while !rest.is_empty() {
        let permit = usize::try_from(stream.check_write()?).unwrap_or(usize::MAX);
        if permit == 0 {
            stream.subscribe().block();
            continue;
        }
        let (now, later) = rest.split_at(permit.min(rest.len()));
        stream.write(now)?;
        rest = later;
    }
    stream.blocking_flush()
}
