//! Starting `host-runner serve` and talking to it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::http::Request;
use super::logs::{self, LogTail};
use super::{spin, supervisor, tempdir, Engine};

const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Environment variables the harness sets (or clears) for every server.
const CONTROLLED_ENV: [&str; 10] = [
    "CORS_ORIGINS",
    "LISTEN",
    "DATA_DIR",
    "ENGINE",
    "API_TOKENS",
    "AUTH_READS",
    "BODY_LIMIT",
    "DATABASE_URL",
    "REDIS_URL",
    "RUST_LOG",
];

/// OpenTelemetry's variables: no server exports traces unless its `env` says so.
pub(super) const CONTROLLED_OTEL_ENV: [&str; 13] = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_TRACES_EXPORTER",
    "OTEL_SDK_DISABLED",
    "OTEL_BSP_SCHEDULE_DELAY",
];

#[derive(Clone, Debug)]
pub struct Options {
    pub name: &'static str,
    pub engine: Engine,
    pub api_tokens: Option<String>,
    pub auth_reads: bool,
    pub body_limit: Option<usize>,
    /// `CORS_ORIGINS` (Spin: `cors_origins`).
    pub cors_origins: Option<String>,
    pub database_url: Option<String>,
    pub redis_url: Option<String>,
    /// More environment variables (deadlines, limits) for this server only.
    pub env: Vec<(String, String)>,
    /// Spin: another application than the workspace's spin.toml (the benchmark's floors); it
    /// gets none of spincrud's migrations.
    pub spin_manifest: Option<PathBuf>,
    /// Listen on this loopback port (a replica restarted where its proxy expects it); `None`: a
    /// free one.
    pub port: Option<u16>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            name: "server",
            engine: Engine::Native,
            api_tokens: None,
            auth_reads: false,
            body_limit: None,
            cors_origins: None,
            database_url: None,
            redis_url: None,
            env: Vec::new(),
            spin_manifest: None,
            port: None,
        }
    }
}

pub struct Server {
    pub name: &'static str,
    pub addr: SocketAddr,
    logs: Arc<LogTail>,
    /// Spin: the server's directory, whose state holds the components' stdio logs.
    component_logs: Option<PathBuf>,
    child: Mutex<Child>,
}

/// `host-runner serve` for `o`, with its data directory in `dir`.
fn host_runner_command(o: &Options, dir: &Path) -> Command {
    let binary = host_runner_binary();
    let data_dir = dir.join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    let mut cmd = Command::new(&binary);
    cmd.arg("serve")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in CONTROLLED_ENV.iter().chain(&CONTROLLED_OTEL_ENV) {
        cmd.env_remove(var);
    }
    cmd.env("LISTEN", format!("127.0.0.1:{}", o.port.unwrap_or(0)))
        .env("DATA_DIR", &data_dir)
        .env("ENGINE", o.engine.env_value());
    if let Some(t) = &o.api_tokens {
        cmd.env("API_TOKENS", t);
    }
    if o.auth_reads {
        cmd.env("AUTH_READS", "true");
    }
    if let Some(limit) = o.body_limit {
        cmd.env("BODY_LIMIT", limit.to_string());
    }
    if let Some(origins) = &o.cors_origins {
        cmd.env("CORS_ORIGINS", origins);
    }
    if let Some(url) = &o.database_url {
        cmd.env("DATABASE_URL", url);
    }
    if let Some(url) = &o.redis_url {
        cmd.env("REDIS_URL", url);
    }
    for (name, value) in &o.env {
        cmd.env(name, value);
    }
    if let Some(level) = std::env::var_os("SPINCRUD_TEST_RUST_LOG") {
        cmd.env("RUST_LOG", level);
    }
    cmd
}

/// `$SPINCRUD_HOST_RUNNER`, else `<workspace>/target/debug/host-runner`.
pub fn host_runner_binary() -> PathBuf {
    let path = match std::env::var_os("SPINCRUD_HOST_RUNNER") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace root")
            .join("target/debug/host-runner"),
    };
    if !path.is_file() {
        panic!(
            "host-runner binary not found at {}: build it first: cargo build -p host-runner",
            path.display()
        );
    }
    path
}

impl Server {
    /// Starts the server `o` describes (`host-runner serve`, or `spin up` for [`Engine::Spin`])
    /// and waits until it says where it listens.
    pub fn start(o: Options) -> Server {
        let dir = tempdir::fresh(o.name);
        let (cmd, program) = match o.engine {
            Engine::Spin => (spin::command(&o, &dir, o.port.unwrap_or_else(super::free_port)), "spin up".to_string()),
            Engine::Native | Engine::Wasm => (host_runner_command(&o, &dir), format!("{} serve", host_runner_binary().display())),
        };
        let component_logs = (o.engine == Engine::Spin).then(|| dir.clone());

        let spawned = match o.engine {
            Engine::Spin => supervisor::spawn_long_lived_group(cmd),
            Engine::Native | Engine::Wasm => supervisor::spawn_long_lived(cmd),
        };
        let mut child = spawned.unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        let logs = LogTail::new(&dir.join("server.log"));
        let (tx, rx) = mpsc::channel::<Result<SocketAddr, String>>();
        let stdout_tx = tx.clone();
        let mut announced = false;
        logs::drain(
            child.stdout.take().unwrap(),
            "stdout",
            logs.clone(),
            move |line| {
                if !announced {
                    if let Some(addr) = listening_addr(line).or_else(|| spin::serving_addr(line)) {
                        announced = true;
                        let _ = stdout_tx.send(addr);
                    }
                }
            },
        );
        logs::drain(child.stderr.take().unwrap(), "stderr", logs.clone(), |_| {});
        let waiter_tx = tx;

        let describe = |what: String, logs: &LogTail| {
            format!(
                "{what}\nserver `{}`: {program} (ENGINE={}, DIR={}, DATABASE_URL={}, REDIS_URL={}, API_TOKENS set: {}, AUTH_READS={}, BODY_LIMIT={:?})\noutput ({}):\n{}{}",
                o.name,
                o.engine.env_value(),
                dir.display(),
                o.database_url.as_deref().unwrap_or("-"),
                o.redis_url.as_deref().unwrap_or("-"),
                o.api_tokens.is_some(),
                o.auth_reads,
                o.body_limit,
                logs.path().display(),
                logs.tail(200),
                component_logs.as_deref().map(spin::component_logs).unwrap_or_default()
            )
        };

        let deadline = std::time::Instant::now() + START_TIMEOUT;
        let addr = loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(Ok(addr)) => break addr,
                Ok(Err(bad)) => panic!(
                    "{}",
                    describe(format!("unexpected `listening` line: {bad}"), &logs)
                ),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    unreachable!("sender kept in waiter_tx")
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if let Ok(Some(status)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(200)); // let the drains catch up
                panic!(
                    "{}",
                    describe(
                        format!("the server exited before listening ({status})"),
                        &logs
                    )
                );
            }
            if std::time::Instant::now() > deadline {
                panic!(
                    "{}",
                    describe(
                        format!("no `listening` log line within {START_TIMEOUT:?}"),
                        &logs
                    )
                );
            }
        };
        drop(waiter_tx);
        Server {
            name: o.name,
            addr,
            logs,
            component_logs,
            child: Mutex::new(child),
        }
    }

    pub fn api(&self) -> Api<'_> {
        Api {
            server: self,
            token: None,
        }
    }

    /// The last server log lines, for diagnostics (on Spin, then the components' last lines).
    pub fn log_tail(&self, n: usize) -> String {
        let mut tail = self.logs.tail(n);
        if let Some(dir) = &self.component_logs {
            let components = spin::component_logs(dir);
            let lines: Vec<&str> = components.lines().collect();
            tail.push('\n');
            tail.push_str(&lines[lines.len().saturating_sub(n)..].join("\n"));
        }
        tail
    }

    /// Everything the server printed so far (stdout and stderr; on Spin also what the
    /// components printed, which Spin keeps in files).
    pub fn log_text(&self) -> String {
        let mut text = std::fs::read_to_string(self.logs.path()).unwrap_or_default();
        if let Some(dir) = &self.component_logs {
            text.push_str(&spin::component_logs(dir));
        }
        text
    }

    /// The line with which the server said where it listens (host-runner's `listening` event,
    /// Spin's `Serving http://…`).
    pub fn ready_line(&self) -> &'static str {
        if self.component_logs.is_some() {
            "Serving http://"
        } else {
            "\"listening\""
        }
    }

    /// The id of the process that serves (to read its memory from /proc): on Spin, the HTTP
    /// trigger that `spin up` runs.
    pub fn pid(&self) -> u32 {
        let pid = self.child.lock().unwrap_or_else(|p| p.into_inner()).id();
        match self.component_logs {
            Some(_) => spin::trigger_pid(pid).unwrap_or(pid),
            None => pid,
        }
    }

    /// How the process ended, once it has.
    pub fn exit_status(&self) -> Option<std::process::ExitStatus> {
        self.child.lock().unwrap_or_else(|p| p.into_inner()).try_wait().ok().flatten()
    }

    /// Whether the process is still running.
    pub fn is_running(&self) -> bool {
        matches!(
            self.child
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .try_wait(),
            Ok(None)
        )
    }
}

/// `Some(Ok(addr))` for the `listening` line (tracing-subscriber JSON: `fields.message` and
/// `fields.addr`; a flattened event is accepted too), `Some(Err)` if it is one but has no
/// usable address, `None` for any other line.
fn listening_addr(line: &str) -> Option<Result<SocketAddr, String>> {
    let v: Value = serde_json::from_str(line).ok()?;
    let fields = if v.get("fields").is_some() {
        &v["fields"]
    } else {
        &v
    };
    if fields.get("message").and_then(Value::as_str) != Some("listening") {
        return None;
    }
    let addr = fields
        .get("addr")
        .and_then(Value::as_str)
        .map(|a| a.trim_matches('"'));
    Some(
        addr.and_then(|a| a.parse().ok())
            .ok_or_else(|| line.to_string()),
    )
}

/// A client for one server, optionally with a bearer token on every request.
#[derive(Clone, Copy)]
pub struct Api<'a> {
    server: &'a Server,
    token: Option<&'a str>,
}

impl<'a> Api<'a> {
    /// The same server; every request carries `Authorization: Bearer <token>`.
    pub fn token(self, token: &'a str) -> Api<'a> {
        Api {
            token: Some(token),
            ..self
        }
    }

    pub fn server(&self) -> &'a Server {
        self.server
    }

    pub fn request(&self, method: &str, target: &str) -> Request {
        let req =
            Request::new(self.server.addr, method, target).with_logs(self.server.logs.clone());
        match self.token {
            Some(t) => req.bearer(t),
            None => req,
        }
    }

    pub fn get(&self, target: &str) -> Request {
        self.request("GET", target)
    }
    pub fn head(&self, target: &str) -> Request {
        self.request("HEAD", target)
    }
    pub fn post(&self, target: &str) -> Request {
        self.request("POST", target)
    }
    pub fn put(&self, target: &str) -> Request {
        self.request("PUT", target)
    }
    pub fn patch(&self, target: &str) -> Request {
        self.request("PATCH", target)
    }
    pub fn delete(&self, target: &str) -> Request {
        self.request("DELETE", target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listening_line() {
        let line = r#"{"timestamp":"2026-01-01T00:00:00Z","level":"INFO","fields":{"message":"listening","addr":"127.0.0.1:41234"},"target":"host_runner"}"#;
        assert_eq!(
            listening_addr(line),
            Some(Ok("127.0.0.1:41234".parse().unwrap()))
        );
        assert_eq!(listening_addr(r#"{"fields":{"message":"other"}}"#), None);
        assert_eq!(listening_addr("not json"), None);
        assert!(matches!(
            listening_addr(r#"{"fields":{"message":"listening"}}"#),
            Some(Err(_))
        ));
    }
}
