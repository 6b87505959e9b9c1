//! Configuration from the component's variables (`[component.x.variables]` in spin.toml), each
//! read when the request first needs it.
//!
//! Spin resolves every application variable a read names through its providers, and its
//! environment provider blocks in place (a hand-over between threads). Measured on Spin 3.6.3,
//! an instance's first read costs most: a one-table `SELECT` component answered 3,600 req/s
//! reading no variable and 2,750–3,200 reading one, about the same reading two, or one template
//! naming five. So what matters is not reading at all where a request needs nothing:
//! `/healthz` reads none, a read of an item the tokens and `database_url`. (Reading every
//! setting as one variable was tried: no measurable gain.)

use std::cell::OnceCell;

use spin_sdk::variables;
use spincrud_core::cors::CorsOrigins;
use spincrud_core::settings::{parse_api_tokens, parse_auth_reads, parse_body_limit};
use spincrud_core::Settings;

/// The component's variables, read on first use and kept for the request.
#[derive(Default)]
pub(crate) struct SpinSettings {
    api_tokens: OnceCell<Result<Vec<String>, String>>,
    auth_reads: OnceCell<Result<bool, String>>,
    body_limit: OnceCell<Result<usize, String>>,
    cors_origins: OnceCell<Result<CorsOrigins, String>>,
}

impl Settings for SpinSettings {
    fn api_tokens(&self) -> Result<&[String], String> {
        // A component without it must not silently run without authentication.
        self.api_tokens.get_or_init(|| get("api_tokens", true).map(|v| parse_api_tokens(&v))).as_deref().map_err(Clone::clone)
    }

    fn auth_reads(&self) -> Result<bool, String> {
        self.auth_reads.get_or_init(|| get("auth_reads", false).and_then(|v| parse_auth_reads(&v))).clone()
    }

    fn body_limit(&self) -> Result<usize, String> {
        self.body_limit.get_or_init(|| get("body_limit", false).and_then(|v| parse_body_limit(&v))).clone()
    }

    fn cors_origins(&self) -> Result<&CorsOrigins, String> {
        self.cors_origins.get_or_init(|| get("cors_origins", false).and_then(|v| CorsOrigins::parse(&v))).as_ref().map_err(Clone::clone)
    }
}

/// A variable's value. One the component does not declare reads as empty (the default) unless
/// it is `required`.
pub(crate) fn get(name: &str, required: bool) -> Result<String, String> {
    match variables::get(name) {
        Ok(value) => Ok(value),
        Err(variables::Error::Undefined(_)) if !required => Ok(String::new()),
        Err(variables::Error::Undefined(_)) => Err(format!("variable `{name}` is not declared for this component in spin.toml")),
        // Provider messages may quote values: only the variable's name is reported.
        Err(variables::Error::InvalidName(_)) => Err(format!("invalid variable name `{name}`")),
        Err(variables::Error::Provider(_)) | Err(variables::Error::Other(_)) => Err(format!("variable `{name}` could not be read")),
    }
}
