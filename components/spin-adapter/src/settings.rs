//! Configuration from Spin variables (`[component.x.variables]` in spin.toml).

use spin_sdk::variables;
use spincrud_core::Config;

/// A variable's value. A variable the component does not declare reads as empty (the default),
/// except `api_tokens`: a component without it must not silently run without authentication.
pub(crate) fn get(name: &str) -> Result<String, String> {
    match variables::get(name) {
        Ok(value) => Ok(value),
        Err(variables::Error::Undefined(_)) if name != "api_tokens" => Ok(String::new()),
        Err(variables::Error::Undefined(_)) => Err(format!(
            "variable `{name}` is not declared for this component in spin.toml"
        )),
        // Provider messages may quote values: only the variable's name is reported.
        Err(variables::Error::InvalidName(_)) => Err(format!("invalid variable name `{name}`")),
        Err(variables::Error::Provider(_)) | Err(variables::Error::Other(_)) => {
            Err(format!("variable `{name}` could not be read"))
        }
    }
}

/// The core's settings: `api_tokens`, `auth_reads`, `body_limit`, `cors_origins`.
pub(crate) fn config() -> Result<Config, String> {
    let api_tokens = get("api_tokens")?;
    let auth_reads = get("auth_reads")?;
    let body_limit = get("body_limit")?;
    let cors_origins = get("cors_origins")?;
    Config::from_settings(&api_tokens, &auth_reads, &body_limit, &cors_origins)
}
