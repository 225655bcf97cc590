# The README's commands. Every target creates and uses .venv itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# What running needs (the service, the devnet, the embedded PostgreSQL) and, for the test and
# lint targets, the development tools on top (pyproject.toml's extras).
RUN_EXTRAS := devnet,embedded
DEV_EXTRAS := dev,devnet,embedded
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed
export PYTHONDONTWRITEBYTECODE := 1
## Parallel pytest workers for `make test` (pytest-xdist; `0` runs in one process).
TEST_WORKERS ?= auto
PY_DIRS := $(wildcard src tests bench scripts examples)
# Seconds since $(1) (a $$EPOCHREALTIME), one decimal.
since = $$(awk -v a="$(1)" -v b="$$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')

.PHONY: install run test test-integration lint format build clean migrate-up migrate-down \
        dev-up dev-down bench ts-client docs console console-shots browser haproxy system-deps

# `make run` prints its own progress lines: pip says only what went wrong.
$(RUN_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -qq --upgrade pip
	@$(BIN)/python -m pip install -qq -e '.[$(RUN_EXTRAS)]'
	@touch $(RUN_STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(DEV_EXTRAS)]'
	@touch $(STAMP) $(RUN_STAMP)

install: $(STAMP)

## Start the embedded PostgreSQL (unless DATABASE_URL is set) and the devnet, migrate, serve the API.
## REPLICAS=3: three routers on the same database and devnet behind HAProxy (docs/scaling.md).
## Installs what running needs only (not the dev tools); prints each step with its time.
REPLICAS ?= 1
run:
	@if [ "$(REPLICAS)" != "1" ]; then $(MAKE) --no-print-directory haproxy; fi
	@t0=$$EPOCHREALTIME; \
	if $(MAKE) --no-print-directory -q $(RUN_STAMP); then \
	  echo "[run] install: up to date ($(VENV), .[$(RUN_EXTRAS)])"; \
	else \
	  echo "[run] install: .[$(RUN_EXTRAS)] into $(VENV) ..."; \
	  $(MAKE) --no-print-directory $(RUN_STAMP) || exit $$?; \
	  echo "[run] install: done in $(call since,$$t0)s"; \
	fi; \
	MAKE_RUN_STARTED=$$t0 MAKE_RUN_INSTALL_S=$(call since,$$t0) \
	  exec $(BIN)/dydx-router local run --replicas $(REPLICAS)

## The whole test suite (embedded PostgreSQL unless TEST_DATABASE_URL/DATABASE_URL is set).
## `-rs`: every skipped test is listed with its reason, not only counted.
test: $(STAMP) system-deps
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile -rs

## Only the tests that need PostgreSQL and the devnet over real sockets.
test-integration: $(STAMP) system-deps
	$(BIN)/pytest -rs tests/router/integration tests/router/e2e tests/devnet/integration tests/devnet/e2e

## The system packages the tests drive as real servers, from Debian, only when missing and apt-get
## is there: Chromium for the console's browser tests (tests/router/e2e/test_console.py; Playwright
## drives it, never a browser of its own download), HAProxy, the replicas' load balancer
## (`make run REPLICAS=3`, tests/router/integration/reliability, cli/test_local_replicas.py), and
## Node with npm for the official TypeScript client (tests/devnet/integration/test_ts_client.py).
## Each entry is `packages:command`: the packages (comma-separated) are installed when the command
## is absent, so a machine's own Node (e.g. 20 from NodeSource, npm included) is left as it is.
SYSTEM_PACKAGES := chromium:chromium haproxy:haproxy nodejs,npm:node
system-deps:
	@missing=""; for entry in $(SYSTEM_PACKAGES); do \
	  command -v "$${entry##*:}" >/dev/null 2>&1 || missing="$$missing $${entry%%:*}"; \
	done; missing="$${missing//,/ }"; \
	if [ -n "$$missing" ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing$$missing (Debian packages the tests drive)"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q$$missing \
	    || echo "could not install$$missing: the browser and HAProxy tests skip, the Node one fails"; \
	fi

## One of them alone: HAProxy for `make run REPLICAS=N` (N > 1), Chromium (docs/console.md).
haproxy browser:
	@$(MAKE) --no-print-directory system-deps \
	  SYSTEM_PACKAGES=$(filter $(subst browser,chromium,$@):%,$(SYSTEM_PACKAGES))

## Build the operator console (console/, needs node 20 + npm) into the package; the bundle is
## committed, so that `make run` needs no Node. A unit test fails when the bundle is stale.
console: $(STAMP)
	$(BIN)/python scripts/build_console.py

## Regenerate docs/console.md's screenshots (headless Chromium against a devnet + router).
console-shots: $(STAMP) browser
	CONSOLE_SHOTS_DIR=docs/console $(BIN)/pytest tests/router/e2e/test_console.py -x -q

## The official TypeScript client's npm project (npm ci from its lock file, once; tests reuse it).
ts-client: $(STAMP)
	@$(MAKE) --no-print-directory system-deps SYSTEM_PACKAGES=$(filter %:node,$(SYSTEM_PACKAGES))
	$(BIN)/python scripts/ts_client.py

## The standard benchmark scenarios; prints the table and writes bench/results/latest.md.
bench: $(STAMP)
	$(BIN)/python bench/run_all.py

## Regenerate the references generated from the code (configuration, errors, schema, OpenAPI).
docs: $(STAMP)
	$(BIN)/python scripts/gen_docs.py

lint: $(STAMP)
	$(BIN)/ruff format --check $(PY_DIRS)
	$(BIN)/ruff check $(PY_DIRS)
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format $(PY_DIRS)
	$(BIN)/ruff check --fix $(PY_DIRS)

build: $(STAMP)
	$(BIN)/python -m build --wheel --outdir dist .

migrate-up: $(RUN_STAMP)
	$(BIN)/dydx-router local migrate up

migrate-down: $(RUN_STAMP)
	$(BIN)/dydx-router local migrate down

## Start the local dependencies in the background; dev-down stops exactly those.
dev-up: $(RUN_STAMP)
	$(BIN)/dydx-router local up

dev-down: $(RUN_STAMP)
	$(BIN)/dydx-router local down

clean:
	-@test -x $(BIN)/dydx-router && $(BIN)/dydx-router local down >/dev/null 2>&1 || true
	rm -rf $(VENV) .venv-official tests/devnet/integration/ts_client/node_modules console/node_modules dist build .pytest_cache .mypy_cache .ruff_cache .hypothesis .local
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
