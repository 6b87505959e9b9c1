# The two commands of the README, and the steps they are made of.
#   make run    build and serve the API on 127.0.0.1:3000 (embedded SQLite + key-value store)
#   make test   every test: unit, end to end (embedded and PostgreSQL/Redis), wasm, manifests

CARGO ?= cargo

.PHONY: run test deps components host-runner test-rust test-k8s check-data check-core-wasm check-readme

run: components
	$(CARGO) run --release -p host-runner -- serve

test: deps components host-runner check-data check-core-wasm test-rust test-k8s check-readme

deps:
	scripts/install-deps.sh

# The six Spin components (wasm32-wasip1).
components:
	scripts/build-components.sh

host-runner:
	$(CARGO) build -p host-runner

test-rust: host-runner
	$(CARGO) test --workspace

test-k8s: host-runner
	SPINCRUD_NO_BUILD=1 scripts/test-k8s.sh

# The bundled dataset is exactly what its seeded generator writes.
check-data:
	python3 data/generate_meteorites.py --check

# The core is target-neutral: it builds for wasm32-wasip1 on its own.
check-core-wasm:
	scripts/build-components.sh --core-only

# Every command in the README runs.
check-readme: host-runner
	scripts/check-readme.sh
