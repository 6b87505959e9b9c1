//! The settings a request may need: [`Settings`], which an engine answers when asked, and
//! [`Config`], the settings read all at once (host-runner reads them at start).
//!
//! Only what a request needs is asked for: a public route (`/healthz`) needs none, a read needs
//! the tokens (and `auth_reads` only when there are tokens), a body needs its limit. On Spin,
//! each is an application variable whose every read costs a host call and a hand-over between
//! threads (Spin's environment provider blocks in place), some 50 µs of CPU apiece.

use crate::cors::CorsOrigins;

/// 1 MiB, the contract's default body limit.
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;

/// The settings, each read when first needed. `Err` is a message for the log: the setting's
/// value cannot be read or does not parse (the request then answers `500`).
pub trait Settings {
    /// Bearer tokens accepted for writes (and reads with `auth_reads`); empty: no auth.
    fn api_tokens(&self) -> Result<&[String], String>;
    /// Whether reads need a token too.
    fn auth_reads(&self) -> Result<bool, String>;
    /// Largest accepted request body, in bytes.
    fn body_limit(&self) -> Result<usize, String>;
    /// Which browser origins may call the API (CORS); asked only of requests that carry an
    /// `Origin`.
    fn cors_origins(&self) -> Result<&CorsOrigins, String>;
}

/// Settings every engine reads from its configuration (env vars, flags or Spin variables).
#[derive(Debug, Clone)]
pub struct Config {
    pub api_tokens: Vec<String>,
    pub auth_reads: bool,
    pub body_limit: usize,
    pub cors_origins: CorsOrigins,
}

impl Default for Config {
    fn default() -> Self {
        Config { api_tokens: Vec::new(), auth_reads: false, body_limit: DEFAULT_BODY_LIMIT, cors_origins: CorsOrigins::Off }
    }
}

impl Config {
    /// Reads the settings as every engine spells them: a comma-separated token list,
    /// `true`/`false`, a byte count, and a comma-separated list of origins (or `*`). Empty
    /// strings mean the defaults.
    pub fn from_settings(api_tokens: &str, auth_reads: &str, body_limit: &str, cors_origins: &str) -> Result<Config, String> {
        Ok(Config {
            api_tokens: parse_api_tokens(api_tokens),
            auth_reads: parse_auth_reads(auth_reads)?,
            body_limit: parse_body_limit(body_limit)?,
            cors_origins: CorsOrigins::parse(cors_origins)?,
        })
    }
}

impl Settings for Config {
    fn api_tokens(&self) -> Result<&[String], String> {
        Ok(&self.api_tokens)
    }

    fn auth_reads(&self) -> Result<bool, String> {
        Ok(self.auth_reads)
    }

    fn body_limit(&self) -> Result<usize, String> {
        Ok(self.body_limit)
    }

    fn cors_origins(&self) -> Result<&CorsOrigins, String> {
        Ok(&self.cors_origins)
    }
}

/// `api_tokens`: comma-separated, blanks ignored.
pub fn parse_api_tokens(value: &str) -> Vec<String> {
    value.split(',').map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect()
}

/// `auth_reads`: `true`/`false` (and `1`/`0`, `yes`/`no`); empty is `false`.
pub fn parse_auth_reads(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "false" | "0" | "no" => Ok(false),
        "true" | "1" | "yes" => Ok(true),
        other => Err(format!("auth_reads must be true or false, not `{other}`")),
    }
}

/// `body_limit`: bytes; empty is [`DEFAULT_BODY_LIMIT`].
pub fn parse_body_limit(value: &str) -> Result<usize, String> {
    match value.trim() {
        "" => Ok(DEFAULT_BODY_LIMIT),
        n => n.parse().map_err(|_| format!("body_limit must be a number of bytes, not `{n}`")),
    }
}
