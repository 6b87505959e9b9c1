#!/usr/bin/env bash
# CORS in a real headless browser, from a page on another origin: tests/cors-page/cors_page.py
# starts the API (host-runner native, then ENGINE=wasm, then the Spin CLI when there is one:
# SPIN_BIN, or spin on PATH) with CORS_ORIGINS naming one origin of a small page server, and
# drives Debian's chromium (chromium-driver, Selenium) through preflighted and simple requests
# from that origin and from one that is not listed. Server logs: target/cors-page-<engine>.log.
#
#   scripts/test-cors-page.sh              # native, wasm, and spin when a Spin CLI is there
#   scripts/test-cors-page.sh native       # some of them
#
# Installs the browser and the pinned Selenium as scripts/test-docs-page.sh does. Builds
# host-runner (debug) and the components unless SPINCRUD_NO_BUILD=1.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
. scripts/browser-venv.sh

if [ "${SPINCRUD_NO_BUILD:-0}" != 1 ]; then
    scripts/build-components.sh >&2
    cargo build --quiet -p host-runner >&2
fi

engines=("$@")
spin=()
if spin_bin=$(scripts/find-spin.sh); then
    spin=(--spin "$spin_bin")
    if [ ${#engines[@]} -eq 0 ]; then
        engines=(native wasm spin)
        echo "test-cors-page: on Spin too: $spin_bin" >&2
    fi
elif [ ${#engines[@]} -eq 0 ]; then
    engines=(native wasm)
    echo "test-cors-page: no Spin CLI (set SPIN_BIN or put spin on PATH): Spin is NOT tested" >&2
fi

started=$(date +%s)
status=0
"$venv/bin/python" tests/cors-page/cors_page.py --binary target/debug/host-runner "${spin[@]}" "${engines[@]}" || status=$?
echo "test-cors-page: $(($(date +%s) - started)) s" >&2
exit $status
