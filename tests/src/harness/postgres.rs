//! One throwaway PostgreSQL server per test binary, from the highest installed
//! `/usr/lib/postgresql/<ver>/bin/`. As root it runs as the `postgres` system user
//! (PostgreSQL refuses to run as root).

use std::ffi::CString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{free_port, supervisor, INSTALL_HINT};

const READY_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Postgres {
    port: u16,
    bin: PathBuf,
    log: PathBuf,
    data: PathBuf,
    sockets: PathBuf,
    owner: Option<(u32, u32)>,
    /// Serves TLS with a self-signed certificate (which no client can verify).
    tls: bool,
    child: Mutex<Child>,
}

impl Postgres {
    pub fn start(root: &Path) -> Postgres {
        Postgres::start_named(root, "postgres")
    }

    /// A server of its own in `root/<name>` (a test that stops and restarts it).
    pub fn start_named(root: &Path, name: &str) -> Postgres {
        Postgres::start_in(root, name, false)
    }

    /// A server of its own that offers TLS with a self-signed certificate, as Debian's
    /// PostgreSQL does out of the box.
    pub fn start_with_self_signed_tls(root: &Path, name: &str) -> Postgres {
        Postgres::start_in(root, name, true)
    }

    fn start_in(root: &Path, name: &str, tls: bool) -> Postgres {
        let bin = bin_dir();
        let owner = service_user();
        let dir = root.join(name);
        let data = dir.join("data");
        let sockets = dir.join("sockets");
        for d in [&dir, &sockets] {
            fs::create_dir_all(d).unwrap_or_else(|e| panic!("cannot create {}: {e}", d.display()));
            fs::set_permissions(d, fs::Permissions::from_mode(0o700)).unwrap();
            if let Some((uid, gid)) = owner {
                std::os::unix::fs::chown(d, Some(uid), Some(gid))
                    .unwrap_or_else(|e| panic!("cannot chown {} to postgres: {e}", d.display()));
            }
        }

        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .current_dir(&dir);
        let out = run(initdb, owner);
        if !out.status.success() {
            panic!(
                "initdb failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }

        if tls {
            self_signed_certificate(&data, owner);
        }
        let port = free_port();
        let log = dir.join("postgres.log");
        let child = spawn_server(&bin, &data, &sockets, &log, port, owner, tls);
        let pg = Postgres {
            port,
            bin,
            log,
            data,
            sockets,
            owner,
            tls,
            child: Mutex::new(child),
        };
        pg.wait_ready();
        pg
    }

    /// Stops the server (fast shutdown: sessions are cut off) and waits until it is gone.
    pub fn stop(&self) {
        let mut child = self.child.lock().unwrap();
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGINT);
        }
        let _ = child.wait();
    }

    /// Starts the stopped server again, on the same port and data, and waits until it answers.
    pub fn restart(&self) {
        let child = spawn_server(&self.bin, &self.data, &self.sockets, &self.log, self.port, self.owner, self.tls);
        *self.child.lock().unwrap() = child;
        self.wait_ready();
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.lock().unwrap().try_wait() {
                panic!("postgres exited ({status}):\n{}", self.log_text());
            }
            let mut probe = Command::new(self.bin.join("pg_isready"));
            probe
                .args([
                    "-q",
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-d",
                    "postgres",
                    "-t",
                    "2",
                    "-p",
                ])
                .arg(self.port.to_string());
            if run(probe, None).status.success() {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "postgres did not accept connections within {READY_TIMEOUT:?}:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Creates a database and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        let mut cmd = Command::new(self.bin.join("createdb"));
        cmd.args(["-h", "127.0.0.1", "-U", "postgres", "-p"])
            .arg(self.port.to_string())
            .arg(name);
        let out = run(cmd, None);
        if !out.status.success() {
            panic!(
                "createdb {name} failed ({}): {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr),
                self.log_text()
            );
        }
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// `server.crt`/`server.key` in the data directory, for `localhost`, signed by nobody.
fn self_signed_certificate(data: &Path, owner: Option<(u32, u32)>) {
    let mut cmd = Command::new("openssl");
    cmd.args(["req", "-new", "-x509", "-days", "2", "-nodes", "-subj", "/CN=localhost", "-newkey", "rsa:2048", "-keyout"])
        .arg(data.join("server.key"))
        .arg("-out")
        .arg(data.join("server.crt"));
    let out = run(cmd, owner);
    if !out.status.success() {
        panic!("openssl could not make a certificate: {}", String::from_utf8_lossy(&out.stderr));
    }
    fs::set_permissions(data.join("server.key"), fs::Permissions::from_mode(0o600)).unwrap();
}

#[allow(clippy::too_many_arguments)]
fn spawn_server(bin: &Path, data: &Path, sockets: &Path, log: &Path, port: u16, owner: Option<(u32, u32)>, tls: bool) -> Child {
    let log_file = fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    let mut cmd = Command::new(bin.join("postgres"));
    cmd.arg("-D")
        .arg(data)
        .arg("-p")
        .arg(port.to_string())
        .arg("-k")
        .arg(sockets)
        .args(["-c", "listen_addresses=127.0.0.1"])
        .args([
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ])
        .args(["-c", "max_connections=300"])
        .args(["-c", if tls { "ssl=on" } else { "ssl=off" }])
        .current_dir(data.parent().unwrap_or(data))
        .stdin(Stdio::null())
        .stdout(Stdio::from(log_file.try_clone().unwrap()))
        .stderr(Stdio::from(log_file));
    as_owner(&mut cmd, owner);
    supervisor::spawn_long_lived(cmd).unwrap_or_else(|e| panic!("cannot run postgres: {e}"))
}

/// The `bin` directory of the highest installed version.
fn bin_dir() -> PathBuf {
    let base = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(Vec<u32>, PathBuf)> = fs::read_dir(base)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version: Vec<u32> = e
                .file_name()
                .to_str()?
                .split('.')
                .map(|p| p.parse().ok())
                .collect::<Option<_>>()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("postgres").is_file())
                .then_some((version, bin))
        })
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "no PostgreSQL server under {}/<version>/bin: {INSTALL_HINT}",
            base.display()
        ),
    }
}

/// `Some((uid, gid))` of the `postgres` user when running as root, `None` otherwise.
fn service_user() -> Option<(u32, u32)> {
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let name = CString::new("postgres").unwrap();
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        panic!(
            "running as root but there is no `postgres` user to run PostgreSQL as: {INSTALL_HINT}"
        );
    }
    let pw = unsafe { &*pw };
    Some((pw.pw_uid, pw.pw_gid))
}

fn as_owner(cmd: &mut Command, owner: Option<(u32, u32)>) {
    if let Some((uid, gid)) = owner {
        cmd.uid(uid)
            .gid(gid)
            .env("HOME", "/tmp")
            .env_remove("PGDATA");
    }
}

/// Runs a short command to completion (through the supervisor, like every child).
fn run(mut cmd: Command, owner: Option<(u32, u32)>) -> Output {
    as_owner(&mut cmd, owner);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let program = format!("{:?}", cmd.get_program());
    supervisor::spawn(cmd)
        .and_then(|c| c.wait_with_output())
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}
