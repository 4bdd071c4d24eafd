# qapi-jobs: every target a user or CI needs.  `make run` and `make test`
# set everything up themselves, so they are all a fresh machine needs.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Three levels of install: what running the server needs (`make run`), the
# client beside it (`make client`), and everything for development (all four
# distributions editable, the dev tools, npm: `make setup`, `make test`).
RUN_STAMP := $(VENV)/.installed-run
CLIENT_STAMP := $(VENV)/.installed-client
STAMP  := $(VENV)/.installed-dev
DISTS  := proto client server codegen
NODE_STAMP := tests/node/node_modules/.installed
LISTEN ?= 127.0.0.1:50051
DATA_DIR ?= data
ENGINE ?= builtin

.PHONY: setup client run test qemu-next generate check-generated lint contracts breaking bench bench-smoke clean

setup: $(STAMP) $(NODE_STAMP)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(RUN_STAMP): $(VENV)/bin/python proto/pyproject.toml server/pyproject.toml
	$(BIN)/pip install -q -e ./proto -e ./server
	touch $@

# The `qapi-jobs` command and the Python client, beside the server.
client: $(CLIENT_STAMP)

$(CLIENT_STAMP): $(VENV)/bin/python proto/pyproject.toml client/pyproject.toml
	$(BIN)/pip install -q -e ./proto -e ./client
	touch $@

$(STAMP): $(VENV)/bin/python pyproject.toml $(DISTS:%=%/pyproject.toml)
	$(BIN)/pip install -q $(DISTS:%=-e ./%) --group dev
	touch $(RUN_STAMP) $(CLIENT_STAMP) $@

$(NODE_STAMP): tests/node/package.json tests/node/package-lock.json
	cd tests/node && npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: $(RUN_STAMP)
	mkdir -p $(DATA_DIR)
	$(BIN)/qapi-jobs-server --listen $(LISTEN) --data-dir $(DATA_DIR) --engine $(ENGINE)

test: setup
	$(BIN)/pytest

# QEMU 10.0's qemu-storage-daemon beside the system's, for the qemu engine's
# tests to run against both (see docs/qemu-engine.md).
qemu-next:
	.ci/qemu-next

# Rebuild every generated file from qapi/: the .proto files and their lock,
# the Python modules and stubs, and the typed client (its synchronous half
# generated from the asyncio one).
generate: $(STAMP)
	$(BIN)/python -m qapi_jobs.codegen proto qapi/qapi-schema.json --out proto \
		--package qapi_jobs.v1 --service JobsService
	$(BIN)/python -m qapi_jobs.codegen python proto
	$(BIN)/python -m qapi_jobs.codegen client qapi/qapi-schema.json --proto-package qapi_jobs.v1 \
		--service JobsService --out client/qapi_jobs/client/generated
	$(BIN)/python -m qapi_jobs.codegen unasync client/qapi_jobs/client
	$(BIN)/ruff check -q --fix --select I client/qapi_jobs/client/sync_calls.py \
		client/qapi_jobs/client/sync_client.py
	$(BIN)/ruff format -q client/qapi_jobs/client/generated client/qapi_jobs/client/sync_calls.py \
		client/qapi_jobs/client/sync_client.py

# Fails when a committed generated file differs from what `make generate` writes.
check-generated: generate
	@git add -N proto client >/dev/null 2>&1 || true
	@if ! git diff --quiet -- proto client; then \
		echo "generated files are stale; run 'make generate' and commit:"; \
		git diff --stat -- proto client; exit 1; fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy proto/qapi_jobs codegen/qapi_jobs server/qapi_jobs client/qapi_jobs tests bench examples
	$(MAKE) --no-print-directory contracts
	cd proto && ../$(BIN)/buf lint
	$(MAKE) --no-print-directory breaking

# The layer contracts of pyproject.toml's [tool.importlinter].
contracts: $(STAMP)
	$(BIN)/lint-imports --no-cache

# buf breaking against the previous commit's proto/, so that a change that
# would break existing clients is caught before it lands.
breaking: $(STAMP)
	@if git cat-file -e HEAD~1:proto/buf.yaml 2>/dev/null; then \
		$(BIN)/buf breaking proto --against '.git#ref=HEAD~1,subdir=proto'; \
	else echo "buf breaking: no earlier proto/ to compare against"; fi

bench: setup
	$(BIN)/python -m bench

bench-smoke: setup
	$(BIN)/python -m bench --smoke

clean:
	rm -rf $(VENV) tests/node/node_modules .mypy_cache .ruff_cache .pytest_cache
