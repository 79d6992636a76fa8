# nctool developer commands. Every target installs what it needs first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
MINT_VENV := .venv-mint
BIN := $(VENV)/bin
NUTSHELL := "cashu==0.19.2" "marshmallow<4" "limits<4"
MINT_PORT ?= 3338
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install promtool postgres run demo test test-sqlite test-postgres bench lint fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

$(MINT_VENV)/bin/mint:
	$(PYTHON) -m venv $(MINT_VENV)
	$(MINT_VENV)/bin/pip install -q $(NUTSHELL)

# promtool tests the alert rules; Debian ships it in the prometheus package.
promtool:
	@command -v promtool >/dev/null || { \
	  echo "installing promtool (Debian package prometheus)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }

# The tests run against a throwaway PostgreSQL cluster; Debian ships the server in postgresql.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || { \
	  echo "installing the PostgreSQL server (Debian package postgresql)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends postgresql >/dev/null; }

install: $(VENV)/.installed $(MINT_VENV)/bin/mint

## run: the service on 127.0.0.1:$${NCTOOL_PORT:-3000}, SQLite in ./data, dev mint unless NCTOOL_MINT_URL is set.
## In a terminal it stays in the foreground (Ctrl-C stops it); from a script it returns once ready.
run: install
	mkdir -p data
	if [ -t 0 ]; then exec $(BIN)/nctool run --mint-port $(MINT_PORT); \
	else exec $(BIN)/nctool run --mint-port $(MINT_PORT) --background; fi

## demo: fund a wallet and pay an invoice on a fresh dev mint and service; exit 0 only if the money adds up
demo: install
	$(BIN)/nctool demo

## test: the whole suite against real Nutshell mints on 127.0.0.1, once on SQLite and once on a throwaway PostgreSQL
test: test-sqlite test-postgres

## test-sqlite: the whole suite on SQLite only
test-sqlite: install promtool
	NCTOOL_TEST_DATABASE=sqlite $(BIN)/python -m pytest -q

## test-postgres: the whole suite on a PostgreSQL cluster the tests create in a temporary directory
test-postgres: install promtool postgres
	NCTOOL_TEST_DATABASE=postgresql $(BIN)/python -m pytest -q

## bench: melt latency, throughput and overhead on SQLite and PostgreSQL, Nutshell's wallet on the same mint, store figures; rewrites docs/benchmarks.md
bench: install postgres
	$(BIN)/python bench/run.py

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

## fuzz: long Hypothesis runs of the decoders (tokens, invoices, npubs, NIP-98) and schemathesis on the API
fuzz: install
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q tests/cashu/test_tokens.py tests/wallet/test_invoice.py \
	  tests/nostr/test_nip19.py tests/nostr/test_nip98.py
	NCTOOL_FUZZ_EXAMPLES=200 $(BIN)/python -m pytest -q tests/api/test_fuzz_api.py

clean:
	rm -rf $(VENV) $(MINT_VENV) data .pytest_cache .mypy_cache .ruff_cache
