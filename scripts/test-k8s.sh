#!/usr/bin/env bash
# Offline checks of the deployment files: renders the kustomize overlays and validates
# them (Kubernetes OpenAPI schemas, SpinKube CRDs, policies, cross-checks with spin.toml
# and host-runner), and checks compose.yaml, the Dockerfile and the GitHub workflow.
# Needs no cluster and no network beyond PyPI (for the first run's venv).
#
#   scripts/test-k8s.sh [PYTEST ARGS...]
#
# Environment:
#   SPINCRUD_HOST_RUNNER  host-runner binary to cross-check against (default:
#                         target/debug/host-runner, built here with cargo when cargo exists)
#   SPINCRUD_NO_BUILD=1   do not run `cargo build -p host-runner`
#   SPINCRUD_CRDS         directory of SpinKube CRDs (default: tests/k8s/crds)
# Prints pytest's summary; exits non-zero when a check fails.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tests=$repo/tests/k8s
venv=$tests/.venv
requirements=$tests/requirements.txt

# --- Python venv with the pinned tools (python3 >= 3.11 for tomllib) ---------------------
need_python() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test-k8s: installing python3 and python3-venv with apt-get" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >&2
  else
    echo "test-k8s: needs python3 (>= 3.11) with the venv module (Debian: apt-get install python3-venv)" >&2
    exit 1
  fi
}

command -v python3 >/dev/null 2>&1 || need_python
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "test-k8s: python3 >= 3.11 is required, found $(python3 --version 2>&1)" >&2
  exit 1
fi

stamp=$venv/.requirements.sha256
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  rm -rf "$venv"
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    rm -rf "$venv"
    need_python
    python3 -m venv "$venv"
  fi
  echo "test-k8s: installing $requirements into $venv" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: \
    -r "$requirements" >&2
  echo "$want" >"$stamp"
fi

# --- host-runner, whose `serve --help` lists the env vars it reads -----------------------
if [ -z "${SPINCRUD_HOST_RUNNER:-}" ] && [ "${SPINCRUD_NO_BUILD:-0}" != 1 ] \
  && command -v cargo >/dev/null 2>&1; then
  echo "test-k8s: cargo build -p host-runner (for the env var cross-check)" >&2
  if ! (cd "$repo" && cargo build --quiet -p host-runner >&2); then
    echo "test-k8s: building host-runner failed; the cross-check tests will fail" >&2
  fi
fi

# --- the checks ---------------------------------------------------------------------------
cd "$tests"
exec "$venv/bin/python" -m pytest "$@"
