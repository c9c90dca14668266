# Two commands for a fresh machine: `make run` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
WORKERS ?= 4
CHROMIUM ?= /usr/bin/chromium

.PHONY: run test bench serve install install-test chromium redis-server clean

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

# Playwright cannot download its own browser here: tests use the system Chromium.
chromium:
	@[ -x "$(CHROMIUM)" ] || { echo "Installing Chromium for the browser tests..."; \
	  apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

# Cluster and fault tests start (and stop) their own redis-server processes.
redis-server:
	@command -v redis-server >/dev/null && command -v redis-cli >/dev/null || { echo "Installing Redis for the cluster and fault tests..."; \
	  apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; }

## Serve the app with demo data on http://127.0.0.1:$(PORT) (embedded Redis unless REDIS_URL is set).
run: install
	WEBAPP_ENV=development $(BIN)/flask --app webapp seed-demo
	WEBAPP_ENV=development PORT=$(PORT) $(BIN)/flask --app webapp run --host 127.0.0.1 --port $(PORT) --reload

## The same app under gunicorn with $(WORKERS) worker processes, as in production (WEBAPP_ENV=production needs SECRET_KEY).
serve: install
	@if [ "$${WEBAPP_ENV:-development}" != production ]; then WEBAPP_ENV=development $(BIN)/flask --app webapp seed-demo; fi
	WEBAPP_ENV=$${WEBAPP_ENV:-development} PORT=$(PORT) $(BIN)/gunicorn --workers $(WORKERS) \
	  --bind 127.0.0.1:$(PORT) --access-logfile - 'webapp:create_app()'

## Install everything the tests need, then run the whole suite.
test: install-test
	$(BIN)/pytest

## Benchmarks: figures printed as ratios against a baseline measured in the same run.
bench: install-test
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) instance static/gen static/.webassets-cache
