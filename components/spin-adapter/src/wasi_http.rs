//! WASI HTTP (`wasi:http/incoming-handler@0.2.0`) ⇄ `http` crate, for the core.
//!
//! The components take spin-sdk's [`IncomingRequest`]/[`ResponseOutparam`] pair rather than the
//! SDK's `http::Request<Vec<u8>>` conversion, for two reasons:
//! - the SDK's conversion goes through a header `HashMap`, which keeps one value per header name
//!   (a repeated request header, or two `Link`/`Vary` response headers, would lose values);
//! - the body is read only up to the configured limit plus one byte, so a huge upload costs no
//!   more memory than that and still gets the core's `413`.

use futures::StreamExt;
use spin_sdk::http::{Fields, IncomingRequest, Method, OutgoingResponse, ResponseOutparam};

use crate::http::{self, HeaderName, HeaderValue};
use crate::{fallback, settings};

/// The whole component: reads the request, runs the core, writes the response.
pub async fn handle_incoming(req: IncomingRequest, out: ResponseOutparam) {
    // For the answers given before the core runs, which echo it as the core does.
    let request_id = req
        .headers()
        .get("x-request-id")
        .into_iter()
        .next()
        .and_then(|v| HeaderValue::from_bytes(&v).ok());
    let resp = match settings::config() {
        Ok(config) => match read_request(req, config.body_limit).await {
            Ok(req) => crate::serve_with(req, &config).await,
            Err(resp) => fallback::with_request_id(resp, request_id),
        },
        Err(message) => {
            eprintln!("spincrud: configuration error: {message}");
            fallback::with_request_id(fallback::misconfigured(), request_id)
        }
    };
    write_response(resp, out).await;
}

/// Converts the request, reading at most `body_limit + 1` bytes of its body.
async fn read_request(
    req: IncomingRequest,
    body_limit: usize,
) -> Result<http::Request<Vec<u8>>, http::Response<Vec<u8>>> {
    let method = convert_method(req.method())
        .ok_or_else(|| fallback::bad_request("The request method is not valid."))?;
    let path = req.path_with_query().unwrap_or_else(|| "/".to_owned());
    let uri = http::Uri::try_from(path)
        .map_err(|_| fallback::bad_request("The request target is not valid."))?;

    let mut builder = http::Request::builder().method(method).uri(uri);
    for (name, value) in req.headers().entries() {
        // The host has already validated them; anything `http` still refuses is dropped.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(&value),
        ) {
            builder = builder.header(name, value);
        }
    }

    let mut body = Vec::new();
    let mut stream = req.into_body_stream();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|_| fallback::bad_request("The request body could not be read."))?;
        body.extend_from_slice(&chunk);
        if body.len() > body_limit {
            // Enough to know it is too large: the core answers 413 for any longer body.
            body.truncate(body_limit.saturating_add(1));
            break;
        }
    }

    builder
        .body(body)
        .map_err(|_| fallback::bad_request("The request is not valid."))
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
async fn write_response(resp: http::Response<Vec<u8>>, out: ResponseOutparam) {
    let (parts, body) = resp.into_parts();
    let headers = Fields::new();
    for (name, value) in &parts.headers {
        // A HEAD (or 304) answer announces the length of a body it does not carry: the host
        // would reject the response as shorter than announced, so such a length is left out.
        if name == http::header::CONTENT_LENGTH
            && value.as_bytes() != body.len().to_string().as_bytes()
        {
            continue;
        }
        if let Err(e) = headers.append(name.as_str(), value.as_bytes()) {
            eprintln!("spincrud: response header {name} refused by the host: {e:?}");
        }
    }
    let response = OutgoingResponse::new(headers);
    if response.set_status_code(parts.status.as_u16()).is_err() {
        eprintln!("spincrud: status {} refused by the host", parts.status);
    }
    if let Err(e) = out.set_with_body(response, body).await {
        eprintln!("spincrud: could not send the response body: {e:?}");
    }
}
