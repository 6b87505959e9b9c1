//! The replica set (`src/replicas/`): three replicas of each engine (host-runner native and
//! wasm, and the Spin CLI when there is one) on one PostgreSQL + Redis behind a real nginx, under
//! load: rolling restarts, scaling, `kill -9`, races between replicas, host-runner's lame-duck
//! shutdown. Needs nginx (`make test` installs it) and, for the wasm and Spin replicas, the built
//! components (`make components`).
fn main() -> std::process::ExitCode {
    spincrud_tests::replicas::run()
}
