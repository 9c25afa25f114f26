# Two commands for a newcomer: `make demo` and `make test`. Both set up everything.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/ladderlab
TEST_BROKER_URL ?= redis://127.0.0.1:6379/15

.PHONY: demo test install services chromium benchmarks clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The embedded default: SQLite + a broker on the filesystem, a real worker.
demo: install
	env -u DATABASE_URL -u CELERY_BROKER_URL $(PY) manage.py demo

# PostgreSQL and Redis, started here if they are down.
services:
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(pg_lsclusters -h | awk '{print $$1; exit}') main start
	@for i in $$(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
	@for i in $$(seq 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done

chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

# tests/settings.py gives the run a secret key, so no SECRET_KEY is needed here.
test: install services chromium
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) $(PY) -m pytest

# Every speed/memory target; figures go to benchmarks/RESULTS.md by hand.
# PostgreSQL with DEBUG off needs a secret key; one made for this run does.
benchmarks: install services
	$(PY) -m pip install -q -e '.[test,bench]'
	export SECRET_KEY=$${SECRET_KEY:-$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))')}; \
	for script in benchmarks/bench_*.py; do DATABASE_URL=$(TEST_DATABASE_URL) $(PY) $$script || exit 1; done

clean:
	rm -rf var .pytest_cache
