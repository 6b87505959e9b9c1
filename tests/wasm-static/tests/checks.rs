//! Static checks of the Spin application (issue 3). Run after `make components`:
//!
//!     cargo test -p spincrud-wasm-checks -- --nocapture
//!
//! (`--nocapture` prints each component's size and imports.)

use std::collections::BTreeSet;
use std::path::PathBuf;

use spincrud_wasm_checks::*;

/// The seven components and the grants their routes need.
const COMPONENTS: [&str; 7] = [
    "cats",
    "passengers",
    "configs",
    "data",
    "users",
    "ops",
    "docs",
];
/// The six that serve the API (through spincrud-spin) and read its variables; `docs` serves
/// static files only and gets no variable, store or network.
const API_COMPONENTS: [&str; 6] = ["cats", "passengers", "configs", "data", "users", "ops"];
const SQL_COMPONENTS: [&str; 5] = ["cats", "passengers", "configs", "users", "ops"];
const KV_COMPONENTS: [&str; 2] = ["data", "ops"];
/// What every component reads with `spin_sdk::variables::get`.
const COMPONENT_VARIABLES: [&str; 5] = ["database_url", "api_tokens", "auth_reads", "body_limit", "cors_origins"];
const MAX_BYTES: u64 = 1024 * 1024;

/// The contract's routes, which docs/api.md (read as well) must keep listing.
const KNOWN_ROUTES: &[&str] = &[
    "/cats",
    "/cats/{id}",
    "/passengers",
    "/passengers/{id}",
    "/passengerlist",
    "/getpassenger/{id}",
    "/postpassenger",
    "/putpassenger/{id}",
    "/deletepassenger/{id}",
    "/configs",
    "/configs/{dcname}",
    "/search",
    "/data",
    "/data/{id}",
    "/users",
    "/users/{id}",
    "/healthz",
    "/readyz",
    "/hello",
    "/openapi.json",
    "/metrics",
];

/// Paths api.md does not list that must still reach the component the contract implies.
const PROBES: &[&str] = &[
    "/",
    "/cats/",
    "/catsx",
    "/cats/1/extra",
    "/favicon.ico",
    "/search/x",
    "/passengerlistx",
    "/healthz/x",
    "/data/",
    "/unknown/route",
    "/docs",
    "/docs/",
    "/docs/index.html",
    "/docs/a/b.js",
    "/docsx",
];

/// The API explorer page's static site: spin.toml mounts it into the `docs` component; built by
/// scripts/build-docs-ui.sh (part of make components).
const DOCS_SITE: &str = "target/docs-ui";

fn manifest() -> Manifest {
    let path = repo_root().join("spin.toml");
    let text = std::fs::read_to_string(&path).expect("read spin.toml");
    Manifest::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn wasm_path(source: &str) -> PathBuf {
    repo_root().join(source)
}

/// Every component's artifact, or a failure that says how to build them.
fn built_components() -> Vec<(String, PathBuf, Vec<u8>)> {
    let manifest = manifest();
    let mut missing = Vec::new();
    let mut found = Vec::new();
    for (id, component) in &manifest.components {
        let path = wasm_path(&component.source);
        match std::fs::read(&path) {
            Ok(bytes) => found.push((id.clone(), path, bytes)),
            Err(_) => missing.push(path.display().to_string()),
        }
    }
    assert!(
        missing.is_empty(),
        "run make components first (scripts/build-components.sh): missing {}",
        missing.join(", ")
    );
    found
}

#[test]
fn manifest_declares_components_grants_and_variables() {
    let m = manifest();

    for name in [
        "database_url",
        "api_tokens",
        "auth_reads",
        "body_limit",
        "cors_origins",
        "database_host",
    ] {
        assert!(m.variables.contains_key(name), "[variables] lacks `{name}`");
    }
    for name in ["api_tokens", "database_url"] {
        assert_eq!(
            m.variables[name]
                .get("secret")
                .and_then(toml::Value::as_bool),
            Some(true),
            "variable `{name}` must be secret"
        );
    }
    for (name, def) in &m.variables {
        assert!(
            def.contains_key("default")
                || def.get("required").and_then(toml::Value::as_bool) == Some(true),
            "variable `{name}` needs a default or required = true"
        );
    }

    let ids: BTreeSet<&str> = m.components.keys().map(String::as_str).collect();
    assert_eq!(
        ids,
        COMPONENTS.into_iter().collect(),
        "the seven components"
    );

    for (id, c) in &m.components {
        assert_eq!(
            c.source,
            format!("target/wasm32-wasip1/release/spincrud_{id}.wasm"),
            "component `{id}`: source"
        );
        if API_COMPONENTS.contains(&id.as_str()) {
            for var in COMPONENT_VARIABLES {
                assert_eq!(
                    c.variables.get(var).map(String::as_str),
                    Some(format!("{{{{ {var} }}}}").as_str()),
                    "component `{id}` must expose variable `{var}` as \"{{{{ {var} }}}}\""
                );
            }
        } else {
            assert!(c.variables.is_empty(), "component `{id}` reads no variable");
        }
        let wants_files = id == "docs";
        assert_eq!(
            c.files,
            if wants_files {
                vec![(DOCS_SITE.to_string(), "/".to_string())]
            } else {
                vec![]
            },
            "component `{id}`: files"
        );
        let wants_sql = SQL_COMPONENTS.contains(&id.as_str());
        let wants_kv = KV_COMPONENTS.contains(&id.as_str());
        assert_eq!(
            c.sqlite_databases,
            if wants_sql {
                vec!["default".to_string()]
            } else {
                vec![]
            },
            "component `{id}`: sqlite_databases"
        );
        assert_eq!(
            c.key_value_stores,
            if wants_kv {
                vec!["default".to_string()]
            } else {
                vec![]
            },
            "component `{id}`: key_value_stores"
        );
        if wants_sql {
            assert_eq!(
                c.allowed_outbound_hosts,
                vec!["postgres://{{ database_host }}".to_string()],
                "component `{id}`: PostgreSQL is reached only at the configured host"
            );
        } else {
            assert!(
                c.allowed_outbound_hosts.is_empty(),
                "component `{id}` needs no network"
            );
        }
        for host in &c.allowed_outbound_hosts {
            assert!(
                !host.contains('*'),
                "component `{id}`: no wildcard in allowed_outbound_hosts ({host})"
            );
        }
        let command = c.build_command.as_deref().unwrap_or_default();
        assert_eq!(
            command,
            format!("bash scripts/build-components.sh {id}"),
            "component `{id}`: [component.{id}.build] command"
        );
        assert!(!c.build_watch.is_empty(), "component `{id}`: build.watch");
    }

    let triggered: BTreeSet<&str> = m.triggers.iter().map(|t| t.component.as_str()).collect();
    assert_eq!(
        triggered, ids,
        "every component has a route and every route a component"
    );
}

#[test]
fn routes_are_unique_and_claim_every_api_route_once() {
    let m = manifest();
    for t in &m.triggers {
        Route::parse(&t.route).unwrap_or_else(|e| panic!("{e}"));
    }
    let duplicates = duplicate_routes(&m.triggers);
    assert!(duplicates.is_empty(), "duplicate routes: {duplicates:?}");

    let mut routes: BTreeSet<String> = KNOWN_ROUTES.iter().map(|r| r.to_string()).collect();
    // The project's API reference lists every route; the ones known here must stay in it.
    let api_md = repo_root().join("docs/api.md");
    let text = std::fs::read_to_string(&api_md).unwrap_or_else(|e| panic!("{}: {e}", api_md.display()));
    let from_api = api_routes(&text);
    for known in KNOWN_ROUTES {
        assert!(from_api.contains(*known), "docs/api.md no longer lists `{known}`");
    }
    routes.extend(from_api);

    let mut failures = Vec::new();
    for template in routes
        .iter()
        .map(String::as_str)
        .chain(PROBES.iter().copied())
    {
        let path = sample_path(template);
        match resolve(&m.triggers, &path) {
            Ok(component) if component == expected_component(&path) => {
                println!("{template:<24} -> {component}");
            }
            Ok(component) => failures.push(format!(
                "`{path}` goes to `{component}`, expected `{}`",
                expected_component(&path)
            )),
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_source_exists_and_fits_in_one_mib() {
    for (id, path, bytes) in built_components() {
        let size = bytes.len() as u64;
        println!(
            "{id:<11} {size:>8} bytes ({:>4} KiB)  {}",
            size.div_ceil(1024),
            path.display()
        );
        assert!(
            size <= MAX_BYTES,
            "component `{id}` is {size} bytes, over 1 MiB"
        );
    }
}

#[test]
fn imports_are_interfaces_of_spin_sdk_wit() {
    let wit = spin_sdk_wit().unwrap_or_else(|e| panic!("{e}"));
    println!(
        "spin-sdk {} WIT at {}: {} interfaces declared, {} in world `platform`",
        wit.sdk_version,
        wit.wit_dir.display(),
        wit.declared.len(),
        wit.platform.len()
    );
    for (id, _, bytes) in built_components() {
        let info = module_info(&bytes).unwrap_or_else(|e| panic!("{id}: {e}"));
        let interfaces = imported_interfaces(&info);
        for module in info.imports.keys() {
            let interface = module.strip_prefix("[export]").unwrap_or(module);
            assert!(
                module == "wasi_snapshot_preview1" || interface.contains(':'),
                "component `{id}` imports module `{module}`, which is neither WASI preview1 nor a WIT interface"
            );
        }
        for interface in &interfaces {
            assert!(
                wit.declared.contains(interface),
                "component `{id}` imports `{interface}`, not declared in spin-sdk {}'s WIT",
                wit.sdk_version
            );
            assert!(
                wit.platform.contains(interface),
                "component `{id}` imports `{interface}`, not part of spin-sdk {}'s `platform` world (what Spin provides)",
                wit.sdk_version
            );
        }
        let preview1 = info
            .imports
            .get("wasi_snapshot_preview1")
            .map(|names| names.iter().cloned().collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        println!(
            "{id}: imports {}",
            interfaces.iter().cloned().collect::<Vec<_>>().join(", ")
        );
        println!("{id}: wasi_snapshot_preview1 (adapted by Spin): {preview1}");
    }
}

#[test]
fn exports_wasi_http_incoming_handler() {
    for (id, _, bytes) in built_components() {
        let info = module_info(&bytes).unwrap_or_else(|e| panic!("{id}: {e}"));
        let handle = info
            .exports
            .iter()
            .find(|e| e.starts_with("wasi:http/incoming-handler@0.2.") && e.ends_with("#handle"));
        assert!(
            handle.is_some(),
            "component `{id}` exports no wasi:http/incoming-handler@0.2.x#handle function"
        );

        let declared = declared_exports(&bytes).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert!(
            declared.iter().any(|e| e.starts_with("wasi:http/incoming-handler@0.2.")),
            "component `{id}`: its component-type metadata exports {declared:?}, not wasi:http/incoming-handler@0.2.x"
        );
        println!(
            "{id}: exports {} (declared: {})",
            handle.unwrap(),
            declared.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
}

#[test]
fn componentizes_as_spin_does_into_a_platform_component() {
    let wit = spin_sdk_wit().unwrap_or_else(|e| panic!("{e}"));
    for (id, _, bytes) in built_components() {
        let (imports, exports, size) = componentize(&bytes).unwrap_or_else(|e| panic!("{id}: {e}"));
        let unsatisfied: Vec<_> = imports
            .iter()
            .filter(|i| !satisfies(&wit.platform, i))
            .collect();
        assert!(
            unsatisfied.is_empty(),
            "component `{id}`, componentized, imports {unsatisfied:?}, which spin-sdk {}'s platform world does not provide",
            wit.sdk_version
        );
        assert!(
            exports
                .iter()
                .any(|e| e.starts_with("wasi:http/incoming-handler@0.2.")),
            "component `{id}`, componentized, exports {exports:?}"
        );
        println!(
            "{id}: component of {size} bytes imports {}; exports {}",
            imports.iter().cloned().collect::<Vec<_>>().join(", "),
            exports.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
}

#[test]
fn docs_site_is_local_and_not_compiled_in() {
    let site = repo_root().join(DOCS_SITE);
    let index = std::fs::read_to_string(site.join("index.html")).unwrap_or_else(|_| {
        panic!(
            "run make components first (scripts/build-docs-ui.sh): missing {DOCS_SITE}/index.html"
        )
    });
    // Every asset the page names is a file of the site, served under /docs/: no CDN.
    let mut assets = 0;
    for attr in ["src=\"", "href=\""] {
        for rest in index.split(attr).skip(1) {
            let url = rest.split('"').next().unwrap_or_default();
            let name = url.strip_prefix("/docs/").unwrap_or_else(|| {
                panic!("{DOCS_SITE}/index.html loads {url}, which is not under /docs/")
            });
            assert!(
                site.join(name).is_file(),
                "{DOCS_SITE}/index.html loads {url}, which the site lacks"
            );
            assets += 1;
        }
    }
    assert!(
        assets >= 3,
        "{DOCS_SITE}/index.html names only {assets} assets"
    );
    let bundle = std::fs::metadata(site.join("swagger-ui-bundle.js")).map_or(0, |m| m.len());
    println!("{DOCS_SITE}: {assets} assets in index.html; swagger-ui-bundle.js {bundle} bytes");

    // The component reads the site through its mount: none of it is in the .wasm.
    let (_, _, wasm) = built_components()
        .into_iter()
        .find(|(id, _, _)| id == "docs")
        .expect("the docs component");
    for marker in [&b"SwaggerUIBundle"[..], b"swagger-ui"] {
        assert!(
            !wasm.windows(marker.len()).any(|w| w == marker),
            "spincrud_docs.wasm contains `{}`: the site must be read from the mount, not compiled in",
            String::from_utf8_lossy(marker)
        );
    }
}
