//! A real nginx (Debian's package) in front of the replicas, with the project's own proxy
//! settings (`nginx/upstream.conf`, `nginx/proxy.conf`, which compose's nginx includes too) and
//! a generated upstream list. Changing the list is what an operator does: rewrite the config and
//! reload (SIGHUP); the old workers finish what they have and exit.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{free_port, supervisor, tempdir};

const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Old workers finish their requests; a request may take a while on a loaded machine.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Nginx {
    pub addr: SocketAddr,
    dir: PathBuf,
    child: Child,
}

/// The workspace's `nginx/` directory.
pub fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").join("nginx")
}

/// `keepalive_timeout` of `nginx/upstream.conf`: how long nginx keeps an idle connection to a
/// replica (a replica must drain for longer).
pub fn upstream_idle_timeout() -> Duration {
    let path = config_dir().join("upstream.conf");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let value = text
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("keepalive_timeout "))
        .unwrap_or_else(|| panic!("no keepalive_timeout in {}", path.display()));
    let seconds = value.trim_end_matches(';').trim().trim_end_matches('s');
    Duration::from_secs(seconds.parse().unwrap_or_else(|_| panic!("keepalive_timeout {value:?} is not whole seconds")))
}

fn binary() -> PathBuf {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("nginx is not installed: make test installs it (scripts/install-deps.sh)"))
}

impl Nginx {
    /// Starts nginx on a free loopback port in front of `upstreams`.
    pub fn start(name: &str, upstreams: &[SocketAddr]) -> Nginx {
        let dir = tempdir::fresh(name);
        fs::create_dir_all(dir.join("temp")).unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        fs::write(dir.join("nginx.conf"), config(&dir, addr, upstreams)).unwrap();
        let mut cmd = Command::new(binary());
        cmd.arg("-p").arg(&dir).arg("-c").arg(dir.join("nginx.conf")).arg("-e").arg(dir.join("error.log"));
        cmd.current_dir(&dir).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        let child = supervisor::spawn_long_lived(cmd).unwrap_or_else(|e| panic!("cannot run nginx: {e}"));
        let mut nginx = Nginx { addr, dir, child };
        let deadline = Instant::now() + START_TIMEOUT;
        while std::net::TcpStream::connect(addr).is_err() {
            if let Ok(Some(status)) = nginx.child.try_wait() {
                panic!("nginx exited ({status}):\n{}", nginx.error_log());
            }
            assert!(Instant::now() < deadline, "nginx did not listen within {START_TIMEOUT:?}:\n{}", nginx.error_log());
            std::thread::sleep(Duration::from_millis(50));
        }
        nginx
    }

    /// Points nginx at `upstreams` (a reload), and returns once the workers that knew the old
    /// list have finished their requests and exited.
    pub fn set_upstreams(&mut self, upstreams: &[SocketAddr]) {
        fs::write(self.dir.join("nginx.conf"), config(&self.dir, self.addr, upstreams)).unwrap();
        let old = self.workers();
        signal(self.child.id(), libc::SIGHUP);
        let deadline = Instant::now() + RELOAD_TIMEOUT;
        loop {
            let now = self.workers();
            if !now.is_empty() && now.iter().all(|w| !old.contains(w)) {
                return;
            }
            assert!(Instant::now() < deadline, "nginx's old workers did not exit within {RELOAD_TIMEOUT:?}:\n{}", self.error_log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The worker processes (the master's children).
    fn workers(&self) -> Vec<u32> {
        super::cluster::children(self.child.id())
    }

    /// Waits until nginx has had `upstream` answer a request that started after `since` (a
    /// replica it left out after a refused connection comes back after `fail_timeout`).
    pub fn wait_served_by(&self, upstream: SocketAddr, since: f64, within: Duration) {
        let upstream = upstream.to_string();
        let deadline = Instant::now() + within;
        while !self.access_log().iter().any(|l| l.started() > since && l.tried.iter().any(|(a, s)| *a == upstream && s.starts_with('2'))) {
            assert!(Instant::now() < deadline, "nginx sent {upstream} nothing within {within:?} of its start:\n{}", self.error_log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The `[error]` lines of the error log: every failure to reach a replica, including the
    /// ones nginx then retried elsewhere.
    pub fn errors(&self) -> Vec<String> {
        let text = fs::read_to_string(self.dir.join("error.log")).unwrap_or_default();
        text.lines().filter(|l| l.contains(" [error] ")).map(String::from).collect()
    }

    pub fn error_log(&self) -> String {
        let text = fs::read_to_string(self.dir.join("error.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    /// Every request nginx logged: see [`Logged`].
    pub fn access_log(&self) -> Vec<Logged> {
        fs::read_to_string(self.dir.join("access.log")).unwrap_or_default().lines().filter_map(Logged::parse).collect()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // A fast shutdown: the master stops its workers (killing the master alone would leave
        // them serving).
        signal(self.child.id(), libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        for pid in self.workers() {
            signal(pid, libc::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) on a process this test started.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

/// One line of the access log: what the client got and which replicas nginx tried.
#[derive(Debug, Clone)]
pub struct Logged {
    /// When the request ended (seconds since the epoch).
    pub ended: f64,
    /// How long it took, in seconds.
    pub seconds: f64,
    pub method: String,
    pub status: u16,
    /// Every replica tried, in order (`127.0.0.1:1234`), and what each answered (`502` when it
    /// failed).
    pub tried: Vec<(String, String)>,
}

impl Logged {
    fn parse(line: &str) -> Option<Logged> {
        let mut f = line.split('\t');
        let ended = f.next()?.parse().ok()?;
        let seconds = f.next()?.parse().ok()?;
        let method = f.next()?.to_string();
        let _uri = f.next()?;
        let status = f.next()?.parse().ok()?;
        let split = |s: &str| s.split([',', ':']).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect::<Vec<_>>();
        // `$upstream_addr` is "a:p, b:q" (": " separates the tries of internal redirects).
        let addrs: Vec<String> = f.next()?.split([',']).flat_map(|s| s.split(" : ")).map(|s| s.trim().to_string()).filter(|s| !s.is_empty() && s != "-").collect();
        let statuses = split(f.next()?);
        let tried = addrs.into_iter().zip(statuses.into_iter().chain(std::iter::repeat(String::from("-")))).collect();
        Some(Logged { ended, seconds, method, status, tried })
    }

    pub fn started(&self) -> f64 {
        self.ended - self.seconds
    }
}

fn config(dir: &Path, addr: SocketAddr, upstreams: &[SocketAddr]) -> String {
    let shared = config_dir();
    let d = dir.display();
    let servers: String = upstreams.iter().map(|a| format!("        server {a} max_fails=1 fail_timeout=2s;\n")).collect();
    // nginx's master runs as the test's user; as root its workers run as nobody, which needs to
    // read nothing of ours (the master opens the logs).
    format!(
        r#"# Generated by the replica tests (tests/src/replicas/nginx.rs).
daemon off;
master_process on;
worker_processes 2;
pid {d}/nginx.pid;
error_log {d}/error.log notice;
events {{
    worker_connections 4096;
}}
http {{
    log_format replicas '$msec\t$request_time\t$request_method\t$request_uri\t$status\t$upstream_addr\t$upstream_status';
    access_log {d}/access.log replicas;
    client_body_temp_path {d}/temp/client_body;
    proxy_temp_path {d}/temp/proxy;
    fastcgi_temp_path {d}/temp/fastcgi;
    uwsgi_temp_path {d}/temp/uwsgi;
    scgi_temp_path {d}/temp/scgi;
    upstream spincrud {{
{servers}        include {upstream};
    }}
    server {{
        listen {addr};
        include {proxy};
    }}
}}
"#,
        upstream = shared.join("upstream.conf").display(),
        proxy = shared.join("proxy.conf").display(),
    )
}
