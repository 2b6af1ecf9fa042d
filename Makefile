# Developer and CI entry points (GNU make). `make help` lists them.
# Needs only Python 3.11+ and make: everything else goes into .venv.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules --no-print-directory

# Interpreter that creates the venv; e.g. `make PYTHON=python3.12 install`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements.stamp
REQUIREMENTS := requirements.txt requirements-dev.txt

# Runtime state (the embedded PostgreSQL and Redis, beat schedule, static files). The
# settings default to ./var too; VAR_DIR in the environment moves it.
VAR_DIR ?= $(CURDIR)/var
# Tests get their own folder, so their own embedded servers: a task they publish must
# never land in the queue that a running `make run` worker consumes.
TEST_VAR_DIR ?= $(CURDIR)/var/test
RUN_ADDR ?= 127.0.0.1:8000
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: help venv install run test screenshots stop lint format check-deploy bench clean distclean

help:
	@echo "make install       create .venv (Python 3.11+) and install requirements*.txt when they change"
	@echo "make run           migrate, load the playbook, seed demo data, then serve http://$(RUN_ADDR)/"
	@echo "                   with a Celery worker and beat (embedded PostgreSQL + Redis under var/"
	@echo "                   unless DATABASE_URL / REDIS_URL name servers)"
	@echo "make test          the whole pytest suite (same servers rule, under var/test/)"
	@echo "make screenshots   the browser tests, which rewrite docs/screenshots/*.png"
	@echo "make stop          stop the embedded PostgreSQL and Redis (make run's and make test's)"
	@echo "                   narrow it with: make test PYTEST_ARGS='tests/unit -k clock'"
	@echo "make lint          ruff check + ruff format --check + lint-imports (the layers)"
	@echo "make format        ruff format + ruff check --fix"
	@echo "make check-deploy  manage.py check --deploy with production-like settings, warnings fail"
	@echo "make bench         python -m bench (BENCH_ARGS=...)"
	@echo "make clean         stop the embedded servers, remove var/ (dev database included) and caches; distclean also .venv"

# --- Environment -----------------------------------------------------------------------

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed, found " + sys.version.split()[0] + ": run make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)

# Reinstalls whenever a requirements file is newer than the stamp.
$(STAMP): $(REQUIREMENTS) | $(PY)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	@touch $@

venv install: $(STAMP)

# --- Running -----------------------------------------------------------------------------

run: export DEBUG := 1
run: export SECRET_KEY := dev-only-insecure-secret-key-never-use-in-production
run: export VAR_DIR := $(VAR_DIR)
# Links in notifications point at the address this run serves, unless SITE_URL says otherwise.
run: export SITE_URL := $(or $(SITE_URL),http://$(RUN_ADDR))
run: install
	mkdir -p "$(VAR_DIR)/static"
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_playbook
	$(PY) manage.py seed_demo
	exec $(PY) scripts/devserver.py --addr $(RUN_ADDR)

# --- Checks ------------------------------------------------------------------------------

# Settings refuse to load without SECRET_KEY when DEBUG is off; TESTING=1 keeps the plain
# static storage (no collectstatic manifest). HTTPS redirects and Secure-only cookies are
# off so the test client and the browser tests can use plain http://; a test about them
# turns them on with override_settings.
test: export DEBUG := 0
test: export SECRET_KEY := test-only-secret-key-not-for-production
test: export TESTING := 1
test: export SECURE_SSL_REDIRECT := 0
test: export SECURE_COOKIES := 0
test: export VAR_DIR := $(TEST_VAR_DIR)
test: install
	bash scripts/ensure-chromium.sh
	mkdir -p "$(TEST_VAR_DIR)/static"
	rc=0; $(PY) -m pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ "$$rc" -eq 5 ]; then echo "make test: pytest collected no tests; that is a failure" >&2; fi; \
	exit "$$rc"

# The screenshots in docs/screenshots/ are written by the browser tests.
screenshots:
	$(MAKE) test PYTEST_ARGS='tests/browser'

lint: install
	rc=0; \
	$(VENV)/bin/ruff check . || rc=1; \
	$(VENV)/bin/ruff format --check . || rc=1; \
	$(VENV)/bin/lint-imports || rc=1; \
	exit "$$rc"

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Production-like environment: DEBUG off, a fresh random 86-character SECRET_KEY, a real
# host, and none of the variables that relax the security defaults.
check-deploy: install
	env -u TESTING -u SECURE_SSL_REDIRECT -u SECURE_COOKIES -u SECURE_HSTS_SECONDS -u SECURE_HSTS_PRELOAD \
		DEBUG=0 ALLOWED_HOSTS=example.com DATABASE_URL=postgres://db.example.com/escalations \
		REDIS_URL=redis://redis.example.com:6379/0 CACHE_URL=redis://redis.example.com:6379/1 \
		SECRET_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(64))')" \
		$(PY) manage.py check --deploy --fail-level WARNING

bench: export DEBUG ?= 0
bench: export SECRET_KEY ?= bench-only-secret-key-not-for-production
bench: export TESTING ?= 1
bench: install
	@if [ -f bench/__main__.py ]; then \
		$(PY) -m bench $(BENCH_ARGS); \
	else \
		echo "make bench: no benchmarks yet (bench/__main__.py is missing)"; \
	fi

stop: install
	VAR_DIR="$(VAR_DIR)" $(PY) -m config.embedded stop
	VAR_DIR="$(TEST_VAR_DIR)" $(PY) -m config.embedded stop

clean:
	if [ -x "$(PY)" ]; then $(MAKE) stop; fi
	rm -rf var .pytest_cache .ruff_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
