//! `$TMPDIR/spincrud-tests-<pid>/`: this run's temp root. Roots of dead runs are removed
//! when a new one is created.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

const PREFIX: &str = "spincrud-tests-";

static ROOT: OnceLock<PathBuf> = OnceLock::new();

/// This run's root, created (and stale roots removed) on first use.
pub fn root() -> &'static Path {
    ROOT.get_or_init(|| {
        remove_stale();
        let root = std::env::temp_dir().join(format!("{PREFIX}{}", std::process::id()));
        fs::create_dir_all(&root)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", root.display()));
        // Traversable by the `postgres` user whatever the umask (as root, PostgreSQL runs as it).
        let _ = fs::set_permissions(&root, fs::Permissions::from_mode(0o755));
        root
    })
}

pub fn existing_root() -> Option<&'static Path> {
    ROOT.get().map(|p| p.as_path())
}

/// A new empty directory `root/<name>-<n>`.
pub fn fresh(name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = root().join(format!("{name}-{n}"));
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

fn remove_stale() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        if pid as u32 != std::process::id() && !process_exists(pid) {
            kill_processes_using(&entry.path());
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// SIGKILLs what a dead run left running in its directory: a server whose own children outlived
/// it (Spin's `spin trigger http`, when the run was killed before it could end their group).
fn kill_processes_using(root: &Path) {
    let needle = format!("{}/", root.display()).into_bytes();
    let Ok(procs) = fs::read_dir("/proc") else { return };
    for entry in procs.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else { continue };
        if cmdline.windows(needle.len()).any(|w| w == needle.as_slice()) {
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

fn process_exists(pid: i32) -> bool {
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}
