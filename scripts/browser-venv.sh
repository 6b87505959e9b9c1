# Sourced by the browser tests (scripts/test-docs-page.sh, scripts/test-cors-page.sh): installs
# Debian's chromium and chromium-driver (scripts/install-browser.sh) and the pinned WebDriver
# client of tests/docs-page/requirements.txt into target/docs-page-venv (PyPI, once per change of
# that file). Sets `venv`. Runs from the repository's root.
scripts/install-browser.sh

venv=target/docs-page-venv
requirements=tests/docs-page/requirements.txt
if ! command -v python3 >/dev/null 2>&1; then
    echo "browser-venv: needs python3 with the venv module (Debian: apt-get install python3-venv)" >&2
    exit 1
fi
stamp=$venv/.requirements.sha256
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    echo "browser-venv: installing $requirements into $venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: \
        -r "$requirements" >&2
    echo "$want" >"$stamp"
fi
