//! Timestamps and ids assigned by the server, from the engine's clock and randomness.

use std::sync::OnceLock;

use time::OffsetDateTime;

/// Where the time and the randomness come from: the standard library's unless an engine
/// installs its own. (The Spin adapter installs WASI 0.2's clocks and random: through the
/// standard library a component's first call would go through the WASI preview 1 adapter, whose
/// start costs an instance some 50 µs on Spin.)
#[derive(Clone, Copy)]
pub struct Platform {
    /// Nanoseconds since the Unix epoch.
    pub now_nanos: fn() -> i128,
    /// 16 random bytes.
    pub random: fn() -> [u8; 16],
}

static PLATFORM: OnceLock<Platform> = OnceLock::new();

/// Sets the platform for the rest of the process (an instance, on Spin); the first call wins.
pub fn install(platform: Platform) {
    let _ = PLATFORM.set(platform);
}

fn platform() -> &'static Platform {
    PLATFORM.get_or_init(|| Platform {
        now_nanos: || OffsetDateTime::now_utc().unix_timestamp_nanos(),
        random: || *uuid::Uuid::new_v4().as_bytes(),
    })
}

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos((platform().now_nanos)()).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// 16 random bytes, from the platform's randomness.
pub fn random_bytes() -> [u8; 16] {
    (platform().random)()
}

/// Now, as RFC 3339 UTC with microseconds: `2026-11-21T05:37:00.123456Z`.
///
/// A fixed width keeps text order equal to time order, which `order=createdAt` relies on.
pub fn now_rfc3339() -> String {
    let t = now();
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
    ((platform().now_nanos)() / 1_000_000) as i64
}

/// A new item id: a UUID v4.
pub fn new_id() -> String {
    uuid::Builder::from_random_bytes(random_bytes()).into_uuid().to_string()
}

/// The stored form of an id given in a path: hyphenated lowercase, or `None` if it is no UUID
/// (an id that cannot exist, so the caller answers `404`).
pub fn canonical_uuid(s: &str) -> Option<String> {
    if s.len() != 36 {
        return None;
    }
    uuid::Uuid::try_parse(s).ok().map(|u| u.hyphenated().to_string())
}
