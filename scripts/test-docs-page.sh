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
venv=target/docs-page-venv
requirements=tests/docs-page/requirements.txt

scripts/install-browser.sh

# --- Python venv with the pinned client ---------------------------------------------------
if ! command -v python3 >/dev/null 2>&1; then
    echo "test-docs-page: needs python3 with the venv module (Debian: apt-get install python3-venv)" >&2
    exit 1
fi
stamp=$venv/.requirements.sha256
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    echo "test-docs-page: installing $requirements into $venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: \
        -r "$requirements" >&2
    echo "$want" >"$stamp"
fi

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
