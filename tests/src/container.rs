//! The container contract the manifests promise (Dockerfile, compose.yaml, the host-runner
//! Deployment), with the built binary and no container engine: bubblewrap gives host-runner what
//! its container gets — uid 65532 and gid 65532 with no capabilities and no new privileges, a
//! read-only root file system with only `DATA_DIR` (`/var/lib/spincrud`) and `/tmp` writable, its
//! own PID namespace where it is PID 1 (which gets no default action for SIGTERM: only the
//! handler host-runner installs) — and checks that it serves, keeps its data where it may, and
//! drains and exits `0` on SIGTERM.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Trial};
use serde_json::json;

use crate::harness::http::Request;
use crate::harness::server::host_runner_binary;
use crate::harness::{self, free_port, supervisor, tempdir, Engine};
use crate::replicas::traffic::probe;
use crate::runner;

/// The image's user and group (distroless "nonroot").
const UID: u32 = 65532;
const DATA_DIR: &str = "/var/lib/spincrud";
const DRAIN: Duration = Duration::from_secs(1);

pub fn run() -> ExitCode {
    let args = Arguments::from_args();
    runner::install_panic_hook();
    let trials = [Engine::Native, Engine::Wasm]
        .into_iter()
        .map(|engine| Trial::test(format!("{}::runs_as_its_container_and_drains_on_sigterm", engine.env_value()), move || runner::captured(|| contract(engine))))
        .chain([Trial::test("a_read_only_data_dir_is_a_clear_start_up_error", || runner::captured(read_only_data_dir))])
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    harness::shutdown(!conclusion.has_failed());
    conclusion.exit_code()
}

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root")
}

fn bwrap() -> PathBuf {
    ["/usr/bin/bwrap", "/bin/bwrap"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("bubblewrap is not installed: make test installs it (scripts/install-deps.sh)"))
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `host-runner <args>` in the container's view of the machine, with the image's environment
/// plus `env`; `data` is mounted read-write at `/var/lib/spincrud` unless `data_writable` is false.
fn contained(data: &Path, data_writable: bool, env: &[(&str, String)], args: &[&str]) -> Command {
    let mut cmd = Command::new(bwrap());
    if is_root() {
        // Really uid 65532 on this machine, as in the container (not root mapped to 65532).
        cmd.uid(UID).gid(UID);
    } else {
        cmd.args(["--unshare-user", "--uid", &UID.to_string(), "--gid", &UID.to_string()]);
    }
    cmd.args(["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]);
    // /var/lib holds nothing but DATA_DIR, and only DATA_DIR is writable.
    cmd.args(["--tmpfs", "/var/lib"]);
    cmd.arg(if data_writable { "--bind" } else { "--ro-bind" }).arg(data).arg(DATA_DIR);
    cmd.args(["--remount-ro", "/var/lib", "--unshare-pid", "--as-pid-1", "--die-with-parent", "--chdir", "/", "--clearenv"]);
    // The image's environment (Dockerfile `ENV`), then the test's.
    let image_env = [("DATA_DIR", DATA_DIR.to_string()), ("PATH", "/usr/bin:/bin".to_string())];
    for (name, value) in image_env.iter().filter(|(n, _)| !env.iter().any(|(m, _)| m == n)).chain(env) {
        cmd.arg("--setenv").arg(name).arg(value);
    }
    cmd.arg(host_runner_binary()).args(args);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

/// A fresh data directory owned by the image's user, as the image's `DATA_DIR` is.
fn data_dir(name: &str) -> PathBuf {
    let data = tempdir::fresh(name).join("data");
    std::fs::create_dir_all(&data).unwrap();
    if is_root() {
        std::os::unix::fs::chown(&data, Some(UID), Some(UID)).unwrap();
    }
    data
}

/// The wasm engine compiles the components into DATA_DIR once; a copy of the suite's warm cache
/// spares the debug build's minutes of Cranelift, as a warm emptyDir would.
fn seed_wasm_cache(data: &Path) {
    let from = workspace().join("target/wasm-cache");
    let to = data.join("wasm-cache");
    let status = Command::new("cp").arg("-a").arg(&from).arg(&to).status().expect("cp");
    assert!(status.success(), "cannot copy {}", from.display());
    if is_root() {
        let status = Command::new("chown").args(["-R", &format!("{UID}:{UID}")]).arg(&to).status().expect("chown");
        assert!(status.success());
    }
}

fn contract(engine: Engine) {
    let data = data_dir(&format!("container-{}", engine.env_value()));
    let port = free_port();
    let mut env = vec![
        ("LISTEN", format!("127.0.0.1:{port}")),
        ("ENGINE", engine.env_value().to_string()),
        ("DRAIN_PERIOD", format!("{}ms", DRAIN.as_millis())),
    ];
    if engine == Engine::Wasm {
        harness::wasm::prepare_wasm_engine();
        seed_wasm_cache(&data);
        env.push(("SPIN_MANIFEST", workspace().join("spin.toml").display().to_string()));
    }
    let mut sandbox = supervisor::spawn_long_lived(contained(&data, true, &env, &["serve"])).expect("cannot run bwrap");
    let output = drain_output(&mut sandbox);
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let started = Instant::now();
    while probe(addr, "/readyz") != Some(200) {
        if let Ok(Some(status)) = sandbox.try_wait() {
            panic!("host-runner in its container exited ({status}):\n{}", output.text());
        }
        assert!(started.elapsed() < Duration::from_secs(120), "not ready within 2 minutes:\n{}", output.text());
        std::thread::sleep(Duration::from_millis(50));
    }

    assert!(output.text().contains(&format!("\"engine\":\"{engine:?}\"")), "not the {engine:?} engine:\n{}", output.text());
    // It runs as the image's user, unprivileged, as PID 1 of its namespace.
    let pid = contained_pid(sandbox.id());
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.split_whitespace().collect::<Vec<_>>()).unwrap_or_default();
    if is_root() {
        assert!(field("Uid:").iter().all(|u| *u == UID.to_string()), "uids {:?}", field("Uid:"));
        assert!(field("Gid:").iter().all(|g| *g == UID.to_string()), "gids {:?}", field("Gid:"));
    }
    assert_eq!(field("CapEff:"), ["0000000000000000"], "no capabilities");
    assert_eq!(field("NoNewPrivs:"), ["1"], "no new privileges");
    assert_eq!(field("NSpid:").last().copied(), Some("1"), "PID 1 of its own namespace");

    // It serves, with its stores in DATA_DIR.
    let cat = Request::new(addr, "POST", "/cats").json(&json!({ "name": "Boxed", "breed": "Container", "age": 2, "color": "grey" })).send();
    let id = cat.expect(201).json()["id"].as_str().unwrap().to_string();
    Request::new(addr, "GET", &format!("/cats/{id}")).send().expect(200);
    Request::new(addr, "POST", "/data").json(&json!([{ "id": "boxed-1", "name": "Contained" }])).send().expect(201);
    let written = files_under(&data);
    assert!(!written.is_empty(), "nothing was written in DATA_DIR");
    if is_root() {
        for file in &written {
            let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(file).unwrap());
            assert_eq!(owner, UID, "{} belongs to uid {owner}", file.display());
        }
    }
    // The image's health check: host-runner probes itself, inside the container.
    let probe_status = contained(&data, true, &env, &["probe", &format!("http://127.0.0.1:{port}/readyz")]).status().expect("bwrap");
    assert!(probe_status.success(), "host-runner probe of /readyz failed inside the container");

    // SIGTERM to PID 1: a drain (/readyz 503 at once), then a clean exit.
    let term = Instant::now();
    // SAFETY: kill(2) on a process this test started.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGTERM);
    }
    let mut saw_503 = false;
    let status = loop {
        if let Ok(Some(status)) = sandbox.try_wait() {
            break status;
        }
        saw_503 |= probe(addr, "/readyz") == Some(503);
        assert!(term.elapsed() < DRAIN + Duration::from_secs(20), "still running {:?} after SIGTERM:\n{}", term.elapsed(), output.text());
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(saw_503, "/readyz never answered 503 while draining:\n{}", output.text());
    assert!(term.elapsed() >= DRAIN, "exited {:?} after SIGTERM, before its drain period", term.elapsed());
    assert!(status.success(), "exited with {status} after SIGTERM:\n{}", output.text());
    assert!(output.text().contains("\"draining: "), "{}", output.text());
}

/// host-runner refuses to start, saying why, when DATA_DIR is not writable (a volume mounted
/// read-only, or owned by another user): the read-only root is read-only indeed.
fn read_only_data_dir() {
    let data = data_dir("container-read-only");
    let port = free_port();
    let env = [("LISTEN", format!("127.0.0.1:{port}"))];
    let out = supervisor::spawn(contained(&data, false, &env, &["serve"])).and_then(|c| c.wait_with_output()).expect("bwrap");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "host-runner started with a read-only DATA_DIR:\n{text}");
    assert!(text.contains(DATA_DIR) && text.to_ascii_lowercase().contains("read-only"), "the error names DATA_DIR and why:\n{text}");
}

/// host-runner's pid on this machine: the descendant of bwrap that runs it.
fn contained_pid(bwrap: u32) -> u32 {
    let binary: OsString = host_runner_binary().into_os_string();
    let mut todo = vec![bwrap];
    while let Some(pid) = todo.pop() {
        if std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe.into_os_string() == binary) {
            return pid;
        }
        todo.extend(crate::replicas::cluster::children(pid));
    }
    panic!("no host-runner process under bwrap {bwrap}")
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Everything the sandbox prints, collected in the background.
struct Output(std::sync::Arc<std::sync::Mutex<String>>);

impl Output {
    fn text(&self) -> String {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

fn drain_output(child: &mut Child) -> Output {
    let text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    for stream in [child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>), child.stderr.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>)].into_iter().flatten() {
        let text = text.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stream).lines().map_while(Result::ok) {
                let mut t = text.lock().unwrap_or_else(|p| p.into_inner());
                t.push_str(&line);
                t.push('\n');
            }
        });
    }
    Output(text)
}
