# leapsync: `make run` (the product on its embedded default) and `make test` (the suite).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
MANAGE := DEBUG=1 $(BIN)/python manage.py

.PHONY: install run test e2e lint format audit bench clean requirements

install: $(VENV)/.installed

$(VENV)/.installed: requirements/base.txt requirements/test.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/test.txt
	touch $@

# `make run PORT=8100` (or HOST=...) serves elsewhere; emails link there too (SITE_URL, unless set).
run: install
	scripts/dev-run.sh

# The browser tests (tests/e2e) run as part of `make test` when /usr/bin/chromium exists.
test: install
	$(BIN)/python -m pytest -q -n 2 --dist worksteal $(PYTEST_ARGS)

e2e: install
	$(BIN)/python -m pytest -q -m e2e $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	DEBUG=1 $(BIN)/mypy
	$(MANAGE) makemigrations --check --dry-run

# Known vulnerabilities in the pinned requirements (fails on one; says so when offline).
audit: install
	$(BIN)/python -m pip install --quiet -r requirements/audit.txt
	$(BIN)/python scripts/audit_deps.py

# Pin every package again from the short .in files (after editing one of them).
PIP_COMPILE := $(BIN)/pip-compile --quiet --allow-unsafe --strip-extras --no-emit-index-url \
	--no-emit-find-links --no-emit-trusted-host
requirements:
	$(BIN)/python -m pip install --quiet pip-tools==7.6.2
	$(PIP_COMPILE) -o requirements/base.txt requirements/base.in
	$(PIP_COMPILE) -o requirements/test.txt requirements/test.in
	$(PIP_COMPILE) -o requirements/audit.txt requirements/audit.in

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The sync benchmark needs PostgreSQL (BENCH_DATABASE_URL, default a local leapsync_bench); it
# ends with leapsync beside dlt at DLT_METERS (dlt goes into a scratch virtualenv under .bench/).
bench: install
	$(BIN)/python scripts/bench_sync.py --meters $(or $(METERS),100000) \
		--dlt-meters $(or $(DLT_METERS),100000)

clean:
	rm -rf $(VENV) staticfiles
