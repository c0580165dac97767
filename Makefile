# gradeflow — the commands of BRIEF section 9.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
GF := $(BIN)/gradeflow
STAMP := $(VENV)/.install-stamp
CHROMIUM ?= /usr/bin/chromium

.PHONY: install run test lint services browser stack nginx clean bench

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# Grading needs root for its namespaces; `make run INSECURE_SANDBOX=1` grades without
# isolation instead (development only, never with untrusted code).
RUN_ENV := $(if $(INSECURE_SANDBOX),GRADEFLOW_INSECURE_SANDBOX=true,)

run: install
	$(GF) db upgrade
	$(RUN_ENV) $(GF) assignments import demo/python-basics --skip-existing
	$(RUN_ENV) $(GF) serve

services:
	bash scripts/ensure-services

browser:
	@test -x $(CHROMIUM) || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

test: install services browser nginx
	GRADEFLOW_CHROMIUM=$(CHROMIUM) $(BIN)/pytest

nginx:
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx; }

stack: install services nginx
	$(GF) stack up --web 2 --workers 2

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/sandbox.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
