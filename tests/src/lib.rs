//! End-to-end suite for spincrud.
//!
//! Each test binary in `tests/tests/` calls [`run`] with one engine and one store set; the
//! suite itself (`suite/`) only talks HTTP to the servers the harness (`harness/`) starts, so
//! it is engine- and store-agnostic. The spec is `docs/api.md` plus `docs/contract-notes.md`.
//!
//! Running: `cargo build -p host-runner && cargo test -p spincrud-tests`. Useful knobs:
//! - `SPINCRUD_HOST_RUNNER=/path/to/host-runner` to test another build;
//! - `SPINCRUD_TEST_RUST_LOG=debug` to pass `RUST_LOG` to the servers (left unset otherwise);
//! - the usual libtest arguments (`-- cats::`, `--exact`, `--test-threads N`, `--list`).
//!
//! Server logs and store data live in `$TMPDIR/spincrud-tests-<pid>/`; that directory is kept
//! when a test fails and removed by the next run once the process is gone.

pub mod container;
pub mod harness;
pub mod replicas;
mod runner;
pub mod suite;

pub use harness::{Ctx, Engine, Stores};
pub use runner::run;
