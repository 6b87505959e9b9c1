//! Spin variables: `{{ name }}` templates and where the values come from.
//!
//! An application variable (`[variables]` in spin.toml) gets its value from, in this order:
//! 1. `SPIN_VARIABLE_<NAME>` in the environment (Spin's environment provider);
//! 2. host-runner's own setting of the same meaning (`DATABASE_URL` → `database_url`,
//!    `API_TOKENS` → `api_tokens`, `AUTH_READS` → `auth_reads`, `BODY_LIMIT` → `body_limit`,
//!    `CORS_ORIGINS` → `cors_origins`, and `database_host` = the `host:port` of `DATABASE_URL`), so that switching engines is one
//!    variable;
//! 3. its `default` in spin.toml.
//!
//! A required variable with none of these stops host-runner at start, as it stops `spin up`.
//! Component variables (`[component.x.variables]`) and `allowed_outbound_hosts` are templates
//! over the application variables, resolved once at start (the values cannot change while
//! host-runner runs).

use std::collections::{BTreeMap, HashMap};

use anyhow::{bail, Context};
use tracing::warn;

use super::manifest::{is_valid_name, Manifest};

/// A string with `{{ variable }}` references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Part>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Variable(String),
}

impl Template {
    /// The application variables this template reads.
    pub fn references(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|p| match p {
            Part::Variable(name) => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    pub fn render(&self, values: &HashMap<String, String>) -> anyhow::Result<String> {
        let mut out = String::new();
        for part in &self.0 {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Variable(name) => out.push_str(values.get(name).with_context(|| format!("variable `{name}` has no value"))?),
            }
        }
        Ok(out)
    }
}

/// Parses `text {{ name }} more`: the syntax Spin accepts in component variables and
/// `allowed_outbound_hosts`.
pub fn parse_template(text: &str) -> anyhow::Result<Template> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            parts.push(Part::Literal(rest[..start].to_owned()));
        }
        let after = &rest[start + 2..];
        let end = after.find("}}").context("`{{` without a closing `}}`")?;
        let name = after[..end].trim();
        if !is_valid_name(name) {
            bail!("`{{{{ {name} }}}}` does not name a variable (lowercase letters, digits and underscores)");
        }
        parts.push(Part::Variable(name.to_owned()));
        rest = &after[end + 2..];
    }
    if rest.contains("}}") {
        bail!("`}}}}` without an opening `{{{{`");
    }
    if !rest.is_empty() {
        parts.push(Part::Literal(rest.to_owned()));
    }
    Ok(Template(parts))
}

/// host-runner's own settings, as the variables of the same meaning.
#[derive(Debug, Clone, Default)]
pub struct HostSettings {
    pub database_url: String,
    pub api_tokens: String,
    pub auth_reads: String,
    pub body_limit: String,
    pub cors_origins: String,
}

impl HostSettings {
    fn as_variables(&self) -> Vec<(&'static str, String)> {
        let mut vars = vec![
            ("database_url", self.database_url.trim().to_owned()),
            ("api_tokens", self.api_tokens.clone()),
            ("auth_reads", self.auth_reads.clone()),
            ("body_limit", self.body_limit.clone()),
            ("cors_origins", self.cors_origins.clone()),
        ];
        if let Some(host) = database_host(&self.database_url) {
            vars.push(("database_host", host));
        }
        vars
    }
}

/// `host:port` of a `postgres://` URL (port 5432 when the URL names none); `None` when the URL
/// is empty or names no host (a Unix socket).
pub fn database_host(url: &str) -> Option<String> {
    let url = url.trim();
    let rest = url.strip_prefix("postgres://").or_else(|| url.strip_prefix("postgresql://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    if host_port.is_empty() {
        return None;
    }
    let (host, port) = split_host_port(host_port);
    if host.is_empty() {
        return None;
    }
    Some(format!("{}:{}", host.to_ascii_lowercase(), port.unwrap_or("5432")))
}

/// `host:port` → (`host`, `Some(port)`), IPv6 literals in brackets kept whole.
pub fn split_host_port(s: &str) -> (&str, Option<&str>) {
    if s.starts_with('[') {
        match s.find(']') {
            Some(end) => {
                let host = &s[..=end];
                let port = s[end + 1..].strip_prefix(':');
                (host, port)
            }
            None => (s, None),
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    }
}

/// The resolved value of every application variable.
pub fn resolve_application(manifest: &Manifest, settings: &HostSettings) -> anyhow::Result<HashMap<String, String>> {
    resolve_with(manifest, settings, |name| std::env::var(name).ok())
}

fn resolve_with(manifest: &Manifest, settings: &HostSettings, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<HashMap<String, String>> {
    let host: HashMap<&str, String> = settings.as_variables().into_iter().collect();
    let mut values = HashMap::new();
    for (name, var) in &manifest.variables {
        let from_env = env(&format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase()));
        let from_host = host.get(name.as_str());
        let value = match (from_env, from_host) {
            (Some(env_value), Some(host_value)) => {
                if &env_value != host_value && !(name == "database_host" && settings.database_url.trim().is_empty()) {
                    // Never log the values: several are secrets.
                    warn!(variable = %name, "SPIN_VARIABLE_{} overrides host-runner's own setting of the same meaning", name.to_ascii_uppercase());
                }
                env_value
            }
            (Some(env_value), None) => env_value,
            (None, Some(host_value)) => host_value.clone(),
            (None, None) => match &var.default {
                Some(default) => default.clone(),
                None => bail!("required variable `{name}` has no value: set SPIN_VARIABLE_{}", name.to_ascii_uppercase()),
            },
        };
        values.insert(name.clone(), value);
    }
    Ok(values)
}

/// A component's variables (`[component.x.variables]`), rendered.
pub fn resolve_component(templates: &BTreeMap<String, Template>, app: &HashMap<String, String>) -> anyhow::Result<HashMap<String, String>> {
    templates.iter().map(|(name, t)| Ok((name.clone(), t.render(app)?))).collect()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn templates() {
        let t = parse_template("postgres://{{ database_host }}").unwrap();
        assert_eq!(t.references().collect::<Vec<_>>(), ["database_host"]);
        let values = HashMap::from([("database_host".to_owned(), "db:5432".to_owned())]);
        assert_eq!(t.render(&values).unwrap(), "postgres://db:5432");
        assert_eq!(parse_template("{{x}}-{{ y }}").unwrap().references().collect::<Vec<_>>(), ["x", "y"]);
        assert_eq!(parse_template("plain").unwrap().render(&HashMap::new()).unwrap(), "plain");
        assert!(parse_template("{{ Bad }}").is_err());
        assert!(parse_template("{{ open").is_err());
        assert!(parse_template("close }}").is_err());
    }

    #[test]
    fn database_host_of_urls() {
        assert_eq!(database_host("postgres://u:p@db.example.com:6543/x").as_deref(), Some("db.example.com:6543"));
        assert_eq!(database_host("postgresql://u@Db/x?sslmode=disable").as_deref(), Some("db:5432"));
        assert_eq!(database_host("postgres://127.0.0.1:5433/x").as_deref(), Some("127.0.0.1:5433"));
        assert_eq!(database_host("postgres://[::1]:5433/x").as_deref(), Some("[::1]:5433"));
        assert_eq!(database_host(""), None);
        assert_eq!(database_host("postgres:///x?host=/run/postgresql"), None);
    }

    #[test]
    fn precedence_env_then_host_then_default() {
        let text = r#"
spin_manifest_version = 2
[application]
name = "t"
[variables]
api_tokens = { default = "d1" }
auth_reads = { default = "false" }
database_host = { default = "localhost:5432" }
database_url = { default = "" }
other = { default = "o" }
secret_thing = { required = true }
"#;
        let m = Manifest::parse(text, PathBuf::new()).unwrap();
        let settings = HostSettings {
            database_url: "postgres://u@db:7/x".into(),
            api_tokens: "host-token".into(),
            auth_reads: "true".into(),
            body_limit: "10".into(),
            cors_origins: "https://app.example.com".into(),
        };
        let env = |name: &str| match name {
            "SPIN_VARIABLE_AUTH_READS" => Some("false".to_owned()),
            "SPIN_VARIABLE_SECRET_THING" => Some("s".to_owned()),
            _ => None,
        };
        let v = resolve_with(&m, &settings, env).unwrap();
        assert_eq!(v["api_tokens"], "host-token");
        assert_eq!(v["auth_reads"], "false");
        assert_eq!(v["database_host"], "db:7");
        assert_eq!(v["database_url"], "postgres://u@db:7/x");
        assert_eq!(v["other"], "o");
        assert_eq!(v["secret_thing"], "s");
        assert!(!v.contains_key("body_limit"), "only declared variables are resolved");

        let missing = resolve_with(&m, &settings, |_| None);
        assert!(missing.unwrap_err().to_string().contains("SPIN_VARIABLE_SECRET_THING"));
    }
}
