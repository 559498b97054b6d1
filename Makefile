# Hachi: the two commands a new machine needs are `make run PHOTOS=/some/folder` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8686
PHOTOS ?=
STAMP := $(VENV)/.installed

EXPORT_VENV := .venv-export
EXPORT_STAMP := $(EXPORT_VENV)/.installed

.PHONY: lock run test lint typecheck test-fast test-slow test-export system-deps run-deps venv clean bench

# Every install comes from the lock files in requirements/ (exact versions, sha256 hashes), so a
# fresh machine on any day gets the same set; `make lock` refreshes them on purpose.
LOCKS := requirements/build.txt requirements/dev.txt
PIP_LOCKED := --quiet --require-hashes --no-deps

$(STAMP): $(LOCKS) pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_LOCKED) -r requirements/build.txt -r requirements/dev.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

venv: $(STAMP)

# The `export` extra in its own venv: torch and open_clip are never needed to run Hachi,
# only to export models and to check that our tokenizer, preprocessing and ONNX graphs give
# exactly what open_clip gives. (pip takes torch 2.14.1 from local disk where it lies there.)
$(EXPORT_STAMP): requirements/build.txt requirements/export.txt pyproject.toml
	@test -x $(EXPORT_VENV)/bin/python || $(PYTHON) -m venv $(EXPORT_VENV)
	$(EXPORT_VENV)/bin/pip install $(PIP_LOCKED) -r requirements/build.txt -r requirements/export.txt
	$(EXPORT_VENV)/bin/pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(EXPORT_STAMP)

# Refresh the lock files (newest versions the ranges in pyproject.toml and requirements/*.in
# allow, for every platform); review the diff, run `make test`, commit.
UV_VERSION := 0.13.9
UV := $(VENV)/bin/uv
lock:
	@test -x $(UV) || $(BIN)/pip install --quiet uv==$(UV_VERSION)
	$(UV) pip compile --quiet --universal --generate-hashes --python-version 3.11 requirements/build.in -o requirements/build.txt $(UPGRADE)
	$(UV) pip compile --quiet --universal --generate-hashes --python-version 3.11 pyproject.toml -o requirements/run.txt $(UPGRADE)
	$(UV) pip compile --quiet --universal --generate-hashes --python-version 3.11 pyproject.toml --extra dev -o requirements/dev.txt $(UPGRADE)
	$(UV) pip compile --quiet --universal --generate-hashes --python-version 3.11 pyproject.toml requirements/export.in --extra export -o requirements/export.txt $(UPGRADE)

# open_clip parity: only the export venv has torch and open_clip, so only test-export runs it.
PARITY_TESTS := tests/test_clip_parity.py

test-export: $(EXPORT_STAMP)
	$(EXPORT_VENV)/bin/python -m pytest -q -p no:cacheprovider $(PARITY_TESTS)

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

# run-deps too: the serve and intake tests behind Caddy (the setpriv one among them) are in
# this suite, and on a fresh machine they skipped, Caddy arriving only with browser-deps.
test-fast: $(STAMP) system-deps run-deps
	$(BIN)/pytest -q -rs -m "not slow" --ignore=$(PARITY_TESTS)

test-slow: $(STAMP) system-deps browser-deps $(BROWSER_TESTS)/node_modules/.package-lock.json
	@test -f hachi/static/index.html || $(MAKE) ui
	$(BIN)/pytest -q -rs -m slow --ignore=$(PARITY_TESTS)

test: lint typecheck test-fast test-slow test-export

bench: $(STAMP)
	$(BIN)/python bench/bench_index.py
	$(BIN)/python bench/bench_query.py

clean:
	rm -rf $(VENV) $(EXPORT_VENV) .pytest_cache .ruff_cache .mypy_cache
