# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: run test lint install install-dev format traceability screenshots prod-check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

# Test-only JavaScript (axe-core for the accessibility browser tests), pinned in package-lock.json.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev node_modules/.package-lock.json

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py seed_demo
	@echo ""
	@echo "EHR running at http://127.0.0.1:8000/  (ID.me sandbox at http://127.0.0.1:8000/idme-sandbox/)"
	@echo "Press Ctrl-C to stop the web server, the worker and beat."
	$(BIN)/honcho start -f Procfile

test: install-dev
	$(BIN)/pytest

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

traceability: install-dev
	$(BIN)/pytest --collect-only -q --traceability=docs/traceability.md >/dev/null

screenshots: install-dev
	EHR_UPDATE_SCREENSHOTS=1 $(BIN)/pytest tests/e2e/test_seed_walk.py tests/e2e/test_accessibility.py -q -k "seed_article or phone"

# The production-like stack (gunicorn, PostgreSQL, Redis, worker, beat, Caddy with TLS) walked in
# Chromium, then stopped: deploy/prod_check.py, docs/operations.md.
prod-check: install-dev
	$(BIN)/python deploy/prod_check.py

clean:
	rm -rf var/cache var/cache-test var/celery var/celery-test var/test-db.sqlite3*
