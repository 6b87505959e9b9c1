//! One throwaway Redis per test binary, from `redis-server` on `PATH`; every server
//! configuration uses its own db index.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{free_port, supervisor, INSTALL_HINT};

const READY_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Redis {
    port: u16,
    binary: PathBuf,
    dir: PathBuf,
    child: Mutex<Child>,
}

impl Redis {
    pub fn start(root: &Path) -> Redis {
        Redis::start_named(root, "redis")
    }

    /// A server of its own in `root/<name>` (a test that stops and restarts it).
    pub fn start_named(root: &Path, name: &str) -> Redis {
        let binary = find_on_path("redis-server")
            .unwrap_or_else(|| panic!("redis-server is not on PATH: {INSTALL_HINT}"));
        let dir = root.join(name);
        fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        let child = spawn_server(&binary, &dir, port);
        let redis = Redis {
            port,
            binary,
            dir,
            child: Mutex::new(child),
        };
        redis.wait_ready();
        redis
    }

    fn wait_ready(&self) {
        let log = self.dir.join("redis.log");
        let deadline = Instant::now() + READY_TIMEOUT;
        while !ping(self.port) {
            if let Ok(Some(status)) = self.child.lock().unwrap().try_wait() {
                panic!(
                    "redis-server exited ({status}):\n{}",
                    fs::read_to_string(&log).unwrap_or_default()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "redis-server did not answer PING within {READY_TIMEOUT:?}:\n{}",
                    fs::read_to_string(&log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn url(&self, db: usize) -> String {
        format!("redis://127.0.0.1:{}/{db}", self.port)
    }

    /// Stops the server (its data goes: it keeps none) and waits until it is gone.
    pub fn stop(&self) {
        let mut child = self.child.lock().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts the stopped server again on the same port and waits until it answers.
    pub fn restart(&self) {
        *self.child.lock().unwrap() = spawn_server(&self.binary, &self.dir, self.port);
        self.wait_ready();
    }
}

fn spawn_server(binary: &Path, dir: &Path, port: u16) -> Child {
    let log_file = fs::OpenOptions::new().create(true).append(true).open(dir.join("redis.log")).unwrap();
    let mut cmd = Command::new(binary);
    cmd.arg("--port")
        .arg(port.to_string())
        .args([
            "--save",
            "",
            "--appendonly",
            "no",
            "--bind",
            "127.0.0.1",
            "--dir",
        ])
        .arg(dir)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log_file.try_clone().unwrap()))
        .stderr(Stdio::from(log_file));
    supervisor::spawn_long_lived(cmd)
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()))
}

fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
