# Hachi: the two commands a new machine needs are `make run PHOTOS=/some/folder` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8686
PHOTOS ?=
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck test-fast test-slow system-deps run-deps venv clean bench

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

include ui.mk

# Debian packages the tests use (ExifTool is the metadata reference). Installed only when
# missing and only when we may (root); otherwise the tests that need them say so.
system-deps:
	@if ! command -v exiftool >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libimage-exiftool-perl >/dev/null; \
	  else echo "note: exiftool not installed (Debian: libimage-exiftool-perl); its comparison test will skip"; fi; \
	fi

# Caddy puts HTTPS in front of Hachi; without it (and without root to install it) Hachi
# serves directly on 127.0.0.1 and says how to get Caddy.
run-deps:
	@if ! command -v caddy >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq caddy >/dev/null || true; \
	fi

run: $(STAMP) run-deps
	@HACHI_PORT=$(PORT) $(BIN)/hachi serve --caddy $(if $(PHOTOS),--index "$(PHOTOS)")

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy hachi

test-fast: $(STAMP) system-deps
	$(BIN)/pytest -q -m "not slow"

test-slow: $(STAMP) system-deps browser-deps $(BROWSER_TESTS)/node_modules/.package-lock.json
	@test -f static/index.html || $(MAKE) ui
	$(BIN)/pytest -q -m slow

test: lint typecheck test-fast test-slow

bench: $(STAMP)
	$(BIN)/python bench/bench_index.py
	$(BIN)/python bench/bench_query.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
