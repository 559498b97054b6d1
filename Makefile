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

.PHONY: run test lint typecheck test-fast test-slow test-export system-deps run-deps venv clean bench

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

# The `export` extra in its own venv: torch and open_clip are never needed to run Hachi,
# only to export models and to check that our tokenizer, preprocessing and ONNX graphs give
# exactly what open_clip gives. (pip takes torch from local disk where it is cached.)
$(EXPORT_STAMP): pyproject.toml
	@test -x $(EXPORT_VENV)/bin/python || $(PYTHON) -m venv $(EXPORT_VENV)
	$(EXPORT_VENV)/bin/pip install --quiet --upgrade pip
	$(EXPORT_VENV)/bin/pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(EXPORT_VENV)/bin/pip install --quiet open-clip-torch onnx onnxscript pytest pytest-timeout hypothesis
	$(EXPORT_VENV)/bin/pip install --quiet -e '.[export]'
	@touch $(EXPORT_STAMP)

test-export: $(EXPORT_STAMP)
	$(EXPORT_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/test_clip_parity.py

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

test: lint typecheck test-fast test-slow test-export

bench: $(STAMP)
	$(BIN)/python bench/bench_index.py
	$(BIN)/python bench/bench_query.py

clean:
	rm -rf $(VENV) $(EXPORT_VENV) .pytest_cache .ruff_cache .mypy_cache
