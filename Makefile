# Two commands for a fresh machine: `make run` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
WORKERS ?= 4
THREADS ?= 4
CHROMIUM ?= /usr/bin/chromium

.PHONY: run test test-fast test-js check check-js bench serve install install-test chromium redis-server wrk node assets clean

$(BIN)/flask: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(BIN)/pytest: pyproject.toml $(BIN)/flask
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/flask

install-test: $(BIN)/pytest chromium redis-server

# Front-end packages (Vue, esbuild) from package-lock.json; npm ci runs again only when the lock file changes.
node_modules/.package-lock.json: package.json package-lock.json | node
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

node:
	@command -v npm >/dev/null || { echo "Installing Node.js for the front-end build..."; \
	  apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; }

# The tracking client, the Vue components and the plain CSS/JS, built by webassets into static/gen (content-hashed names).
static/gen/.built: $(shell find static/js static/css -type f) node_modules/.package-lock.json $(BIN)/flask
	WEBAPP_ENV=development $(BIN)/flask --app webapp assets build >/dev/null
	touch $@

assets: static/gen/.built

# Playwright cannot download its own browser here: tests use the system Chromium.
chromium:
	@[ -x "$(CHROMIUM)" ] || { echo "Installing Chromium for the browser tests..."; \
	  apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

# Cluster and fault tests start (and stop) their own redis-server processes.
redis-server:
	@command -v redis-server >/dev/null && command -v redis-cli >/dev/null || { echo "Installing Redis for the cluster and fault tests..."; \
	  apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; }

## Serve the app with demo data on http://127.0.0.1:$(PORT) (embedded Redis unless REDIS_URL is set).
run: install assets
	WEBAPP_ENV=development $(BIN)/flask --app webapp seed-demo
	WEBAPP_ENV=development PORT=$(PORT) $(BIN)/flask --app webapp run --host 127.0.0.1 --port $(PORT) --reload

## The same app under gunicorn with $(WORKERS) worker processes, as in production (WEBAPP_ENV=production needs SECRET_KEY).
## Threaded workers (gthread) park idle connections instead of waiting on them, as sync workers would;
## keep-alive stays off as with sync workers (a POST on a kept connection the worker is closing would fail).
## gunicorn.conf.py: each worker freezes the app it built out of the garbage collector's full collections.
serve: install assets
	@if [ "$${WEBAPP_ENV:-development}" != production ]; then WEBAPP_ENV=development $(BIN)/flask --app webapp seed-demo; fi
	WEBAPP_ENV=$${WEBAPP_ENV:-development} PORT=$(PORT) $(BIN)/gunicorn --config gunicorn.conf.py --workers $(WORKERS) \
	  --worker-class gthread --threads $(THREADS) --keep-alive 0 \
	  --bind 127.0.0.1:$(PORT) --access-logfile - 'webapp:create_app()'

## Install everything the tests need, then run the whole suite: the client's JS unit tests, then pytest.
test: install-test assets test-js
	$(BIN)/pytest

## The unit layer only: pure code, no Redis, browser or server (markers: unit, integration, browser).
test-fast: $(BIN)/pytest
	$(BIN)/pytest -m unit -q -p no:playwright

## The linters: ruff (lint and format), mypy on the tracking core (settings: pyproject.toml), eslint and prettier.
check: $(BIN)/pytest check-js
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## The tracking client's unit tests: node's test runner, a small DOM from happy-dom, a real local HTTP server.
test-js: node_modules/.package-lock.json
	node --test --test-reporter=spec tests/js/*.test.js

## eslint and prettier on the front-end code (settings: package.json, eslint.config.js); `npm run format` fixes.
check-js: node_modules/.package-lock.json
	npm run --silent lint

# The API benchmark's load generator: in C, outside the servers' Python, so it does not share their interpreter.
wrk:
	@command -v wrk >/dev/null || { echo "Installing wrk for the API benchmark..."; \
	  apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }

## Benchmarks: figures printed as ratios against a baseline measured in the same run.
bench: install-test assets wrk
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) instance node_modules static/gen static/.webassets-cache
