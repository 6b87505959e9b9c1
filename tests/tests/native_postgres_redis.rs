//! The whole suite against host-runner's native engine with PostgreSQL and Redis
//! (one throwaway instance of each, started by the harness for this binary).
fn main() -> std::process::ExitCode {
    spincrud_tests::run(
        spincrud_tests::Engine::Native,
        spincrud_tests::Stores::PostgresRedis,
    )
}
