//! Timestamps and ids assigned by the server.

use time::OffsetDateTime;

/// Now, as RFC 3339 UTC with microseconds: `2026-11-21T05:37:00.123456Z`.
///
/// A fixed width keeps text order equal to time order, which `order=createdAt` relies on.
pub fn now_rfc3339() -> String {
    let t = OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// Milliseconds since the Unix epoch (for leases that expire).
pub fn unix_millis() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// A new item id: a UUID v4.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The stored form of an id given in a path: hyphenated lowercase, or `None` if it is no UUID
/// (an id that cannot exist, so the caller answers `404`).
pub fn canonical_uuid(s: &str) -> Option<String> {
    if s.len() != 36 {
        return None;
    }
    uuid::Uuid::try_parse(s).ok().map(|u| u.hyphenated().to_string())
}
