//! The wasm engine's one-time set-up for a test binary: the manifest, a shared compilation
//! cache, and a warm-up start that fills it (a debug build of Cranelift takes longer per component
//! than a server start may wait).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Points every server at the workspace's spin.toml and a shared compilation cache, and fills
/// the cache once (a debug build of Cranelift takes a while per component).
pub fn prepare_wasm_engine() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    if std::env::var_os("SPIN_MANIFEST").is_none() {
        std::env::set_var("SPIN_MANIFEST", workspace.join("spin.toml"));
    }
    if std::env::var_os("WASM_CACHE_DIR").is_none() {
        std::env::set_var("WASM_CACHE_DIR", workspace.join("target/wasm-cache"));
    }
    let binary = super::server::host_runner_binary();
    let data_dir: PathBuf = std::env::temp_dir().join(format!("spincrud-wasm-warmup-{}", std::process::id()));
    let mut child = Command::new(&binary)
        .arg("serve")
        .env("ENGINE", "wasm")
        .env("LISTEN", "127.0.0.1:0")
        .env("DATA_DIR", &data_dir)
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
    let started = Instant::now();
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let listening = line.contains("\"listening\"");
            lines.push(line);
            if listening {
                let _ = tx.send(Ok(()));
                return;
            }
        }
        let _ = tx.send(Err(lines.join("\n")));
    });
    let outcome = rx.recv_timeout(Duration::from_secs(900));
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&data_dir);
    match outcome {
        Ok(Ok(())) => eprintln!("wasm engine warm-up: components ready in {:.1} s", started.elapsed().as_secs_f64()),
        Ok(Err(output)) => panic!("host-runner --engine wasm did not start (are the components built? scripts/build-components.sh):\n{output}"),
        Err(_) => panic!("host-runner --engine wasm did not start within 15 minutes"),
    }
}
