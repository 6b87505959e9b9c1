#!/usr/bin/env bash
# Runs the README's commands, so that the README stays true:
# - the "Using the API" block against a fresh host-runner, every curl failing on an HTTP error;
# - the host-runner command block (migrate, import) on a fresh data directory;
# - the observability block, with an OTLP/HTTP receiver of its own in place of the collector;
# - the `spin up` command of "Running with Spin", with the Spin CLI when there is one
#   (scripts/find-spin.sh), until it answers and loads /data;
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

echo "check-readme: the observability block"
traces=$(block "## Observability")
grep -q '^OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 host-runner serve &$' <<<"$traces" ||
    { echo "check-readme: the observability block does not start host-runner as expected" >&2; exit 1; }
# The collector: an OTLP/HTTP receiver that keeps what is posted to /v1/traces (protobuf, in
# which a span's trace id is its 16 raw bytes).
python3 -u - "$work/otlp" >"$work/otlp.log" 2>&1 <<'PY' &
import http.server, sys
out = sys.argv[1]
class Traces(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path == "/v1/traces":
            with open(out, "ab") as f:
                f.write(body)
        self.send_response(200 if self.path == "/v1/traces" else 404)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Traces)
print(server.server_address[1], flush=True)
server.serve_forever()
PY
pids+=($!)
for _ in $(seq 1 100); do otlp_port=$(head -n 1 "$work/otlp.log" 2>/dev/null); [ -n "$otlp_port" ] && break; sleep 0.1; done
[ -n "${otlp_port:-}" ] || { echo "check-readme: the OTLP receiver did not start" >&2; cat "$work/otlp.log" >&2; exit 1; }
OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$otlp_port OTEL_BSP_SCHEDULE_DELAY=200 LISTEN=127.0.0.1:0 DATA_DIR=$work/traces \
    start "$work/traces.log" "$bin" serve
rest=$(grep -v 'host-runner serve &$' <<<"$traces")
rest=${rest//API=localhost:3000/API=$addr}
bash -euo pipefail -c "$rest" >"$work/traces.out" ||
    { echo "check-readme: the observability block failed (no traceparent in the answer?)" >&2; cat "$work/traces.out" >&2; exit 1; }
trace=$(sed -n 's/^traceparent: 00-\([0-9a-f]\{32\}\)-[0-9a-f]\{16\}-01.*$/\1/ip' "$work/traces.out" | head -n 1)
[ -n "$trace" ] || { echo "check-readme: no traceparent in the answer" >&2; cat "$work/traces.out" >&2; exit 1; }
grep -q "trace/$trace" "$work/traces.out" || { echo "check-readme: the block names another trace" >&2; exit 1; }
for _ in $(seq 1 100); do
    python3 -c 'import sys; sys.exit(0 if bytes.fromhex(sys.argv[1]) in open(sys.argv[2], "rb").read() else 1)' "$trace" "$work/otlp" 2>/dev/null && break
    sleep 0.1
done
python3 -c 'import sys; sys.exit(0 if bytes.fromhex(sys.argv[1]) in open(sys.argv[2], "rb").read() else 1)' "$trace" "$work/otlp" ||
    { echo "check-readme: trace $trace did not reach the receiver" >&2; cat "$work/traces.log" >&2; exit 1; }
grep -q "\"trace_id\":\"$trace\"" "$work/traces.log" || { echo "check-readme: the request's log line does not name trace $trace" >&2; exit 1; }

if spin_bin=$(scripts/find-spin.sh); then
    echo "check-readme: spin up ($spin_bin)"
    spin_up=$(block "## Running with Spin")
    grep -q '^spin up --sqlite @migrations/sqlite/0001_schema.sql' <<<"$spin_up" ||
        { echo "check-readme: the Spin block does not start with spin up" >&2; exit 1; }
    for migration in migrations/sqlite/*.sql; do
        grep -q -- "--sqlite @$migration" <<<"$spin_up" || { echo "check-readme: the Spin block does not run $migration" >&2; exit 1; }
    done
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # Its state in a directory of its own rather than the checkout's .spin/.
    SPIN_HTTP_LISTEN_ADDR=127.0.0.1:$port setsid bash -c "spin() { \"$spin_bin\" \"\$@\" --state-dir \"$work/spin-state\"; }; $spin_up" >"$work/spin.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 600); do
        grep -q "^Serving http://127.0.0.1:$port" "$work/spin.log" && break
        kill -0 "${pids[-1]}" 2>/dev/null || { cat "$work/spin.log" >&2; exit 1; }
        sleep 0.1
    done
    grep -q "^Serving http://127.0.0.1:$port" "$work/spin.log" || { echo "check-readme: spin up did not serve" >&2; cat "$work/spin.log" >&2; exit 1; }
    curl --fail-with-body -s "http://127.0.0.1:$port/readyz" | grep -q '"status":"ready"'
    curl --fail-with-body -s -X POST "http://127.0.0.1:$port/data" | grep -q '"loaded":1000'
    kill -- "-${pids[-1]}" 2>/dev/null || true
else
    echo "check-readme: no Spin CLI (SPIN_BIN or spin on PATH): the spin up command is not run"
fi

echo "check-readme: make run"
LISTEN=127.0.0.1:0 DATA_DIR=$work/run start "$work/run.log" make run
curl --fail-with-body -s "http://$addr/healthz" | grep -q '"status":"ok"'
# Stopped before the benchmark, which wants the machine to itself.
kill -- "-${pids[-1]}" 2>/dev/null || true

echo "check-readme: the benchmark (engines, floors, tracing cost, compression, replicas behind nginx, at size: about twenty minutes with Spin, twelve without)"
bench=$(block "both store sets. To compare them:")
[ -n "$bench" ] || { echo "check-readme: no benchmark block found" >&2; exit 1; }
# It exits non-zero if any request failed; its figures go to CI's log, they are not asserted
# (the machine's speed varies; the targets are read off these lines).
bash -euo pipefail -c "$bench" >"$work/bench.out" 2>"$work/bench.err" || { cat "$work/bench.err" "$work/bench.out" >&2; exit 1; }
grep -q '^targets (issue 4):' "$work/bench.out" || { echo "check-readme: the benchmark printed no targets" >&2; cat "$work/bench.out" >&2; exit 1; }
grep -q '^replicas behind nginx:' "$work/bench.out" || { echo "check-readme: the benchmark printed no replica figures" >&2; cat "$work/bench.out" >&2; exit 1; }
grep -q '^compression: ' "$work/bench.out" || { echo "check-readme: the benchmark printed no compression figures" >&2; exit 1; }
cat "$work/bench.out"
echo "check-readme: ok"
