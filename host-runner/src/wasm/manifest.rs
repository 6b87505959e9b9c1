//! `spin.toml` (manifest version 2): the parts the wasm engine needs, read as Spin 3.6 reads them.
//!
//! Supported: `[application]` (name, `[application.trigger.http] base`), `[variables]`,
//! `[[trigger.http]]` (string routes or `{ private = true }`, components by id, the `spin`
//! executor), and per component `source` (a local file), `allowed_outbound_hosts`,
//! `key_value_stores`, `sqlite_databases`, `environment`, `variables` and `files` that name
//! directories (mounted read-only, as `spin up --direct-mounts` does). Anything that would change
//! what a component sees but that host-runner cannot provide (single files or glob patterns in
//! `files`, `exclude_files`, remote sources, inline components, the wagi executor, component
//! dependencies) is an error at start, never a silent difference.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;

use super::variables::{parse_template, Template};

/// The whole manifest, validated.
#[derive(Debug)]
pub struct Manifest {
    pub name: String,
    /// `[application.trigger.http] base` (default `/`).
    pub base: String,
    pub variables: BTreeMap<String, AppVariable>,
    pub triggers: Vec<HttpTrigger>,
    pub components: BTreeMap<String, ComponentSpec>,
}

/// An application variable (`[variables]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppVariable {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    /// Secret values are never logged (host-runner logs no variable values at all).
    #[serde(default)]
    #[allow(dead_code)]
    pub secret: bool,
}

/// One `[[trigger.http]]` entry.
#[derive(Debug, Clone)]
pub struct HttpTrigger {
    /// `None` for a private (unroutable) trigger.
    pub route: Option<String>,
    pub component: String,
}

/// One `[component.<id>]` table.
#[derive(Debug, Clone)]
pub struct ComponentSpec {
    pub source: PathBuf,
    pub allowed_outbound_hosts: Vec<Template>,
    pub key_value_stores: Vec<String>,
    pub sqlite_databases: Vec<String>,
    pub environment: BTreeMap<String, String>,
    pub variables: BTreeMap<String, Template>,
    pub files: Vec<FileMount>,
}

/// One `files` entry: a host directory the component sees, read-only, at `destination`.
#[derive(Debug, Clone, PartialEq)]
pub struct FileMount {
    /// Resolved against the manifest's directory.
    pub source: PathBuf,
    /// An absolute path in the component's filesystem.
    pub destination: String,
}

impl FileMount {
    /// Spin's two spellings: `"dir"` (the same path in the guest) and `{ source, destination }`.
    fn parse(entry: &toml::Value, dir: &Path) -> anyhow::Result<FileMount> {
        let (source, destination) = match entry {
            toml::Value::String(pattern) => {
                if pattern.contains(['*', '?', '[', '{']) {
                    bail!("`{pattern}`: glob patterns are not supported by host-runner: mount a directory, `{{ source = \"dir\", destination = \"/dir\" }}`");
                }
                if Path::new(pattern).is_absolute() || pattern.split('/').any(|s| s == "..") {
                    bail!("`{pattern}`: a files pattern must be a path inside the application directory");
                }
                let guest = format!("/{}", pattern.trim_start_matches("./").trim_end_matches('/'));
                (pattern.as_str(), guest)
            }
            toml::Value::Table(table) => {
                if let Some(key) = table.keys().find(|k| *k != "source" && *k != "destination") {
                    bail!("unknown key `{key}` in a `{{ source, destination }}` entry");
                }
                let field = |name: &str| table.get(name).and_then(toml::Value::as_str).with_context(|| format!("a `{{ source, destination }}` entry needs `{name}`, a string"));
                let destination = field("destination")?;
                if !destination.starts_with('/') {
                    bail!("destination `{destination}` must be an absolute path");
                }
                (field("source")?, destination.to_owned())
            }
            _ => bail!("each entry must be a path string or `{{ source = \"...\", destination = \"/...\" }}`"),
        };
        if destination.split('/').any(|s| s == "." || s == "..") {
            bail!("destination `{destination}` must not contain `.` or `..`");
        }
        Ok(FileMount { source: dir.join(source), destination })
    }

    /// At start: the source must be a directory (a single file cannot be a WASI preopen).
    pub fn check(&self) -> anyhow::Result<()> {
        match std::fs::metadata(&self.source) {
            Ok(meta) if meta.is_dir() => Ok(()),
            Ok(_) => bail!("source {} is not a directory: host-runner mounts directories only (as Spin's --direct-mounts)", self.source.display()),
            Err(e) => bail!("source {} (mounted at {}): {e}", self.source.display(), self.destination),
        }
    }
}

#[derive(Deserialize)]
struct RawManifest {
    spin_manifest_version: toml::Value,
    application: RawApplication,
    #[serde(default)]
    variables: BTreeMap<String, AppVariable>,
    #[serde(default)]
    trigger: BTreeMap<String, Vec<RawTrigger>>,
    #[serde(default)]
    component: BTreeMap<String, RawComponent>,
}

#[derive(Deserialize)]
struct RawApplication {
    name: String,
    #[serde(default)]
    trigger: BTreeMap<String, toml::Table>,
}

#[derive(Deserialize)]
struct RawTrigger {
    #[serde(default)]
    route: Option<toml::Value>,
    component: toml::Value,
    #[serde(default)]
    executor: Option<toml::Table>,
}

#[derive(Deserialize)]
struct RawComponent {
    source: toml::Value,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    allowed_http_hosts: Vec<String>,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    sqlite_databases: Vec<String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    files: Vec<toml::Value>,
    #[serde(default)]
    exclude_files: Vec<String>,
    #[serde(default)]
    dependencies: toml::Table,
    #[serde(default)]
    ai_models: Vec<String>,
}

impl Manifest {
    pub fn load(path: &Path) -> anyhow::Result<Manifest> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the manifest {}", path.display()))?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let dir = if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir };
        Manifest::parse(&text, dir).with_context(|| format!("invalid manifest {}", path.display()))
    }

    pub fn parse(text: &str, dir: PathBuf) -> anyhow::Result<Manifest> {
        let raw: RawManifest = toml::from_str(text)?;
        if raw.spin_manifest_version.as_integer() != Some(2) && raw.spin_manifest_version.as_str() != Some("2") {
            bail!("spin_manifest_version must be 2 (the format of Spin 2 and 3)");
        }
        for (name, var) in &raw.variables {
            if !is_valid_name(name) {
                bail!("variable name `{name}` is invalid: lowercase letters, digits and underscores, starting with a letter");
            }
            if var.required && var.default.is_some() {
                bail!("variable `{name}` cannot be both required and have a default");
            }
            if !var.required && var.default.is_none() {
                bail!("variable `{name}` must be required or have a default");
            }
        }
        let base = raw
            .application
            .trigger
            .get("http")
            .and_then(|t| t.get("base"))
            .map(|b| b.as_str().map(str::to_owned).context("[application.trigger.http] base must be a string"))
            .transpose()?
            .unwrap_or_else(|| "/".to_owned());

        let mut triggers = Vec::new();
        for (kind, entries) in raw.trigger {
            if kind != "http" {
                bail!("trigger type `{kind}` is not supported by host-runner (only http)");
            }
            for t in entries {
                let component = match t.component {
                    toml::Value::String(id) => id,
                    _ => bail!("inline components in [[trigger.http]] are not supported: name a [component.<id>] instead"),
                };
                if let Some(executor) = &t.executor {
                    match executor.get("type").and_then(|v| v.as_str()) {
                        Some("spin") | Some("http") | None => {}
                        Some(other) => bail!("component `{component}`: executor `{other}` is not supported (only spin)"),
                    }
                }
                let route = match t.route {
                    Some(toml::Value::String(route)) => Some(route),
                    Some(toml::Value::Table(table)) if table.get("private").and_then(toml::Value::as_bool) == Some(true) => None,
                    Some(_) => bail!("component `{component}`: route must be a string pattern or `{{ private = true }}`"),
                    None => bail!("component `{component}`: [[trigger.http]] needs a route"),
                };
                triggers.push(HttpTrigger { route, component });
            }
        }

        let mut components = BTreeMap::new();
        for (id, c) in raw.component {
            let source = match c.source {
                toml::Value::String(path) => dir.join(path),
                _ => bail!("component `{id}`: only a local `source` file is supported (not a URL or registry source)"),
            };
            let files = c.files.iter().map(|f| FileMount::parse(f, &dir)).collect::<anyhow::Result<Vec<_>>>().with_context(|| format!("component `{id}`: files"))?;
            if !c.exclude_files.is_empty() {
                bail!("component `{id}`: `exclude_files` is not supported by host-runner (it mounts whole directories)");
            }
            if !c.dependencies.is_empty() {
                bail!("component `{id}`: component `dependencies` are not supported by host-runner");
            }
            if !c.ai_models.is_empty() {
                bail!("component `{id}`: `ai_models` are not supported by host-runner");
            }
            if !c.allowed_http_hosts.is_empty() {
                bail!("component `{id}`: `allowed_http_hosts` is the manifest v1 spelling: use `allowed_outbound_hosts`");
            }
            let mut variables = BTreeMap::new();
            for (name, value) in c.variables {
                if !is_valid_name(&name) {
                    bail!("component `{id}`: variable name `{name}` is invalid");
                }
                let template = parse_template(&value).with_context(|| format!("component `{id}`: variable `{name}`"))?;
                for reference in template.references() {
                    if !raw.variables.contains_key(reference) {
                        bail!("component `{id}`: variable `{name}` refers to `{reference}`, which [variables] does not declare");
                    }
                }
                variables.insert(name, template);
            }
            let mut allowed_outbound_hosts = Vec::new();
            for host in c.allowed_outbound_hosts {
                let template = parse_template(&host).with_context(|| format!("component `{id}`: allowed_outbound_hosts entry `{host}`"))?;
                for reference in template.references() {
                    if !raw.variables.contains_key(reference) {
                        bail!("component `{id}`: allowed_outbound_hosts refers to `{reference}`, which [variables] does not declare");
                    }
                }
                allowed_outbound_hosts.push(template);
            }
            components.insert(
                id,
                ComponentSpec {
                    source,
                    allowed_outbound_hosts,
                    key_value_stores: c.key_value_stores,
                    sqlite_databases: c.sqlite_databases,
                    environment: c.environment,
                    variables,
                    files,
                },
            );
        }
        for t in &triggers {
            if !components.contains_key(&t.component) {
                bail!("[[trigger.http]] names component `{}`, which has no [component.{}] table", t.component, t.component);
            }
        }
        Ok(Manifest { name: raw.application.name, base, variables: raw.variables, triggers, components })
    }
}

/// Spin's variable names: lowercase ASCII letters, digits and `_`, starting with a letter.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.contains("__")
        && !name.ends_with('_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"
spin_manifest_version = 2
[application]
name = "t"
[variables]
db = { default = "" }
host = { default = "localhost:5432" }
[[trigger.http]]
route = "/a/..."
component = "a"
[[trigger.http]]
route = { private = true }
component = "a"
[component.a]
source = "a.wasm"
sqlite_databases = ["default"]
allowed_outbound_hosts = ["postgres://{{ host }}"]
[component.a.variables]
database_url = "{{ db }}"
"#;

    #[test]
    fn parses_a_small_manifest() {
        let m = Manifest::parse(SMALL, PathBuf::from("/app")).unwrap();
        assert_eq!(m.base, "/");
        assert_eq!(m.triggers.len(), 2);
        assert_eq!(m.triggers[1].route, None);
        let a = &m.components["a"];
        assert_eq!(a.source, PathBuf::from("/app/a.wasm"));
        assert_eq!(a.sqlite_databases, ["default"]);
        assert_eq!(a.variables["database_url"].references().collect::<Vec<_>>(), ["db"]);
    }

    #[test]
    fn rejects_undeclared_references_and_unsupported_features() {
        let bad = SMALL.replace("{{ db }}", "{{ nope }}");
        assert!(Manifest::parse(&bad, PathBuf::new()).is_err());
        let glob = SMALL.replace("sqlite_databases", "files = [\"x/*\"]\nsqlite_databases");
        assert!(Manifest::parse(&glob, PathBuf::new()).is_err());
        let excluded = SMALL.replace("sqlite_databases", "files = [\"x\"]\nexclude_files = [\"x/y\"]\nsqlite_databases");
        assert!(Manifest::parse(&excluded, PathBuf::new()).is_err());
        let url = SMALL.replace("source = \"a.wasm\"", "source = { url = \"https://x/a.wasm\", digest = \"sha256:0\" }");
        assert!(Manifest::parse(&url, PathBuf::new()).is_err());
    }

    #[test]
    fn files_are_directory_mounts() {
        let with = |files: &str| Manifest::parse(&SMALL.replace("sqlite_databases", &format!("files = {files}\nsqlite_databases")), PathBuf::from("/app"));
        let m = with(r#"[{ source = "site", destination = "/" }, "static/", "./assets"]"#).unwrap();
        let mount = |source: &str, destination: &str| FileMount { source: PathBuf::from(source), destination: destination.into() };
        assert_eq!(m.components["a"].files, [mount("/app/site", "/"), mount("/app/static/", "/static"), mount("/app/./assets", "/assets")]);
        for bad in [
            r#"["**/*"]"#,
            r#"["../up"]"#,
            r#"["/etc"]"#,
            r#"[{ source = "site", destination = "relative" }]"#,
            r#"[{ source = "site", destination = "/a/../b" }]"#,
            r#"[{ source = "site" }]"#,
            r#"[{ source = "site", destination = "/", mode = "rw" }]"#,
            "[1]",
        ] {
            assert!(with(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_mount_must_be_an_existing_directory() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mount = |source: PathBuf| FileMount { source, destination: "/".into() };
        assert!(mount(here.join("src")).check().is_ok());
        assert!(mount(here.join("Cargo.toml")).check().is_err());
        assert!(mount(here.join("no-such-dir")).check().is_err());
    }

    #[test]
    fn variable_names() {
        assert!(is_valid_name("database_url"));
        assert!(is_valid_name("a1"));
        assert!(!is_valid_name("Database"));
        assert!(!is_valid_name("1a"));
        assert!(!is_valid_name("a-b"));
        assert!(!is_valid_name(""));
    }

    #[test]
    fn the_projects_manifest_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../spin.toml");
        let m = Manifest::load(&path).unwrap();
        assert!(m.components.contains_key("ops"));
        assert!(m.triggers.iter().any(|t| t.route.as_deref() == Some("/...")));
        let site = path.parent().unwrap().join("target/docs-ui");
        assert_eq!(m.components["docs"].files, [FileMount { source: site, destination: "/".into() }]);
    }
}
