//! The whole suite against the real Spin CLI (`spin up` on spin.toml, `SPIN_BIN` or `spin` on
//! PATH) with Spin's embedded stores (SQLite and its key-value file). Needs the built components
//! (`make components`); without a Spin CLI it says so and runs nothing.
fn main() -> std::process::ExitCode {
    spincrud_tests::run(
        spincrud_tests::Engine::Spin,
        spincrud_tests::Stores::Embedded,
    )
}
