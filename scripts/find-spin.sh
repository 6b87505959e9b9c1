#!/usr/bin/env bash
# Prints the Spin CLI the tests and the benchmark use: $SPIN_BIN, else `spin` on PATH. Exits 1
# (printing nothing) when there is none.
set -euo pipefail
if [ -n "${SPIN_BIN:-}" ]; then
    [ -x "$SPIN_BIN" ] || { echo "find-spin: SPIN_BIN=$SPIN_BIN is not an executable" >&2; exit 1; }
    echo "$SPIN_BIN"
elif command -v spin >/dev/null 2>&1; then
    command -v spin
else
    exit 1
fi
