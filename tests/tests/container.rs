//! The container contract (`src/container.rs`): the built host-runner, on both engines, run as
//! its image runs it — uid 65532, read-only root, only DATA_DIR and /tmp writable, PID 1 — with
//! bubblewrap (`make test` installs it), serves, keeps its data in DATA_DIR and drains on SIGTERM.
fn main() -> std::process::ExitCode {
    spincrud_tests::container::run()
}
