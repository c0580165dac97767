# gradeflow — the commands of BRIEF section 9.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
GF := $(BIN)/gradeflow
STAMP := $(VENV)/.install-stamp
CHROMIUM ?= /usr/bin/chromium

.PHONY: install run test test-unprivileged lint services browser stack nginx clean bench

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# Grading runs in the secure sandbox as root or as any user where unprivileged user
# namespaces are enabled; `make run INSECURE_SANDBOX=1` grades without isolation
# instead, where neither is possible (development only, never with untrusted code).
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
	$(MAKE) test-unprivileged

# The sandbox and attack tests again as an ordinary user (nobody), so the sandbox is
# tested without root too. Its own venv, from Debian's interpreter: the default one
# may live under /root, which nobody can read; the editable install points at src/,
# which must be readable by nobody too.
UNPRIV_VENV := .venv-unprivileged
UNPRIV_STAMP := $(UNPRIV_VENV)/.install-stamp
UNPRIV_USER ?= nobody
UNPRIV_GROUP ?= nogroup
UNPRIV_HOME := $(UNPRIV_VENV)/home

$(UNPRIV_STAMP): pyproject.toml
	@test -x $(UNPRIV_VENV)/bin/python || (umask 022 && /usr/bin/python3 -m venv $(UNPRIV_VENV))
	umask 022 && $(UNPRIV_VENV)/bin/pip install --quiet -e '.[dev]'
	@touch $(UNPRIV_STAMP)

test-unprivileged: $(UNPRIV_STAMP)
	@if [ "$$(id -u)" != 0 ]; then echo "test-unprivileged: skipped, pytest already ran as uid $$(id -u)"; exit 0; fi; \
	set -e; rm -rf $(UNPRIV_HOME) && install -d -m 0700 -o $(UNPRIV_USER) -g $(UNPRIV_GROUP) $(UNPRIV_HOME); \
	setpriv --reuid=$(UNPRIV_USER) --regid=$(UNPRIV_GROUP) --clear-groups --reset-env \
	  env HOME=$(CURDIR)/$(UNPRIV_HOME) TMPDIR=$(CURDIR)/$(UNPRIV_HOME) PYTHONDONTWRITEBYTECODE=1 \
	  PYTHONPATH=$(CURDIR) $(CURDIR)/$(UNPRIV_VENV)/bin/pytest -q -p no:cacheprovider \
	  --basetemp=$(CURDIR)/$(UNPRIV_HOME)/pytest tests/grading/sandbox tests/sandbox; \
	rm -rf $(UNPRIV_HOME)

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
	rm -rf $(VENV) $(UNPRIV_VENV) .mypy_cache .ruff_cache .pytest_cache
