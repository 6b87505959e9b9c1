#!/usr/bin/env bash
# Installs what the tests need beyond the Rust toolchain: PostgreSQL and Redis server binaries
# (the tests start their own throwaway servers from them; nothing is left running), openssl,
# nginx (the replica tests put their own nginx in front of several servers) and bubblewrap (the
# container-contract test runs host-runner as a container would: non-root, read-only root).
# (The browser of the /docs page test: scripts/install-browser.sh.)
# Uses apt-get as root, or through sudo; otherwise says what to install and fails.
set -euo pipefail

missing=()
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
# A self-signed certificate for the test of a PostgreSQL whose TLS does not verify.
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || missing+=(nginx)
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo)
else
    echo "install-deps: missing ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
"${sudo[@]}" apt-get update -qq
# The packages' own services are not needed: the tests run their own servers.
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

