//! The whole suite against host-runner's native engine with the embedded stores (SQLite + embedded KV).
fn main() -> std::process::ExitCode {
    spincrud_tests::run(
        spincrud_tests::Engine::Native,
        spincrud_tests::Stores::Embedded,
    )
}
