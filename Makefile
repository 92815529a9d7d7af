# The two commands a fresh clone needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run ocr-status test setup migrate load-data demo-users worker beat lint format check-migrations bench bench-datasette-venv clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

setup: $(STAMP)

# A development checkout's settings for manage.py in any new shell (never read by the server).
.env:
	printf '# Written by make run: development settings that manage.py reads.\nDEBUG=1\n' > .env

migrate: setup
	DEBUG=$${DEBUG:-1} $(PY) manage.py migrate --noinput

# Whether scanned PDFs can be read: Tesseract is a system package pip cannot install.
ocr-status: setup
	@$(PY) -c 'from research.extract import ocr_status; print(ocr_status())'

## Set up, load ICE's bundled real lists and MOAs, create demo accounts, serve.
run: ocr-status .env migrate
	DEBUG=$${DEBUG:-1} OCR_ENABLED=$${OCR_ENABLED:-0} $(PY) manage.py load_sample_data
	DEBUG=$${DEBUG:-1} $(PY) manage.py create_demo_users
	@echo "Serving the portal at http://$(HOST):$(PORT)/"
	DEBUG=$${DEBUG:-1} $(PY) manage.py runserver $(HOST):$(PORT)

## Set up and run the whole suite (SQLite unless DATABASE_URL is set).
test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

check-migrations: setup
	$(PY) manage.py makemigrations --check --dry-run

worker: setup
	$(VENV)/bin/celery -A portal worker --loglevel=INFO

beat: setup
	$(VENV)/bin/celery -A portal beat --loglevel=INFO --schedule var/celerybeat-schedule

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: setup
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

bench: setup
	$(PY) benchmarks/run_all.py

# Datasette for benchmarks/bench_datasette.py, in a venv of its own so it cannot change the portal's dependencies.
bench-datasette-venv:
	test -x var/datasette-venv/bin/python || $(PYTHON) -m venv var/datasette-venv
	var/datasette-venv/bin/pip install --quiet 'datasette>=0.65,<1'

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
