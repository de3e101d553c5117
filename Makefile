# Palate: `make run` starts the product on embedded defaults, `make test` runs
# the whole suite. Both create .venv and install what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint bench-queue clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# Web server, Celery worker and beat on a SQLite file and kombu's filesystem
# broker (no servers needed). DEBUG is on only here.
run: $(VENV)/.runtime
	DEBUG=1 $(BIN)/python manage.py migrate --noinput
	DEBUG=1 $(BIN)/python manage.py seed_demo
	DEBUG=1 HOST=$(HOST) PORT=$(PORT) $(BIN)/python scripts/run_all.py

# The whole suite; against PostgreSQL and Redis on localhost when they answer
# (CI=true makes a missing one fail the run instead of falling back).
test: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/python manage.py makemigrations --check --dry-run --settings=config.settings_test
	$(BIN)/python -m pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check .

bench-queue: $(VENV)/.dev
	$(BIN)/python benchmarks/queue.py

clean:
	rm -rf $(VENV) var staticfiles
