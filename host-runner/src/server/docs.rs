//! `/docs`, the API explorer page, for the native engine (the wasm engine runs the `docs`
//! component). Same files, same code: the `files` mount (at `/`) of the component that the
//! manifest (`--manifest`, default `spin.toml`) routes `/docs/...` to, answered by the
//! component's own `site.rs` (included below), so that both engines answer byte for byte alike.

use std::path::{Path, PathBuf};

use anyhow::Context;
use spincrud_core::http::Method;
use spincrud_core::Response;
use tracing::{info, warn};

use crate::wasm::manifest::Manifest;

// The component's file, not a crate: host-runner cannot depend on a wasm32 cdylib, and the
// file needs nothing but `std` and `spincrud_core`.
#[path = "../../../components/docs/src/site.rs"]
mod site;

pub use site::is_docs_path;

/// The route label of `/docs` requests in the log and the metrics, whichever engine serves them.
pub const ROUTE: &str = site::PREFIX;

/// The docs site's directory on disk.
pub struct DocsSite {
    root: PathBuf,
}

impl DocsSite {
    /// The site of `manifest`, or `None` (logged) when there is none: `/docs` is then an unknown
    /// route like any other.
    pub fn from_manifest(manifest: &Path) -> Option<DocsSite> {
        match site_root(manifest) {
            Ok(root) => {
                info!(dir = %root.display(), "serving /docs from the docs component's files");
                Some(DocsSite { root })
            }
            Err(e) => {
                warn!(error = %format!("{e:#}"), "not serving /docs");
                None
            }
        }
    }

    pub async fn answer(&self, method: &Method, path: &str) -> Response {
        let (root, method, path) = (self.root.clone(), method.as_str().to_owned(), path.to_owned());
        // Reading files blocks: not on the async workers. (A panic goes on to the server's
        // catch-panic layer, as a handler's would.)
        tokio::task::spawn_blocking(move || site::answer(&root, &method, &path))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }
}

fn site_root(manifest_path: &Path) -> anyhow::Result<PathBuf> {
    let manifest = Manifest::load(manifest_path)?;
    let route = format!("{}/...", site::PREFIX);
    let id = manifest
        .triggers
        .iter()
        .find(|t| t.route.as_deref() == Some(route.as_str()))
        .map(|t| t.component.as_str())
        .with_context(|| format!("{} routes nothing to {route}", manifest_path.display()))?;
    let mount = manifest.components[id]
        .files
        .iter()
        .find(|m| m.destination == "/")
        .with_context(|| format!("component `{id}` has no `files` mounted at /"))?;
    mount.check().with_context(|| format!("component `{id}`: files"))?;
    Ok(mount.source.clone())
}
