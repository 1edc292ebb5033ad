# leapsync: `make run` (the product on its embedded default) and `make test` (the suite).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
MANAGE := DEBUG=1 $(BIN)/python manage.py

.PHONY: install run test e2e lint format audit bench clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements/base.txt requirements/test.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/test.txt
	touch $@

run: install
	scripts/dev-run.sh

# The browser tests (tests/e2e) run as part of `make test` when /usr/bin/chromium exists.
test: install
	$(BIN)/python -m pytest -q -n 2 $(PYTEST_ARGS)

e2e: install
	$(BIN)/python -m pytest -q -m e2e $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(MANAGE) makemigrations --check --dry-run

# Known vulnerabilities in the pinned requirements (fails on one; says so when offline).
audit: install
	$(BIN)/python scripts/audit_deps.py

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The sync benchmark needs PostgreSQL (BENCH_DATABASE_URL, default a local leapsync_bench).
bench: install
	$(BIN)/python scripts/bench_sync.py --meters $(or $(METERS),100000)

clean:
	rm -rf $(VENV) staticfiles
