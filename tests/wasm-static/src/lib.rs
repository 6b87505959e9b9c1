//! Static checks of spincrud's Spin application: the built components and `spin.toml`.
//!
//! Nothing here runs a component. The tests in `tests/checks.rs` read:
//! - `spin.toml` (components, grants, variables, routes);
//! - `docs/api.md` (the API reference's routes);
//! - `target/wasm32-wasip1/release/spincrud_<name>.wasm`, built by `make components`;
//! - the WIT that the spin-sdk crate in `Cargo.lock` ships (found with `cargo metadata`).
//!
//! This library holds the parsing and the route resolution, so that they have unit tests that do
//! not need the wasm build.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root (this crate lives in `tests/wasm-static`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

// ---- spin.toml ------------------------------------------------------------------------------

/// The parts of a Spin 3 manifest (version 2) these checks look at.
#[derive(Debug, Default)]
pub struct Manifest {
    pub variables: BTreeMap<String, toml::Table>,
    pub components: BTreeMap<String, Component>,
    pub triggers: Vec<Trigger>,
}

#[derive(Debug, Default)]
pub struct Component {
    pub source: String,
    pub variables: BTreeMap<String, String>,
    pub sqlite_databases: Vec<String>,
    pub key_value_stores: Vec<String>,
    pub allowed_outbound_hosts: Vec<String>,
    pub build_command: Option<String>,
    pub build_watch: Vec<String>,
    /// `files`, each as `(source, destination)` (a plain path string is mounted at itself).
    pub files: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub route: String,
    pub component: String,
}

fn strings(table: &toml::Table, key: &str) -> Result<Vec<String>, String> {
    match table.get(key) {
        None => Ok(Vec::new()),
        Some(toml::Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("`{key}` must be an array of strings"))
            })
            .collect(),
        Some(_) => Err(format!("`{key}` must be an array of strings")),
    }
}

/// Spin's two spellings of a `files` entry: `"path"` and `{ source, destination }`.
fn files(table: &toml::Table) -> Result<Vec<(String, String)>, String> {
    let Some(entries) = table.get("files") else {
        return Ok(Vec::new());
    };
    let entries = entries.as_array().ok_or("`files` must be an array")?;
    entries
        .iter()
        .map(|entry| match entry {
            toml::Value::String(path) => Ok((path.clone(), format!("/{path}"))),
            toml::Value::Table(t) => match (
                t.get("source").and_then(toml::Value::as_str),
                t.get("destination").and_then(toml::Value::as_str),
            ) {
                (Some(source), Some(destination)) => {
                    Ok((source.to_owned(), destination.to_owned()))
                }
                _ => Err("a `files` table needs string `source` and `destination`".to_owned()),
            },
            _ => Err("`files` entries are strings or tables".to_owned()),
        })
        .collect()
}

impl Manifest {
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let doc: toml::Table = text.parse().map_err(|e| format!("spin.toml: {e}"))?;
        if doc
            .get("spin_manifest_version")
            .and_then(toml::Value::as_integer)
            != Some(2)
        {
            return Err("spin_manifest_version must be 2".into());
        }
        let mut manifest = Manifest::default();
        if let Some(vars) = doc.get("variables").and_then(toml::Value::as_table) {
            for (name, def) in vars {
                let def = def
                    .as_table()
                    .ok_or_else(|| format!("variable `{name}` must be a table"))?;
                manifest.variables.insert(name.clone(), def.clone());
            }
        }
        let components = doc
            .get("component")
            .and_then(toml::Value::as_table)
            .ok_or("no [component.*] tables")?;
        for (id, table) in components {
            let table = table
                .as_table()
                .ok_or_else(|| format!("component `{id}` must be a table"))?;
            let source = table
                .get("source")
                .and_then(toml::Value::as_str)
                .ok_or_else(|| format!("component `{id}`: `source` must be a file path"))?
                .to_owned();
            let mut component = Component {
                source,
                sqlite_databases: strings(table, "sqlite_databases")?,
                key_value_stores: strings(table, "key_value_stores")?,
                allowed_outbound_hosts: strings(table, "allowed_outbound_hosts")?,
                files: files(table).map_err(|e| format!("component `{id}`: {e}"))?,
                ..Component::default()
            };
            if let Some(vars) = table.get("variables").and_then(toml::Value::as_table) {
                for (name, value) in vars {
                    let value = value.as_str().ok_or_else(|| {
                        format!("component `{id}`: variable `{name}` must be a string")
                    })?;
                    component.variables.insert(name.clone(), value.to_owned());
                }
            }
            if let Some(build) = table.get("build").and_then(toml::Value::as_table) {
                component.build_command = build
                    .get("command")
                    .and_then(toml::Value::as_str)
                    .map(str::to_owned);
                component.build_watch = strings(build, "watch")?;
            }
            manifest.components.insert(id.clone(), component);
        }
        let triggers = doc
            .get("trigger")
            .and_then(|t| t.get("http"))
            .and_then(toml::Value::as_array)
            .ok_or("no [[trigger.http]] entries")?;
        for trigger in triggers {
            let route = trigger
                .get("route")
                .and_then(toml::Value::as_str)
                .ok_or("every [[trigger.http]] needs a string `route`")?;
            let component = trigger
                .get("component")
                .and_then(toml::Value::as_str)
                .ok_or("every [[trigger.http]] needs a `component` id")?;
            manifest.triggers.push(Trigger {
                route: route.to_owned(),
                component: component.to_owned(),
            });
        }
        Ok(manifest)
    }
}

// ---- routes ---------------------------------------------------------------------------------

/// A Spin HTTP route: exact (`/cats`) or trailing wildcard (`/cats/...`, `/...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Exact(String),
    /// The prefix before `/...` (empty for `/...`).
    Wildcard(String),
}

impl Route {
    pub fn parse(route: &str) -> Result<Route, String> {
        if !route.starts_with('/') {
            return Err(format!("route `{route}` must start with `/`"));
        }
        // Single-segment wildcards (`/x/:id`) are valid Spin syntax but not used here, and these
        // checks do not model their precedence: refuse them rather than guess.
        if route.split('/').any(|segment| segment.starts_with(':')) {
            return Err(format!(
                "route `{route}`: `:name` segments are not supported by these checks"
            ));
        }
        if route == "/..." {
            return Ok(Route::Wildcard(String::new()));
        }
        if let Some(prefix) = route.strip_suffix("/...") {
            if prefix.contains("...") {
                return Err(format!("route `{route}`: `...` only at the end"));
            }
            return Ok(Route::Wildcard(prefix.to_owned()));
        }
        if route.contains("...") {
            return Err(format!("route `{route}`: `...` only at the end"));
        }
        Ok(Route::Exact(route.to_owned()))
    }

    fn matches(&self, path: &str) -> bool {
        match self {
            Route::Exact(exact) => path == exact,
            Route::Wildcard(prefix) => {
                path == prefix
                    || (path.starts_with(prefix.as_str()) && path[prefix.len()..].starts_with('/'))
            }
        }
    }

    /// Spin's precedence: an exact route beats every wildcard; among wildcards the longest
    /// prefix wins.
    fn rank(&self) -> (u8, usize) {
        match self {
            Route::Exact(exact) => (1, exact.len()),
            Route::Wildcard(prefix) => (0, prefix.len()),
        }
    }
}

/// Which component Spin runs for `path` (no query): exactly one, or an error naming the tie.
pub fn resolve<'a>(triggers: &'a [Trigger], path: &str) -> Result<&'a str, String> {
    let mut best: Option<((u8, usize), Vec<&'a Trigger>)> = None;
    for trigger in triggers {
        let route = Route::parse(&trigger.route)?;
        if !route.matches(path) {
            continue;
        }
        let rank = route.rank();
        match &mut best {
            Some((best_rank, winners)) if *best_rank == rank => winners.push(trigger),
            Some((best_rank, _)) if *best_rank > rank => {}
            _ => best = Some((rank, vec![trigger])),
        }
    }
    match best {
        None => Err(format!("no route claims `{path}`")),
        Some((_, winners)) => {
            let components: BTreeSet<&str> = winners.iter().map(|t| t.component.as_str()).collect();
            if components.len() == 1 {
                Ok(winners[0].component.as_str())
            } else {
                Err(format!(
                    "`{path}` is claimed equally by {}",
                    winners
                        .iter()
                        .map(|t| format!("`{}` ({})", t.route, t.component))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
        }
    }
}

/// Route patterns that appear in more than one trigger (Spin refuses or shadows them).
pub fn duplicate_routes(triggers: &[Trigger]) -> Vec<String> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for t in triggers {
        *seen.entry(t.route.as_str()).or_default() += 1;
    }
    seen.into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(route, n)| format!("`{route}` appears in {n} triggers"))
        .collect()
}

/// The route templates of an API document: every backticked path (`/cats/{id}`, `GET /hello`), without
/// its query; generic placeholders (`/<resource>`) are left out.
pub fn api_routes(api_md: &str) -> BTreeSet<String> {
    let mut routes = BTreeSet::new();
    for (i, span) in api_md.split('`').enumerate() {
        if i % 2 == 0 {
            continue; // outside backticks
        }
        for token in span.split_whitespace() {
            if !token.starts_with('/') || token.contains('<') {
                continue;
            }
            let path = token.split('?').next().unwrap_or(token);
            let path = path.trim_end_matches([',', ';', ')', '.']);
            if path.len() > 1 || path == "/" {
                routes.insert(path.to_owned());
            }
        }
    }
    routes
}

/// A concrete path for a route template: `{id}` becomes a UUID v4, `{dcname}` a config name.
pub fn sample_path(template: &str) -> String {
    template
        .split('/')
        .map(|segment| match segment {
            "{id}" => "3f1c2d4e-5b6a-4c8d-9e0f-a1b2c3d4e5f6",
            "{dcname}" => "datacenter-1",
            s if s.starts_with('{') && s.ends_with('}') => "sample",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The component api.md's grouping gives a path. Collections and items (`/cats`, `/cats/…`) go
/// to their group; routes that are exact in api.md (`/search`, `/postpassenger`, `/hello`, …)
/// only as such, so that `/search/x` is an unknown route. `/docs` and below is the API explorer
/// page (`docs`). Everything else is `ops` (its own routes and the catch-all 404).
pub fn expected_component(path: &str) -> &'static str {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let exact = path == format!("/{first}");
    match first {
        "cats" => "cats",
        "passengers" | "getpassenger" | "putpassenger" | "deletepassenger" => "passengers",
        "passengerlist" | "postpassenger" if exact => "passengers",
        "configs" => "configs",
        "search" if exact => "configs",
        "data" => "data",
        "users" => "users",
        // The API explorer page (not an api.md route): /docs and everything under it.
        "docs" => "docs",
        _ => "ops",
    }
}

// ---- spin-sdk's WIT -------------------------------------------------------------------------

/// The interfaces of the WIT shipped by the spin-sdk crate the components are built with.
#[derive(Debug)]
pub struct SpinWit {
    pub sdk_version: String,
    pub wit_dir: PathBuf,
    /// Every interface declared anywhere in that WIT (`ns:pkg/iface@version`).
    pub declared: BTreeSet<String>,
    /// The imports of its `platform` world: what the matching Spin release provides to guests.
    pub platform: BTreeSet<String>,
}

/// Finds spin-sdk (5.2.x, as locked) with `cargo metadata` and parses its `wit/` directory.
pub fn spin_sdk_wit() -> Result<SpinWit, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(repo_root())
        .args([
            "metadata",
            "--format-version",
            "1",
            "--filter-platform",
            "wasm32-wasip1",
        ])
        .output()
        .map_err(|e| format!("cargo metadata: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&output.stdout).map_err(|e| format!("cargo metadata: {e}"))?;
    let sdk = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| {
            p["name"] == "spin-sdk" && p["version"].as_str().is_some_and(|v| v.starts_with("5.2."))
        })
        .ok_or("spin-sdk 5.2.x is not in the dependency graph")?;
    let version = sdk["version"].as_str().unwrap_or_default().to_owned();
    let manifest_path = PathBuf::from(sdk["manifest_path"].as_str().unwrap_or_default());
    let wit_dir = manifest_path
        .parent()
        .ok_or("spin-sdk manifest path")?
        .join("wit");

    let mut resolve = wit_parser::Resolve::default();
    let (pkg, _) = resolve
        .push_dir(&wit_dir)
        .map_err(|e| format!("parsing {}: {e:#}", wit_dir.display()))?;
    let declared = resolve
        .interfaces
        .iter()
        .filter_map(|(id, _)| resolve.id_of(id))
        .collect();
    let world = resolve
        .select_world(&[pkg], Some("platform"))
        .map_err(|e| format!("spin-sdk WIT has no `platform` world: {e:#}"))?;
    let platform = world_interfaces(&resolve, &resolve.worlds[world].imports);
    Ok(SpinWit {
        sdk_version: version,
        wit_dir,
        declared,
        platform,
    })
}

fn world_interfaces<'a>(
    resolve: &wit_parser::Resolve,
    items: impl IntoIterator<Item = (&'a wit_parser::WorldKey, &'a wit_parser::WorldItem)>,
) -> BTreeSet<String> {
    items
        .into_iter()
        .filter_map(|(_, item)| match item {
            wit_parser::WorldItem::Interface { id, .. } => resolve.id_of(*id),
            _ => None,
        })
        .collect()
}

/// `ns:pkg/iface@1.2.3` → (`ns:pkg/iface`, version).
pub fn split_version(id: &str) -> (&str, Option<&str>) {
    match id.split_once('@') {
        Some((name, version)) => (name, Some(version)),
        None => (id, None),
    }
}

/// Whether a host providing `provided` satisfies an import of `wanted`: the same interface, and
/// the same version or, for WASI 0.2.x, a provided patch at least as new (Wasmtime links
/// semver-compatible 0.2 imports to the host's newest 0.2 implementation).
pub fn satisfies(provided: &BTreeSet<String>, wanted: &str) -> bool {
    if provided.contains(wanted) {
        return true;
    }
    let (name, Some(version)) = split_version(wanted) else {
        return false;
    };
    let Some(patch) = version
        .strip_prefix("0.2.")
        .and_then(|p| p.parse::<u32>().ok())
    else {
        return false;
    };
    provided.iter().any(|p| {
        let (pname, pversion) = split_version(p);
        pname == name
            && pversion
                .and_then(|v| v.strip_prefix("0.2."))
                .and_then(|v| v.parse::<u32>().ok())
                .is_some_and(|ppatch| ppatch >= patch)
    })
}

// ---- wasm -----------------------------------------------------------------------------------

/// What a core wasm module (the `cargo build` artifact, before Spin componentizes it) imports
/// and exports.
#[derive(Debug, Default)]
pub struct ModuleInfo {
    /// Import module → function names.
    pub imports: BTreeMap<String, BTreeSet<String>>,
    pub exports: BTreeSet<String>,
}

pub fn module_info(wasm: &[u8]) -> Result<ModuleInfo, String> {
    let mut info = ModuleInfo::default();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload.map_err(|e| e.to_string())? {
            wasmparser::Payload::Version { encoding, .. }
                if encoding != wasmparser::Encoding::Module =>
            {
                return Err("not a core wasm module".into());
            }
            wasmparser::Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import.map_err(|e| e.to_string())?;
                    info.imports
                        .entry(import.module.to_owned())
                        .or_default()
                        .insert(import.name.to_owned());
                }
            }
            wasmparser::Payload::ExportSection(reader) => {
                for export in reader {
                    info.exports
                        .insert(export.map_err(|e| e.to_string())?.name.to_owned());
                }
            }
            _ => {}
        }
    }
    Ok(info)
}

/// The interfaces a core module's import module names stand for: wit-bindgen names import
/// modules after the interface (`fermyon:spin/sqlite@2.0.0`), with an `[export]` prefix for the
/// resource intrinsics of exported interfaces. `wasi_snapshot_preview1` is not an interface:
/// Spin adapts it to WASI 0.2 when it loads the module.
pub fn imported_interfaces(info: &ModuleInfo) -> BTreeSet<String> {
    info.imports
        .keys()
        .filter(|m| m.as_str() != "wasi_snapshot_preview1")
        .map(|m| m.strip_prefix("[export]").unwrap_or(m).to_owned())
        .collect()
}

/// The interfaces exported by the world in the module's `component-type` custom sections
/// (what wit-bindgen and the `#[http_component]` macro declared).
pub fn declared_exports(wasm: &[u8]) -> Result<BTreeSet<String>, String> {
    let (_, bindgen) =
        wit_component::metadata::decode(wasm).map_err(|e| format!("component-type: {e:#}"))?;
    let world = &bindgen.resolve.worlds[bindgen.world];
    Ok(world_interfaces(&bindgen.resolve, &world.exports))
}

/// Componentizes the module as Spin does at load time (WASI preview1 reactor adapter) and
/// returns the resulting component's imported and exported interfaces.
pub fn componentize(wasm: &[u8]) -> Result<(BTreeSet<String>, BTreeSet<String>, usize), String> {
    use wasi_preview1_component_adapter_provider::{
        WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
    };
    let component = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(wasm)
        .and_then(|e| {
            e.adapter(
                WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
                WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
            )
        })
        .and_then(|mut e| e.encode())
        .map_err(|e| format!("componentize: {e:#}"))?;
    match wit_component::decode(&component).map_err(|e| format!("decode component: {e:#}"))? {
        wit_component::DecodedWasm::Component(resolve, world) => {
            let world = &resolve.worlds[world];
            Ok((
                world_interfaces(&resolve, &world.imports),
                world_interfaces(&resolve, &world.exports),
                component.len(),
            ))
        }
        wit_component::DecodedWasm::WitPackage(..) => Err("decoded a WIT package".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(route: &str, component: &str) -> Trigger {
        Trigger {
            route: route.into(),
            component: component.into(),
        }
    }

    #[test]
    fn spin_precedence_exact_then_longest_prefix() {
        let triggers = vec![
            t("/users/...", "users"),
            t("/users/admin", "admin"),
            t("/...", "shop"),
            t("/search", "configs"),
        ];
        assert_eq!(resolve(&triggers, "/users").unwrap(), "users");
        assert_eq!(resolve(&triggers, "/users/1").unwrap(), "users");
        assert_eq!(resolve(&triggers, "/users/admin").unwrap(), "admin");
        assert_eq!(resolve(&triggers, "/usersx").unwrap(), "shop");
        assert_eq!(resolve(&triggers, "/").unwrap(), "shop");
        assert_eq!(resolve(&triggers, "/search").unwrap(), "configs");
        assert_eq!(resolve(&triggers, "/search/x").unwrap(), "shop");
    }

    #[test]
    fn ties_and_gaps_are_errors() {
        let triggers = vec![t("/cats/...", "cats"), t("/cats/...", "ops")];
        assert!(resolve(&triggers, "/cats/1").is_err());
        assert_eq!(duplicate_routes(&triggers).len(), 1);
        assert!(resolve(&[t("/cats", "cats")], "/dogs").is_err());
        assert!(Route::parse("/cats/:id").is_err());
        assert!(Route::parse("cats").is_err());
    }

    #[test]
    fn api_md_routes_are_extracted() {
        let md = "Routes `/cats`, `/cats/{id}`; `GET /hello`, `PUT /<resource>/{id}`, \
                  `GET /search?metadata.x=1&y=2` and `data/file.json` and `?start=N`.";
        let routes: Vec<_> = api_routes(md).into_iter().collect();
        assert_eq!(routes, vec!["/cats", "/cats/{id}", "/hello", "/search"]);
        assert_eq!(sample_path("/configs/{dcname}"), "/configs/datacenter-1");
        assert_eq!(expected_component("/search"), "configs");
        assert_eq!(expected_component("/search/x"), "ops");
        assert_eq!(expected_component("/getpassenger/1"), "passengers");
        assert_eq!(expected_component("/cats/"), "cats");
        assert_eq!(expected_component("/docs"), "docs");
        assert_eq!(expected_component("/docs/a/b.js"), "docs");
        assert_eq!(expected_component("/docsx"), "ops");
    }

    #[test]
    fn wasi_patch_versions_are_compatible_upwards() {
        let provided: BTreeSet<String> = ["wasi:io/streams@0.2.6".to_string()].into();
        assert!(satisfies(&provided, "wasi:io/streams@0.2.0"));
        assert!(!satisfies(&provided, "wasi:io/streams@0.2.7"));
        assert!(!satisfies(&provided, "wasi:io/poll@0.2.0"));
        assert!(!satisfies(&provided, "spin:postgres/postgres@4.0.0"));
    }
}
