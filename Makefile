# inbox-gateway: `make run` starts the daemon, `make test` runs every check CI runs.
# Everything lives in .venv, created on first use; `make help` lists the targets.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= config.example.toml

# Playwright drives Debian's /usr/bin/chromium and never downloads a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help install run sandbox lint test bench browsers node postgres clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

# bootstrap.sh compares a fingerprint (the packages' file list among it), so an edited file
# costs no reinstall and only an added or removed one relinks the editable install.
PACKAGE_FILES := $(shell find gateway channels adapters -type f ! -path '*/__pycache__/*')
$(STAMP): pyproject.toml scripts/bootstrap.sh $(PACKAGE_FILES) $(wildcard tests/plugin_adapter/pyproject.toml tests/plugin_adapter/setup.cfg tests/plugin_adapter/setup.py)
	@scripts/bootstrap.sh

install: $(STAMP) ## create .venv and install the project with its test tools

run: $(STAMP) ## start the daemon with config.example.toml (CONFIG=... for another)
	exec $(BIN)/inbox-gateway run --config $(CONFIG)

sandbox: $(STAMP) ## start the daemon against loopback fakes of every provider
	exec $(BIN)/inbox-gateway sandbox

lint: $(STAMP) ## ruff, mypy --strict (the example plug-in too) and the import-layering contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict
	cd tests/plugin_adapter && ../../$(BIN)/mypy --strict
	$(BIN)/lint-imports --no-cache

test: lint ## lint, then the tests on SQLite and on PostgreSQL (ARGS=... for pytest)
	scripts/test.sh $(ARGS)

bench: $(STAMP) ## measure inbound, outbound, web chat at scale, size, a paced queue, outbox retention, render (QUICK=1: smoke run)
	QUICK=$(QUICK) PYTHON=$(BIN)/python scripts/bench.sh

browsers: ## install Debian's Chromium for the browser tests
	scripts/chromium.sh --install

node: ## install Debian's Node.js for the widget's syntax check
	scripts/node.sh --install

postgres: ## start the throwaway test PostgreSQL and print its URL
	@scripts/postgres.sh start

clean: ## stop the test PostgreSQL and remove .venv, var/ and caches
	scripts/postgres.sh stop
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .import_linter_cache .hypothesis *.egg-info build dist
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
