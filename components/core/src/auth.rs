//! Bearer-token checks.

use http::header;
use subtle::ConstantTimeEq;

use crate::Request;

/// Whether the request carries one of `tokens` as `Authorization: Bearer <token>`.
///
/// Every configured token is compared, in constant time, so that timing tells nothing about
/// which one (or how much of one) matched.
pub fn has_valid_token(req: &Request, tokens: &[String]) -> bool {
    let Some(given) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
    else {
        return false;
    };
    let given = given.trim().as_bytes();
    let mut ok = subtle::Choice::from(0);
    for token in tokens {
        ok |= token.as_bytes().ct_eq(given);
    }
    bool::from(ok)
}
