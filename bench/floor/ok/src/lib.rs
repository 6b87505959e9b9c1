//! The floor of a Spin HTTP component: answers `200 ok` to anything, through the same WASI HTTP
//! calls spincrud's adapter makes (one `fields.from-list`, one write, finish).

use spin_sdk::http::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

#[spin_sdk::http_component]
async fn handle(_req: IncomingRequest, out: ResponseOutparam) {
    respond(out, 200, b"ok");
}

fn respond(out: ResponseOutparam, status: u16, body: &[u8]) {
    let headers = Fields::from_list(&[
        ("content-type".to_owned(), b"text/plain".to_vec()),
        ("content-length".to_owned(), body.len().to_string().into_bytes()),
    ])
    .expect("valid headers");
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(status);
    let outgoing = response.body().expect("a body");
    out.set(response);
    {
        let stream = outgoing.write().expect("a stream");
        let _ = stream.blocking_write_and_flush(body);
    }
    let _ = OutgoingBody::finish(outgoing, None);
}
