//! Opaque page cursors: where the next page of a list starts, handed out in `Link: rel="next"`.
//!
//! A cursor is a small JSON object (what the list needs to continue: the sort key and creation
//! order of the last row, or a `/data` slot) in base64url, followed by a check of 8 bytes of
//! SHA-256: a cursor that does not decode, or was changed, is a `400`. The check is not a
//! signature: a cursor only says where to continue reading what the client may read anyway, so
//! a made-up one can do no more than any query; all it must never do is reach SQL other than as
//! a bound parameter, which it does not.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use crate::problem::{ApiError, ApiResult};

/// The query parameter that carries a cursor.
pub const PARAM: &str = "cursor";
const CHECK_BYTES: usize = 8;
/// Longer than any cursor this API hands out (a sort key is at most a few hundred bytes).
const MAX_LENGTH: usize = 4096;

fn check(payload: &[u8]) -> [u8; CHECK_BYTES] {
    let digest = Sha256::new().chain_update(b"spincrud cursor\0").chain_update(payload).finalize();
    let mut out = [0; CHECK_BYTES];
    out.copy_from_slice(&digest[..CHECK_BYTES]);
    out
}

/// The cursor text of `payload`.
pub fn encode(payload: &Json) -> String {
    let mut bytes = serde_json::to_vec(payload).expect("a JSON value serializes");
    let check = check(&bytes);
    bytes.extend_from_slice(&check);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The payload of a cursor this API handed out; `400` for anything else.
pub fn decode(text: &str) -> ApiResult<Json> {
    let bad = || invalid("it is not one this API handed out");
    if text.len() > MAX_LENGTH {
        return Err(bad());
    }
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
    if bytes.len() <= CHECK_BYTES {
        return Err(bad());
    }
    let (payload, given) = bytes.split_at(bytes.len() - CHECK_BYTES);
    if given != check(payload) {
        return Err(bad());
    }
    serde_json::from_slice(payload).map_err(|_| bad())
}

/// The `400` of a cursor that cannot be used, saying why.
pub fn invalid(why: &str) -> ApiError {
    ApiError::BadRequest(format!("The `cursor` cannot be used: {why}. Follow the `Link` of the previous page, or start again without `cursor`."))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn round_trips_and_refuses_changes() {
        let payload = json!({"r": "cats", "o": "name.desc", "k": "Tom \"the\" cat", "s": 42});
        let text = encode(&payload);
        assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{text}");
        assert_eq!(decode(&text).unwrap(), payload);
        // Any changed character, a cut, or something else entirely is refused.
        for i in 0..text.len() {
            let mut changed = text.clone().into_bytes();
            changed[i] = if changed[i] == b'A' { b'B' } else { b'A' };
            assert!(decode(std::str::from_utf8(&changed).unwrap()).is_err(), "changed at {i}");
        }
        for bad in [&text[..text.len() - 1], "", "abc", "!!!!", &"A".repeat(5000)] {
            assert!(matches!(decode(bad), Err(ApiError::BadRequest(_))), "{bad}");
        }
    }
}
