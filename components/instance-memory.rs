//! Build script shared by spincrud's components that serve resources (SQL and key-value): the
//! linear memory an instance starts with.
//!
//! Spin pays dearly for an instance whose memory grows during a request: on Spin 3.6.3 a
//! component that grows its memory by two pages answers 40% fewer requests than the same
//! component that does not (6,600 vs 11,200 req/s, `ab -c 32`), far more than the cost of
//! starting with that memory (every answer that builds a JSON object grew spincrud's memory by
//! two pages). So each component starts with its static data, its 256 KiB stack
//! (`scripts/build-components.sh`) and enough heap for a typical request; only large pages and
//! bodies still grow it. A larger memory is not free either (Spin resets what an instance had
//! after every request): `ops` (`/healthz`, whose answer is a constant) and `docs` (static files)
//! keep wasm-ld's default, the least their static data and stack need.

const KIB: u64 = 1024;

/// Initial linear memory (a multiple of the 64 KiB wasm page) for `package`.
fn initial_memory(package: &str) -> u64 {
    match package {
        // The bundled 1,000-record dataset makes its static data 264 KiB; the stack, and about
        // 250 KiB of heap.
        "spincrud-data" => 768 * KIB,
        // 98 KiB of static data, the stack, and about 200 KiB of heap.
        _ => 576 * KIB,
    }
}

fn main() {
    // Native builds of these crates (cargo test --workspace) link nothing of the kind.
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        let package = std::env::var("CARGO_PKG_NAME").unwrap_or_default();
        println!("cargo:rustc-link-arg=--initial-memory={}", initial_memory(&package));
    }
}
