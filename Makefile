# The two commands of the README: `make run` and `make test`. Everything else is what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FLASK := $(BIN)/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test setup setup-test lint worker workers

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)
	scripts/system-packages.sh

setup-test: $(STAMP)
	scripts/system-packages.sh --test

## Set up, migrate the embedded SQLite database, load the demo, serve with a dossier worker.
run: setup
	$(FLASK) db upgrade
	$(FLASK) demo
	START_EMBEDDED_WORKER=1 $(FLASK) run --host $(HOST) --port $(PORT)

## Set up, then lint and run the whole suite on SQLite and on PostgreSQL with real Redis.
test: setup-test
	scripts/services.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	TEST_DATABASES=sqlite,postgresql $(BIN)/python -m pytest

## A real RQ worker process for production (needs DATABASE_URL and REDIS_URL).
worker: setup
	$(FLASK) worker

## N worker processes on this machine (default 2); Ctrl-C stops them all.
N ?= 2
workers: setup
	trap 'kill 0' INT TERM; for i in $$(seq $(N)); do $(FLASK) worker & done; wait

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
