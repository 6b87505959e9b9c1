# The two commands of the README, and the steps they are made of.
#   make run                serve the API on 127.0.0.1:3000 with the native engine (embedded
#                           SQLite + key-value store); builds only host-runner and the /docs site
#   make run ENGINE=wasm    the same with the Spin components in embedded wasmtime (builds them)
#   make test               every test: unit, end to end (embedded and PostgreSQL/Redis) on
#                           host-runner's two engines and, when a Spin CLI is there (SPIN_BIN,
#                           or spin on PATH), on Spin; faults, replicas behind nginx, the
#                           container contract, manifests, OpenAPI fuzzing, the /docs page and
#                           CORS from another origin in Chromium

CARGO ?= cargo
ENGINE ?= native

.PHONY: run run-wasm test deps components docs-ui host-runner test-rust test-k8s check-data \
        check-core-wasm check-readme schemathesis test-docs-page test-cors-page bench-at-size announce-run

# What `make run` builds depends on the engine it serves: the native engine needs no wasm.
RUN_DEPS := $(if $(filter wasm,$(ENGINE)),components,docs-ui)

run: announce-run $(RUN_DEPS)
	ENGINE=$(ENGINE) $(CARGO) run --release -p host-runner -- serve

run-wasm:
	$(MAKE) run ENGINE=wasm

# Says what the first build costs, before it starts.
announce-run:
	@ENGINE=$(ENGINE) scripts/announce-build.sh

test: deps components host-runner check-data check-core-wasm test-rust test-k8s schemathesis test-docs-page test-cors-page check-readme

deps:
	scripts/install-deps.sh
	scripts/install-browser.sh

# The Spin components (wasm32-wasip1) and the /docs site their docs component mounts.
components:
	scripts/build-components.sh

# The /docs site alone (Swagger UI from npm, pinned): what the native engine serves at /docs.
docs-ui:
	scripts/build-docs-ui.sh

host-runner:
	$(CARGO) build -p host-runner

# The end-to-end suite runs on six sets: host-runner native and wasm, and the Spin CLI, each on
# embedded stores and on PostgreSQL + Redis; the replica set (three replicas of each behind nginx)
# and the container contract (bubblewrap) run as test binaries of their own. Without a Spin CLI
# the Spin sets say so and run nothing.
test-rust: host-runner
	@if spin=$$(scripts/find-spin.sh); then echo "make test: the end-to-end suite runs on Spin too: $$spin ($$($$spin --version))"; \
	 else echo "make test: no Spin CLI (set SPIN_BIN or put spin on PATH): the end-to-end suite's Spin sets are NOT run"; fi
	$(CARGO) test --workspace

test-k8s: host-runner
	SPINCRUD_NO_BUILD=1 scripts/test-k8s.sh

# The bundled dataset is exactly what its seeded generator writes.
check-data:
	python3 data/generate_meteorites.py --check

# The core is target-neutral: it builds for wasm32-wasip1 on its own.
check-core-wasm:
	scripts/build-components.sh --core-only

# Fuzz host-runner against its own /openapi.json (pinned schemathesis in target/schemathesis-venv).
schemathesis: host-runner
	scripts/schemathesis.sh

# The API explorer page (/docs) in headless Chromium, on both engines.
test-docs-page: host-runner components
	SPINCRUD_NO_BUILD=1 scripts/test-docs-page.sh

# CORS from a page on another origin, in headless Chromium: native, wasm, and Spin when a Spin
# CLI is there.
test-cors-page: host-runner components
	SPINCRUD_NO_BUILD=1 scripts/test-cors-page.sh

# Every command in the README runs.
check-readme: host-runner
	scripts/check-readme.sh

# The benchmark at full size (45,716 /data records, 1,000,000 rows): too long for CI; the README
# records its figures.
bench-at-size:
	$(CARGO) run --release -p spincrud-bench -- --at-size full
