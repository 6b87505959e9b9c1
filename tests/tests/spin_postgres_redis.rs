//! The whole suite against the real Spin CLI (`spin up` on spin.toml, `SPIN_BIN` or `spin` on
//! PATH) with PostgreSQL (`database_url`, schema by `host-runner migrate`) and Redis (a runtime
//! config file), one throwaway instance of each started by the harness for this binary. Needs the
//! built components (`make components`); without a Spin CLI it says so and runs nothing.
fn main() -> std::process::ExitCode {
    spincrud_tests::run(
        spincrud_tests::Engine::Spin,
        spincrud_tests::Stores::PostgresRedis,
    )
}
