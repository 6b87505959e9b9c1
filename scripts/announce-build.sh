#!/usr/bin/env bash
# Says, before `make run` starts, what its first build will cost and why (later runs reuse it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
target=${CARGO_TARGET_DIR:-target}
if [ ! -x "$target/release/host-runner" ]; then
    echo "make run: first build of host-runner (release: wasmtime, sqlx, hyper; about 12 minutes on 2 cores, once)." >&2
fi
if [ ! -d "$target/docs-ui" ]; then
    echo "make run: assembling the /docs page from npm (swagger-ui-dist, pinned; under a minute)." >&2
fi
if [ "${ENGINE:-native}" = wasm ] && [ ! -f "$target/wasm32-wasip1/release/spincrud_ops.wasm" ]; then
    echo "make run: ENGINE=wasm builds the Spin components first: a wasm32-wasip1 toolchain (rustup's target, or Debian's rustc-web, about 1.4 GB) and about 2 minutes of building." >&2
fi
