#!/usr/bin/env bash
# Assembles the static site of the API explorer page (/docs) into target/docs-ui, the directory
# spin.toml's `docs` component mounts (and host-runner's native engine serves):
# - Swagger UI's browser files, from the npm package pinned in docs-ui/package.json, installed
#   with `npm ci` from docs-ui/package-lock.json (integrity-checked, no install scripts);
# - spincrud's own docs-ui/index.html and docs-ui/spincrud-docs.js (renders /openapi.json).
# Every asset is served by spincrud itself: the page loads nothing from a CDN.
#
#   scripts/build-docs-ui.sh
#
# Needs npm (installed with apt-get when missing, as root or through sudo) and, for the first
# run or a changed lock file, the npm registry. Later runs reuse docs-ui/node_modules (seconds).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

SRC=docs-ui
OUT=target/docs-ui
DIST=$SRC/node_modules/swagger-ui-dist
# What the page loads, plus the package's licence files (source maps are left out: only a
# browser's developer tools ask for them).
DIST_FILES=(swagger-ui.css swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt index.css
    favicon-16x16.png favicon-32x32.png LICENSE NOTICE)
OWN_FILES=(index.html spincrud-docs.js)

install_npm() {
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo)
        else
            echo "build-docs-ui: npm is missing; install it with: sudo apt-get install -y npm" >&2
            exit 1
        fi
    fi
    echo "build-docs-ui: installing npm with apt-get" >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends npm >&2
}

command -v npm >/dev/null 2>&1 || install_npm

# `npm ci` again only when the lock file changed (it deletes and reinstalls node_modules).
stamp=$SRC/node_modules/.spincrud-lock.sha256
want=$(sha256sum "$SRC/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "build-docs-ui: npm ci in $SRC" >&2
    # --ignore-scripts: the packages need no build step (and a dependency's postinstall only
    # reports usage analytics).
    (cd "$SRC" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >&2
    echo "$want" >"$stamp"
fi

# Assembled beside the old site, then swapped in, so a running server never sees half a site.
mkdir -p target
tmp=$(mktemp -d target/docs-ui.tmp.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
for f in "${DIST_FILES[@]}"; do
    cp -L "$DIST/$f" "$tmp/$f"
done
for f in "${OWN_FILES[@]}"; do
    cp -L "$SRC/$f" "$tmp/$f"
done
chmod 755 "$tmp"
chmod 644 "$tmp"/*
rm -rf "$OUT.old"
if [ -d "$OUT" ]; then mv "$OUT" "$OUT.old"; fi
mv "$tmp" "$OUT"
rm -rf "$OUT.old"

version=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$DIST/package.json" | head -n 1)
echo "build-docs-ui: $OUT: swagger-ui-dist $version, $(find "$OUT" -type f | wc -l) files, $(du -sk "$OUT" | cut -f1) KiB" >&2
