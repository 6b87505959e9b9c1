//! The floor of a component of spincrud's size: the whole API is linked in (so the module,
//! its code and its data, are those of spincrud's components) but never runs; every request
//! gets `200 ok`, as from spincrud-floor-ok.

use spin_sdk::http::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

#[spin_sdk::http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    // Never true: keeps spincrud's code (and its data segment) in the module.
    if std::hint::black_box(false) {
        return spincrud_spin::handle_incoming(req, out).await;
    }
    let headers = Fields::from_list(&[
        ("content-type".to_owned(), b"text/plain".to_vec()),
        ("content-length".to_owned(), b"2".to_vec()),
    ])
    .expect("valid headers");
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(200);
    let outgoing = response.body().expect("a body");
    out.set(response);
    {
        let stream = outgoing.write().expect("a stream");
        let _ = stream.blocking_write_and_flush(b"ok");
    }
    let _ = OutgoingBody::finish(outgoing, None);
}
