# The web UI: build it, install what the browser tests need, run them, and run Caddy.
# Included from the Makefile; uses its BIN, PORT and STAMP variables.
# `make ui` needs Node.js >= 20.19 (npm); running Hachi afterwards does not.

UI_DIR := frontend
BROWSER_TESTS := tests/browser
UI_PORT ?= 8443
UI_SITE ?= localhost:$(UI_PORT)

.PHONY: ui browser-deps test-browser run-caddy

ui:
	cd $(UI_DIR) && npm ci --no-audit --no-fund && npx vite build

$(BROWSER_TESTS)/node_modules/.package-lock.json: $(BROWSER_TESTS)/package-lock.json
	cd $(BROWSER_TESTS) && npm ci --no-audit --no-fund

# Debian packages: Chromium drives the browser tests, Caddy serves the UI. Installed only when
# missing and when we may (root); playwright-core never downloads a browser of its own.
browser-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v caddy >/dev/null || missing="$$missing caddy"; \
	command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "note: missing$$missing (Debian: apt-get install$$missing); browser tests will skip"; fi; \
	fi

test-browser: $(STAMP) browser-deps $(BROWSER_TESTS)/node_modules/.package-lock.json
	@test -f hachi/static/index.html || $(MAKE) ui
	$(BIN)/pytest -q tests/test_browser.py

# Caddy in front of `hachi serve` (which must listen on 127.0.0.1:$(PORT)); the UI is then at
# https://$(UI_SITE) (Caddy's internal CA). For the LAN: make run-caddy UI_SITE=photos.home.arpa
# and set HACHI_ALLOWED_HOSTS=photos.home.arpa for `hachi serve`.
run-caddy:
	HACHI_SITE=$(UI_SITE) HACHI_PORT=$(PORT) HACHI_STATIC=$(CURDIR)/hachi/static \
	  caddy run --config hachi/server/Caddyfile --adapter caddyfile
