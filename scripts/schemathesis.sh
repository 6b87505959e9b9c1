#!/usr/bin/env bash
# Fuzzes host-runner against its own /openapi.json with schemathesis: every check, every phase,
# a bounded number of examples per operation (a few minutes on two cores). Exits non-zero on any
# failure. Needs target/debug/host-runner (`cargo build -p host-runner`) and python3 with venv.
#
#   scripts/schemathesis.sh                  # the pinned schemathesis, installed into target/ once
#   ST_EXAMPLES=200 scripts/schemathesis.sh  # more examples per operation
#   ST_SEED=7 scripts/schemathesis.sh        # replay a run: every run prints its (random) seed
#
# No hook rewrites what schemathesis sends: the requests are exactly what the document allows.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD

# The version this API was verified with; a newer one may add checks, so it is a deliberate bump.
SCHEMATHESIS_VERSION=4.32.5
VENV=target/schemathesis-venv
EXAMPLES=${ST_EXAMPLES:-50}
SERVER=target/debug/host-runner
# A fresh seed each run, so that every run explores new inputs; printed, so that a failure can be
# replayed with ST_SEED.
SEED=${ST_SEED:-$(python3 -c 'import secrets; print(secrets.randbelow(2**31))')}

if [[ ! -x $SERVER ]]; then
    echo "schemathesis.sh: $SERVER is missing: run cargo build -p host-runner" >&2
    exit 1
fi

install_schemathesis() {
    if [[ -x $VENV/bin/st ]] && [[ "$("$VENV/bin/st" --version 2>/dev/null)" == *" $SCHEMATHESIS_VERSION" ]]; then
        return
    fi
    ensure_venv_support
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
}

# Debian's python3 makes venvs with pip only with python3-venv (its ensurepip).
ensure_venv_support() {
    python3 -c 'import ensurepip, venv' 2>/dev/null && return
    local sudo=()
    if [[ $(id -u) != 0 ]]; then
        if ! sudo -n true 2>/dev/null; then
            echo "schemathesis.sh: python3 cannot make venvs; install python3-venv" >&2
            exit 1
        fi
        sudo=(sudo)
    fi
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
}

work=$(mktemp -d)
server_pid=
stop_server() {
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid"
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap stop_server EXIT
trap 'exit 130' INT TERM

# The address the server logs once it listens (LISTEN=…:0 picks a free port).
start_server() {
    # Nothing in front of it to drain for: SIGTERM stops it at once.
    LISTEN=127.0.0.1:0 DATA_DIR="$work/data" DRAIN_PERIOD=0s RUST_LOG=warn,host_runner::server=info \
        "$SERVER" serve >"$work/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 100); do
        addr=$(sed -n 's/.*"message":"listening","addr":"\([^"]*\)".*/\1/p' "$work/server.log" | head -n1)
        if [[ -n $addr ]]; then
            return
        fi
        if ! kill -0 "$server_pid" 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    echo "schemathesis.sh: host-runner did not start:" >&2
    cat "$work/server.log" >&2
    exit 1
}

# What schemathesis expects of an answer, where this API's RFC 9110 semantics differ from its
# defaults: a well-formed `If-Match` that names an older tag (any tag it makes up) is 412, and so
# is a malformed one (RFC 9110 §13.1.1: the condition is false), also when the body is invalid too
# (preconditions come before the content is processed, §13.2.1).
write_config() {
    cat >"$work/schemathesis.toml" <<'TOML'
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "412", "429", "5xx"]

[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "412", "415", "422", "428", "429", "5xx"]
TOML
}

install_schemathesis
write_config
start_server
echo "schemathesis $SCHEMATHESIS_VERSION against http://$addr (at most $EXAMPLES examples per operation, seed $SEED;" \
     "replay with ST_SEED=$SEED scripts/schemathesis.sh)"
started=$SECONDS
status=0
# From the temporary directory, so that schemathesis's and Hypothesis's caches start empty (a run
# is replayed by its seed alone) and stay out of the repository. One worker: CPython 3.11's parser is not
# safe for Hypothesis's concurrent use ("AST constructor recursion depth mismatch").
(cd "$work" && "$repo/$VENV/bin/st" --config-file schemathesis.toml run "http://$addr/openapi.json" \
    --checks all --max-examples "$EXAMPLES" --seed "$SEED" --workers 1 --no-color) || status=$?
echo "schemathesis.sh: finished in $((SECONDS - started)) s with exit status $status"
if [[ $status != 0 ]]; then
    echo "schemathesis.sh: replay this run with ST_SEED=$SEED scripts/schemathesis.sh" >&2
    echo "schemathesis.sh: the server's last log lines:" >&2
    tail -n 40 "$work/server.log" >&2
fi
exit "$status"
