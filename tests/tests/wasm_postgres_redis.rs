//! The whole suite against host-runner's wasm engine (the Spin components of spin.toml in
//! embedded wasmtime) with PostgreSQL and Redis (one throwaway instance of each, started by the harness for this binary). Needs the built components (`make components`).
fn main() -> std::process::ExitCode {
    spincrud_tests::run(
        spincrud_tests::Engine::Wasm,
        spincrud_tests::Stores::PostgresRedis,
    )
}
