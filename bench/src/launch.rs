//! Starting what serves the API in a run: host-runner (`native`, `wasm`), or the Spin CLI
//! (`spin`: `spin up` on spin.toml, as the end-to-end suite starts it), on embedded stores or on
//! the PostgreSQL and Redis that the run passes as `DATABASE_URL` and `REDIS_URL`.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use spincrud_tests::harness::{server, spin, Engine};

use super::{die, workspace, Conn};

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// `spin up` serves from a child process (the HTTP trigger), whose memory is measured.
    is_spin: bool,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("cannot bind 127.0.0.1:0")
}

/// Starts `engine` (on embedded stores unless `env` names store URLs, with more environment
/// variables such as limits) and returns once it answers `GET /healthz`, with the time that took.
pub async fn start_with(engine: &str, data_dir: &Path, binary: Option<&Path>, env: &[(&str, String)]) -> (Server, Duration) {
    std::fs::create_dir_all(data_dir).expect("cannot create the data directory");
    let log = std::fs::OpenOptions::new().create(true).append(true).open(data_dir.join("server.log")).expect("cannot open the server log");
    let port = free_port();
    let mut cmd = match engine {
        "spin" => spin_command(data_dir, port, env),
        _ => host_runner_command(engine, data_dir, binary, port, env),
    };
    // A group of its own, which `stop` ends whole (`spin up` has a child).
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let started = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| die(&format!("cannot start {engine}: {e}")));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut server = Server { child, addr, is_spin: engine == "spin" };
    let deadline = started + Duration::from_secs(600);
    loop {
        if let Ok(mut conn) = Conn::connect(addr).await {
            if let Ok((200, _)) = conn.send("GET", "/healthz", None).await {
                return (server, started.elapsed());
            }
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            die(&format!("{engine} exited at start ({status}); see {}", data_dir.join("server.log").display()));
        }
        if Instant::now() > deadline {
            let _ = server.child.kill();
            die(&format!("{engine} did not answer within 10 minutes"));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The host-runner binary the run measures: `--binary`, else the release build.
pub fn host_runner_binary(binary: Option<&Path>) -> std::path::PathBuf {
    binary.map_or_else(|| workspace().join("target/release/host-runner"), Path::to_path_buf)
}

fn host_runner_command(engine: &str, data_dir: &Path, binary: Option<&Path>, port: u16, env: &[(&str, String)]) -> Command {
    let root = workspace();
    let binary = host_runner_binary(binary);
    if !binary.is_file() {
        die(&format!("{} is missing (drop --no-build)", binary.display()));
    }
    let mut cmd = Command::new(&binary);
    cmd.arg("serve")
        .current_dir(&root)
        .env("ENGINE", engine)
        .env("LISTEN", format!("127.0.0.1:{port}"))
        .env("DATA_DIR", data_dir)
        .env("WASM_CACHE_DIR", root.join("target/wasm-cache"))
        .env("SPIN_MANIFEST", root.join("spin.toml"))
        .env("SHUTDOWN_TIMEOUT", "2")
        // Nothing in front of it to drain for: SIGTERM stops it at once.
        .env("DRAIN_PERIOD", "0s")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env_remove("API_TOKENS")
        .env_remove("AUTH_READS")
        .env_remove("BODY_LIMIT")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    cmd
}

/// `spin up` with what host-runner would be told in `env`, said as Spin hears it (variables, a
/// runtime config for Redis, the schema applied), its state kept in `data_dir`.
fn spin_command(data_dir: &Path, port: u16, env: &[(&str, String)]) -> Command {
    if spin::spin_binary().is_none() {
        die("the spin engine needs a Spin CLI: set SPIN_BIN or put spin on PATH");
    }
    let mut o = server::Options { name: "bench", engine: Engine::Spin, ..Default::default() };
    for (name, value) in env {
        match *name {
            "DATABASE_URL" => o.database_url = Some(value.clone()),
            "REDIS_URL" => o.redis_url = Some(value.clone()),
            "BODY_LIMIT" => o.body_limit = Some(value.parse().unwrap_or_else(|_| die("BODY_LIMIT must be a number"))),
            "SPIN_MANIFEST" => o.spin_manifest = Some(value.into()),
            _ => o.env.push((name.to_string(), value.clone())),
        }
    }
    spin::command(&o, data_dir, port)
}

impl Server {
    /// The process that serves (whose memory is measured).
    pub fn pid(&self) -> u32 {
        match self.is_spin {
            true => spin::trigger_pid(self.child.id()).unwrap_or(self.child.id()),
            false => self.child.id(),
        }
    }

    /// SIGTERM (graceful) to the server's process group, then SIGKILL if it lingers.
    pub fn stop(mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

/// Resident set size of a process, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
