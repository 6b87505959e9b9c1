//! Spin's runtime config file (`--runtime-config-file` / `SPIN_RUNTIME_CONFIG`): the parts
//! host-runner honours, with Spin 3.6's meaning.
//!
//! ```toml
//! [key_value_store.default]       # type "spin" (an embedded SQLite file) or "redis"
//! type = "redis"
//! url = "redis://localhost:6379"
//!
//! [sqlite_database.default]       # type "spin" (a local SQLite file)
//! type = "spin"
//! path = "data/app.db"            # relative to this file's directory
//! ```
//!
//! Without the file (or without an entry): the key-value store `default` is host-runner's
//! (`REDIS_URL`, else the embedded `spin_key_value` table in `DATA_DIR/kv.db`) and the SQLite
//! database `default` is `DATA_DIR/spincrud.db`, the native engine's stores. Store types that
//! host-runner does not implement (Azure Cosmos, DynamoDB, libSQL, …) and config providers
//! (Vault, Azure Key Vault) are refused at start rather than ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;
use tracing::warn;

#[derive(Debug, Default, Clone)]
pub struct RuntimeConfig {
    pub key_value_stores: BTreeMap<String, KvConfig>,
    pub sqlite_databases: BTreeMap<String, SqliteConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvConfig {
    /// An embedded SQLite file (`None`: host-runner's own, `DATA_DIR/kv.db`).
    Spin { path: Option<PathBuf> },
    Redis { url: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqliteConfig {
    /// A local SQLite file (`None`: `DATA_DIR/spincrud.db` for `default`).
    Spin { path: Option<PathBuf> },
}

#[derive(Deserialize)]
struct RawStore {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: Option<PathBuf>,
    #[serde(default)]
    url: Option<String>,
}

impl RuntimeConfig {
    pub fn load(path: &Path) -> anyhow::Result<RuntimeConfig> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the runtime config {}", path.display()))?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        RuntimeConfig::parse(&text, &dir).with_context(|| format!("invalid runtime config {}", path.display()))
    }

    pub fn parse(text: &str, dir: &Path) -> anyhow::Result<RuntimeConfig> {
        let table: toml::Table = toml::from_str(text)?;
        let mut config = RuntimeConfig::default();
        for (section, value) in table {
            match section.as_str() {
                "key_value_store" => {
                    for (label, store) in stores(value)? {
                        let entry = match store.kind.as_str() {
                            "spin" => KvConfig::Spin { path: store.path.map(|p| dir.join(p)) },
                            "redis" => KvConfig::Redis { url: store.url.with_context(|| format!("key_value_store.{label}: type redis needs a url"))? },
                            other => bail!("key_value_store.{label}: type `{other}` is not supported by host-runner (spin, redis)"),
                        };
                        config.key_value_stores.insert(label, entry);
                    }
                }
                "sqlite_database" => {
                    for (label, store) in stores(value)? {
                        let entry = match store.kind.as_str() {
                            "spin" => SqliteConfig::Spin { path: store.path.map(|p| dir.join(p)) },
                            other => bail!("sqlite_database.{label}: type `{other}` is not supported by host-runner (spin)"),
                        };
                        if label != "default" && matches!(entry, SqliteConfig::Spin { path: None }) {
                            bail!("sqlite_database.{label}: host-runner needs a `path` (an in-memory database cannot be shared by per-request instances)");
                        }
                        config.sqlite_databases.insert(label, entry);
                    }
                }
                "config_provider" | "variables_provider" | "variable_provider" => {
                    bail!("`{section}` is not supported by host-runner: give secrets as SPIN_VARIABLE_<NAME> or host-runner's settings")
                }
                other => warn!(section = other, "runtime config section ignored by host-runner"),
            }
        }
        Ok(config)
    }
}

fn stores(value: toml::Value) -> anyhow::Result<BTreeMap<String, RawStore>> {
    value.try_into().context("expected tables of `type = ...` entries")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_redis_and_spin_stores() {
        let c = RuntimeConfig::parse(
            r#"
[key_value_store.default]
type = "redis"
url = "redis://localhost:6379"
[key_value_store.other]
type = "spin"
path = "kv/other.db"
[sqlite_database.default]
type = "spin"
"#,
            Path::new("/etc/app"),
        )
        .unwrap();
        assert_eq!(c.key_value_stores["default"], KvConfig::Redis { url: "redis://localhost:6379".into() });
        assert_eq!(c.key_value_stores["other"], KvConfig::Spin { path: Some("/etc/app/kv/other.db".into()) });
        assert_eq!(c.sqlite_databases["default"], SqliteConfig::Spin { path: None });
    }

    #[test]
    fn refuses_what_it_cannot_honour() {
        assert!(RuntimeConfig::parse("[key_value_store.default]\ntype = \"azure_cosmos\"\n", Path::new("")).is_err());
        assert!(RuntimeConfig::parse("[key_value_store.default]\ntype = \"redis\"\n", Path::new("")).is_err());
        assert!(RuntimeConfig::parse("[sqlite_database.default]\ntype = \"libsql\"\nurl = \"x\"\n", Path::new("")).is_err());
        assert!(RuntimeConfig::parse("[[config_provider]]\ntype = \"vault\"\n", Path::new("")).is_err());
    }

    #[test]
    fn the_projects_redis_config_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime-config/redis.toml");
        let c = RuntimeConfig::load(&path).unwrap();
        assert!(matches!(c.key_value_stores["default"], KvConfig::Redis { .. }));
    }
}
