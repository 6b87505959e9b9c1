#!/usr/bin/env bash
# Installs the headless browser of the docs page test (scripts/test-docs-page.sh): Debian's
# `chromium` and the matching `chromium-driver` (WebDriver), with apt-get as root or through
# sudo; otherwise says what to install and fails. (Browser downloaders such as `npx playwright
# install` need hosts beyond the package registries.)
set -euo pipefail

packages=(chromium chromium-driver)
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" = 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo)
else
    echo "install-browser: missing ${missing[*]}; install them with: sudo apt-get install -y ${packages[*]}" >&2
    exit 1
fi
echo "install-browser: installing ${packages[*]}" >&2
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
# Both, so that the driver matches the browser's version.
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
