//! The settings every engine reads (env vars and flags in host-runner, Spin variables in the
//! components), parsed once here so that every engine reads them alike.

use crate::cors::CorsOrigins;

/// 1 MiB, the contract's default body limit.
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;

/// Settings every engine reads from its configuration (env vars, flags or Spin variables).
#[derive(Debug, Clone)]
pub struct Config {
    /// Bearer tokens accepted for writes (and reads with `auth_reads`); empty: no auth.
    pub api_tokens: Vec<String>,
    /// Whether reads need a token too.
    pub auth_reads: bool,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Which browser origins may call the API (CORS); off by default.
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
        let api_tokens = api_tokens.split(',').map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect();
        let auth_reads = match auth_reads.trim().to_ascii_lowercase().as_str() {
            "" | "false" | "0" | "no" => false,
            "true" | "1" | "yes" => true,
            other => return Err(format!("auth_reads must be true or false, not `{other}`")),
        };
        let body_limit = match body_limit.trim() {
            "" => DEFAULT_BODY_LIMIT,
            n => n.parse().map_err(|_| format!("body_limit must be a number of bytes, not `{n}`"))?,
        };
        let cors_origins = CorsOrigins::parse(cors_origins)?;
        Ok(Config { api_tokens, auth_reads, body_limit, cors_origins })
    }
}
