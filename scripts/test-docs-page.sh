#!/usr/bin/env bash
# The API explorer page (/docs) in a real headless browser, on both engines of host-runner:
# tests/docs-page/docs_page.py starts `host-runner serve` (native, then ENGINE=wasm) on a free
# port with a fresh DATA_DIR, opens /docs in Debian's chromium through chromium-driver and
# Selenium, checks the page (no console error, nothing loaded from elsewhere, every route group
# listed, "try it out" GET /cats shows 200) and saves target/docs-page-<engine>.png.
#
#   scripts/test-docs-page.sh              # both engines
#   scripts/test-docs-page.sh native       # one of them
#
# Installs chromium and chromium-driver with apt (scripts/install-browser.sh) and the pinned
# Selenium into target/docs-page-venv (PyPI, first run only). Builds host-runner (debug) and the
# components with the docs site (scripts/build-components.sh; cargo no-ops when up to date)
# unless SPINCRUD_NO_BUILD=1.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# The browser, its driver and the pinned client (target/docs-page-venv).
. scripts/browser-venv.sh

# --- what the engines serve -----------------------------------------------------------------
if [ "${SPINCRUD_NO_BUILD:-0}" != 1 ]; then
    scripts/build-components.sh >&2
    cargo build --quiet -p host-runner >&2
fi

started=$(date +%s)
status=0
"$venv/bin/python" tests/docs-page/docs_page.py --binary target/debug/host-runner "$@" || status=$?
echo "test-docs-page: $(($(date +%s) - started)) s" >&2
exit $status
