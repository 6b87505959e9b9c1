//! Starting the real Spin CLI (`spin up`) on the workspace's spin.toml, as users run it.
//!
//! Spin is told what host-runner is told, in Spin's own terms: settings become
//! `SPIN_VARIABLE_*`, Redis a runtime config file, the embedded SQLite schema `--sqlite @file`
//! (Spin runs them at every start), PostgreSQL's schema the project's own migrator
//! (`host-runner migrate`), as the README tells users to do.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::server::{host_runner_binary, Options};

/// `$SPIN_BIN`, else `spin` on `PATH`; `None` when neither is there.
pub fn spin_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SPIN_BIN").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|dir| dir.join("spin")).find(|p| p.is_file()))
}

#[track_caller]
fn required_spin_binary() -> PathBuf {
    let path = spin_binary().expect("no Spin CLI: set SPIN_BIN or put `spin` on PATH");
    if !path.is_file() {
        panic!("SPIN_BIN={} is not a file", path.display());
    }
    path
}

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root")
}

/// Environment variables Spin reads that the harness sets or clears for every server.
const CONTROLLED_ENV: [&str; 7] = [
    "SPIN_HTTP_LISTEN_ADDR",
    "RUNTIME_CONFIG_FILE",
    "SPIN_LOG_DIR",
    "SPIN_ALWAYS_BUILD",
    "SPIN_MAX_INSTANCE_MEMORY",
    "SPIN_TLS_CERT",
    "SPIN_TLS_KEY",
];

/// Where Spin keeps a server's state (the embedded stores) and the components' stdio logs.
pub fn state_dir(dir: &Path) -> PathBuf {
    dir.join("state")
}

/// The `spin up` command for `o`, run in `dir` (which holds its state, logs and runtime config).
/// spincrud's schema is applied first (to PostgreSQL, or with `--sqlite` to the SQLite database),
/// unless `o.env` says `SKIP_MIGRATIONS=true` (as host-runner would read it); the app of another
/// manifest (`o.spin_manifest`) gets it only with `SKIP_MIGRATIONS=false`.
pub fn command(o: &Options, dir: &Path, port: u16) -> Command {
    let spin = required_spin_binary();
    let mut cmd = Command::new(&spin);
    let manifest = o.spin_manifest.clone().unwrap_or_else(|| workspace().join("spin.toml"));
    cmd.arg("up")
        .arg("--from")
        .arg(&manifest)
        .arg("--state-dir")
        .arg(state_dir(dir))
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if o.port.is_none() {
        // The port was free a moment ago; Spin takes the next one if it is not any more.
        cmd.arg("--find-free-port");
    }
    for var in CONTROLLED_ENV.iter().chain(&super::server::CONTROLLED_OTEL_ENV) {
        cmd.env_remove(var);
    }
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SPIN_VARIABLE_") {
            cmd.env_remove(name);
        }
    }
    if let Some(tokens) = &o.api_tokens {
        cmd.env("SPIN_VARIABLE_API_TOKENS", tokens);
    }
    cmd.env("SPIN_VARIABLE_AUTH_READS", if o.auth_reads { "true" } else { "false" });
    if let Some(limit) = o.body_limit {
        cmd.env("SPIN_VARIABLE_BODY_LIMIT", limit.to_string());
    }
    if let Some(origins) = &o.cors_origins {
        cmd.env("SPIN_VARIABLE_CORS_ORIGINS", origins);
    }
    // Another app's manifest gets spincrud's schema only when asked (`SKIP_MIGRATIONS=false`).
    let skip_setting = o.env.iter().find(|(k, _)| k == "SKIP_MIGRATIONS").map(|(_, v)| v == "true");
    let skip_migrations = skip_setting.unwrap_or(o.spin_manifest.is_some());
    match &o.database_url {
        Some(url) => {
            if !skip_migrations {
                migrate_postgres(url, dir);
            }
            cmd.env("SPIN_VARIABLE_DATABASE_URL", url).env("SPIN_VARIABLE_DATABASE_HOST", host_and_port(url));
        }
        None if skip_migrations => {}
        None => {
            for file in sqlite_migrations() {
                cmd.arg("--sqlite").arg(format!("@{}", file.display()));
            }
        }
    }
    if let Some(url) = &o.redis_url {
        let config = dir.join("runtime-config.toml");
        std::fs::write(&config, format!("[key_value_store.default]\ntype = \"redis\"\nurl = \"{url}\"\n"))
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", config.display()));
        cmd.arg("--runtime-config-file").arg(config);
    }
    for (name, value) in &o.env {
        if name != "SKIP_MIGRATIONS" {
            cmd.env(name, value);
        }
    }
    cmd
}

/// `migrations/sqlite/*.sql`, in order.
fn sqlite_migrations() -> Vec<PathBuf> {
    let dir = workspace().join("migrations/sqlite");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    files
}

/// Applies `migrations/postgres` with `host-runner migrate`, the project's own migrator.
fn migrate_postgres(url: &str, dir: &Path) {
    let out = Command::new(host_runner_binary())
        .arg("migrate")
        .current_dir(workspace())
        .env("DATABASE_URL", url)
        .env("DATA_DIR", dir.join("migrate"))
        .env_remove("REDIS_URL")
        .output()
        .unwrap_or_else(|e| panic!("cannot run host-runner migrate: {e}"));
    if !out.status.success() {
        panic!(
            "host-runner migrate failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `host:port` of a `postgres://user@host:port/db?…` URL: what `database_host` must say.
fn host_and_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    authority.rsplit_once('@').map_or(authority, |(_, h)| h).to_string()
}

/// The process that serves: `spin up` runs the HTTP trigger as a child process of its own
/// (`spin trigger http`), whose memory is the server's. `None` until it has started.
pub fn trigger_pid(spin_up: u32) -> Option<u32> {
    let children = std::fs::read_to_string(format!("/proc/{spin_up}/task/{spin_up}/children")).ok()?;
    children.split_whitespace().next()?.parse().ok()
}

/// The address in Spin's `Serving http://127.0.0.1:PORT` line.
pub fn serving_addr(line: &str) -> Option<Result<std::net::SocketAddr, String>> {
    let rest = line.trim().strip_prefix("Serving http://")?;
    Some(rest.trim_end_matches('/').parse().map_err(|_| line.to_string()))
}

/// Everything the components wrote to stdout and stderr (Spin keeps one file per component and
/// stream under the state directory's `logs/`).
pub fn component_logs(dir: &Path) -> String {
    let logs = state_dir(dir).join("logs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&logs).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    files.sort();
    let mut text = String::new();
    for file in files {
        if let Ok(content) = std::fs::read_to_string(&file) {
            for line in content.lines() {
                let name = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                text.push_str(&format!("[{name}] {line}\n"));
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_host_is_the_urls_host_and_port() {
        assert_eq!(host_and_port("postgres://postgres@127.0.0.1:5433/db"), "127.0.0.1:5433");
        assert_eq!(host_and_port("postgres://u:p@db.example.com:5432/x?sslmode=disable"), "db.example.com:5432");
        assert_eq!(host_and_port("postgres://127.0.0.1:1/db"), "127.0.0.1:1");
    }

    #[test]
    fn parses_the_serving_line() {
        assert_eq!(serving_addr("Serving http://127.0.0.1:3005"), Some(Ok("127.0.0.1:3005".parse().unwrap())));
        assert_eq!(serving_addr("Available Routes:"), None);
        assert!(matches!(serving_addr("Serving http://nowhere"), Some(Err(_))));
    }
}
