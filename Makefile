# crumbless task runner: `make help` lists the targets.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA_DIR ?= ./data
PORT ?= 8000
STAMP := $(VENV)/.installed

.PHONY: help install run test audit lint bench bench-full clean distclean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	@# setuptools warns on every editable install that local folders shadow packages: known here
	PYTHONWARNINGS='ignore:Editable installation' $(BIN)/pip install -q -c constraints.txt -e '.[test,bench]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install crumbless with pinned dependencies

run: $(STAMP)  ## install, then serve the embedded mode on 127.0.0.1 (make run PORT=8000 DATA_DIR=./data)
	$(BIN)/crumbless serve --host 127.0.0.1 --port $(PORT) --data-dir $(DATA_DIR)

test: lint  ## install, ruff + mypy, then the whole test suite (starts a real Kafka broker)
	@# the dependency audit needs PyPI's per-version JSON API (pypi.org itself); `make audit`
	$(BIN)/python -m pytest -q -m "not audit"

audit: $(STAMP)  ## pip-audit of constraints.txt against PyPI's vulnerability data
	$(BIN)/python -m pytest -q -m audit tests/unit/test_dependency_audit.py

lint:  $(STAMP) ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/mypy contract collector processors sinks dashboards crumbless

bench: $(STAMP)  ## the quick benchmark profile, about 10 minutes (numbers go to docs/benchmarks.md)
	$(BIN)/python -m bench --quick

bench-full: $(STAMP)  ## every benchmark at full size (dashboard at 1M and 10M events: ~15 min)
	$(BIN)/python -m bench

clean:  ## remove the virtualenv and tool caches (not the data directory)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

distclean: clean  ## also remove the Kafka jars the tests cached in ~/.cache/crumbless
	rm -rf $(HOME)/.cache/crumbless
