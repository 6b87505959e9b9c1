//! host-runner as a process: durability across `kill -9`, draining on SIGTERM, idempotent
//! migrations, the import commands, and `--help`. (The HTTP contract itself is tested by the
//! end-to-end suite in `tests/`.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_host-runner");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spincrud-lifecycle-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Server {
    child: Child,
    addr: String,
    log: Vec<String>,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Server {
    fn start(data_dir: &Path) -> Server {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--shutdown-timeout", "5"])
            .env("DATA_DIR", data_dir)
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .env_remove("API_TOKENS")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut log = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            assert!(Instant::now() < deadline, "host-runner did not start: {log:?}");
            let mut line = String::new();
            if stdout.read_line(&mut line).unwrap() == 0 {
                panic!("host-runner exited before listening: {log:?}");
            }
            let event: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            log.push(line);
            if event["fields"]["message"] == "listening" {
                let addr = event["fields"]["addr"].as_str().unwrap().to_string();
                return Server { child, addr, log, stdout };
            }
        }
    }

    /// One HTTP/1.1 exchange on its own connection: (status, body).
    fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let body = body.unwrap_or("");
        let content_type = if body.is_empty() { "" } else { "Content-Type: application/json\r\n" };
        write!(stream, "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{content_type}Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
        (status, body)
    }

    fn total(&self, path: &str) -> u64 {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("x-total-count: ").map(|v| v.trim().parse().unwrap()))
            .unwrap_or_else(|| panic!("no X-Total-Count in {response}"))
    }

    /// The rest of the log after the process has exited.
    fn wait(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let status = self.child.wait().unwrap();
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        let mut log = std::mem::take(&mut self.log);
        log.extend(rest.lines().map(String::from));
        (status, log)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A server a test leaves running would outlive the test binary.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = temp_dir("kill9");
    let mut server = Server::start(&dir);
    for i in 0..40 {
        let (status, body) = server.call("POST", "/cats", Some(&format!(r#"{{"name": "cat {i}"}}"#)));
        assert_eq!(status, 201, "{body}");
    }
    let (status, _) = server.call("POST", "/data", Some(r#"[{"id": "m1"}, {"id": "m2"}]"#));
    assert_eq!(status, 201);
    server.child.kill().unwrap(); // SIGKILL: no chance to flush anything
    server.child.wait().unwrap();

    let server = Server::start(&dir);
    assert_eq!(server.total("/cats"), 40);
    assert_eq!(server.total("/data"), 2);
}

#[test]
fn sigterm_drains_and_exits_cleanly() {
    let dir = temp_dir("sigterm");
    let server = Server::start(&dir);
    assert_eq!(server.call("GET", "/healthz", None).0, 200);
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let (status, log) = server.wait();
    assert!(status.success(), "exit status {status:?}");
    assert!(log.iter().any(|l| l.contains("\"stopped\"")), "{log:?}");
}

#[test]
fn migrate_is_idempotent() {
    let dir = temp_dir("migrate");
    for _ in 0..2 {
        let out = Command::new(BIN).arg("migrate").env("DATA_DIR", &dir).env_remove("DATABASE_URL").output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    }
    assert!(dir.join("spincrud.db").exists());
}

#[test]
fn import_commands_load_through_the_core() {
    let dir = temp_dir("import");
    let run = |args: &[&str]| {
        let out = Command::new(BIN).args(args).env("DATA_DIR", &dir).env_remove("DATABASE_URL").env_remove("REDIS_URL").current_dir(repo()).output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
    };
    let (ok, out) = run(&["import", "data", "data/Meteorite_Landings.json"]);
    assert!(ok, "{out}");
    let (ok, out) = run(&["import", "passengers", "tests/fixtures/titanic-sample.csv"]);
    assert!(ok, "{out}");

    // A bad file is refused whole, with the problem a client would get.
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "Survived,Pclass,Name,Sex,Age,Siblings/Spouses Aboard,Parents/Children Aboard,Fare\n1,1,A,female,30,0,0,1\n1,9,B,male,30,0,0,1\n").unwrap();
    let (ok, out) = run(&["import", "passengers", bad.to_str().unwrap()]);
    assert!(!ok);
    assert!(out.contains("\"line\": 3") && out.contains("passengerClass"), "{out}");

    let server = Server::start(&dir);
    assert_eq!(server.total("/data"), 1000);
    assert_eq!(server.total("/passengers"), 12);
}

#[test]
fn help_documents_every_setting() {
    let out = Command::new(BIN).args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for env in ["DATABASE_URL", "REDIS_URL", "API_TOKENS", "AUTH_READS", "LISTEN", "DATA_DIR", "ENGINE", "BODY_LIMIT"] {
        assert!(help.contains(&format!("[env: {env}")), "{env} missing from:\n{help}");
    }
}
