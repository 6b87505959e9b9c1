#!/usr/bin/env bash
# Runs the README's commands, so that the README stays true:
# - the "Using the API" block against a fresh host-runner, every curl failing on an HTTP error;
# - the host-runner command block (migrate, import) on a fresh data directory;
# - `make run`, until it answers /healthz;
# - the engine benchmark (`cargo run --release -p spincrud-bench`), which prints its figures.
# Needs target/debug/host-runner (make host-runner).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=${SPINCRUD_HOST_RUNNER:-$PWD/target/debug/host-runner}
work=$(mktemp -d)
pids=()
cleanup() {
    # Each server runs in its own session: this stops make, cargo and host-runner alike.
    for pid in "${pids[@]}"; do kill -- "-$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# The first ```sh block after a heading.
block() {
    awk -v heading="$1" '
        $0 == heading { found = 1; next }
        found && /^```sh$/ { inside = 1; next }
        inside && /^```$/ { exit }
        inside { print }
    ' README.md
}

# Starts a command that logs JSON lines and sets `addr` to the address it listens on. (Not
# called as $(start ...): a subshell would lose the pid that cleanup must stop.)
start() {
    local log=$1; shift
    setsid "$@" >"$log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 2400); do  # up to 20 min: `make run` may first build a release binary
        addr=$(sed -n 's/.*"message":"listening","addr":"\([^"]*\)".*/\1/p' "$log" | head -n 1)
        if [ -n "$addr" ]; then return 0; fi
        kill -0 "${pids[-1]}" 2>/dev/null || { cat "$log" >&2; return 1; }
        sleep 0.5
    done
    echo "check-readme: no 'listening' line from: $*" >&2; cat "$log" >&2; return 1
}

echo "check-readme: the API examples"
LISTEN=127.0.0.1:0 DATA_DIR=$work/api start "$work/api.log" "$bin" serve
examples=$(block "## Using the API")
[ -n "$examples" ] || { echo "check-readme: no example block found" >&2; exit 1; }
# README says API=localhost:3000; the server here listens elsewhere.
examples=${examples//API=localhost:3000/API=$addr}
bash -euo pipefail -c "curl() { command curl --fail-with-body --silent --show-error \"\$@\"; }; export -f curl; $examples" >"$work/examples.out"
grep -q '"loaded":1000' "$work/examples.out" || { echo "check-readme: /data load output missing" >&2; exit 1; }
grep -q 'http_requests_total' "$work/examples.out" || { echo "check-readme: /metrics output missing" >&2; exit 1; }

echo "check-readme: the host-runner commands"
commands=$(block "\`host-runner serve --help\` explains each. Other commands:")
[ -n "$commands" ] || { echo "check-readme: no host-runner command block found" >&2; exit 1; }
(export DATA_DIR=$work/cli PATH="$(dirname "$bin"):$PATH"; bash -euo pipefail -c "$commands") >"$work/cli.out" 2>&1 ||
    { cat "$work/cli.out" >&2; exit 1; }

echo "check-readme: make run"
LISTEN=127.0.0.1:0 DATA_DIR=$work/run start "$work/run.log" make run
curl --fail-with-body -s "http://$addr/healthz" | grep -q '"status":"ok"'
# Stopped before the benchmark, which wants the machine to itself.
kill -- "-${pids[-1]}" 2>/dev/null || true

echo "check-readme: the benchmark (about three minutes)"
bench=$(block "both store sets. To compare them:")
[ -n "$bench" ] || { echo "check-readme: no benchmark block found" >&2; exit 1; }
# It exits non-zero if any request failed; its figures go to CI's log, they are not asserted
# (the machine's speed varies; the targets are read off these lines).
bash -euo pipefail -c "$bench" >"$work/bench.out" 2>"$work/bench.err" || { cat "$work/bench.err" "$work/bench.out" >&2; exit 1; }
grep -q '^targets (issue 4):' "$work/bench.out" || { echo "check-readme: the benchmark printed no targets" >&2; cat "$work/bench.out" >&2; exit 1; }
cat "$work/bench.out"
echo "check-readme: ok"
