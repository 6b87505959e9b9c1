//! Strong ETags and the `If-Match` / `If-None-Match` preconditions.

use http::header::{self, HeaderName};
use sha2::{Digest, Sha256};

use crate::problem::{ApiError, ApiResult};
use crate::Request;

/// A strong validator for a representation written `version` times: `"<32 hex>"`.
///
/// The version is part of the hash so that every write changes the tag, even one that leaves the
/// representation as it was.
pub fn etag(version: i64, representation: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(version.to_be_bytes());
    hasher.update(representation);
    let digest = hasher.finalize();
    let mut tag = String::with_capacity(34);
    tag.push('"');
    for byte in &digest[..16] {
        tag.push_str(&format!("{byte:02x}"));
    }
    tag.push('"');
    tag
}

/// The entity tags listed in a header: `None` when absent, `Some([])` never.
fn tags(req: &Request, name: HeaderName) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut present = false;
    for value in req.headers().get_all(name) {
        present = true;
        for tag in value.to_str().unwrap_or("").split(',') {
            let tag = tag.trim();
            if !tag.is_empty() {
                out.push(tag.to_string());
            }
        }
    }
    present.then_some(out)
}

/// `If-Match` (strong comparison): `412` unless the current tag is listed or `*` is given.
/// `current` is `None` when the item does not exist.
pub fn check_if_match(req: &Request, current: Option<&str>) -> ApiResult<()> {
    let Some(tags) = tags(req, header::IF_MATCH) else { return Ok(()) };
    let matched = match current {
        None => false,
        Some(cur) => tags.iter().any(|t| t == "*" || t == cur),
    };
    if matched {
        Ok(())
    } else {
        Err(ApiError::PreconditionFailed)
    }
}

/// Whether the request said `If-Match`.
pub fn has_if_match(req: &Request) -> bool {
    req.headers().contains_key(header::IF_MATCH)
}

/// `If-None-Match` (weak comparison): true when a GET should answer `304`.
pub fn not_modified(req: &Request, current: &str) -> bool {
    let Some(tags) = tags(req, header::IF_NONE_MATCH) else { return false };
    tags.iter().any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == current)
}
