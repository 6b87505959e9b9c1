//! spincrud's Spin component for datacenter configs: `/configs`, `/configs/{dcname}`, `/search`.
//!
//! Which routes reach this component is decided by `spin.toml`; everything else (routing within
//! them, auth, validation, storage) is `spincrud-core` behind the adapter in `spincrud-spin`.
//! The six component crates are identical on purpose: one component per endpoint group, each with
//! its own grants in `spin.toml`.

use spin_sdk::http::{IncomingRequest, ResponseOutparam};

#[spin_sdk::http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    spincrud_spin::handle_incoming(req, out).await
}
