# gradeflow — the commands of BRIEF section 9.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
GF := $(BIN)/gradeflow
STAMP := $(VENV)/.install-stamp
CHROMIUM ?= /usr/bin/chromium

.PHONY: install bytecode run test test-unprivileged cgroup-vm lint services browser stack multihost chaos soak nginx clean bench bench-grades bench-paths frontend

install: $(STAMP) frontend bytecode

# The package's modules compiled ahead (as pip does for a wheel, not for an editable
# install): the sandbox's zygote starts as `python -B` and imports its modules from
# here, and without bytecode it compiled them all again at every start (80–120 ms).
# Only what changed since is compiled again.
bytecode: $(STAMP)
	@$(BIN)/python -m compileall -q src/gradeflow

# The practice page's code editor (CodeMirror 6 from npm, package-lock.json pinned),
# bundled by esbuild into the package's static files; not committed. Without it the
# page falls back to a plain textarea (docs/architecture.md).
NPM ?= npm
FRONTEND := frontend
BUNDLE := src/gradeflow/web/static/build/editor.js
NODE_MODULES := $(FRONTEND)/node_modules/.package-lock.json

frontend: $(BUNDLE)

$(NODE_MODULES): $(FRONTEND)/package.json $(FRONTEND)/package-lock.json
	@command -v $(NPM) >/dev/null || { echo "make: npm not found: install Node.js 20 and npm to build the code editor" >&2; exit 1; }
	cd $(FRONTEND) && $(NPM) ci --no-audit --no-fund
	@touch $(NODE_MODULES)

$(BUNDLE): $(NODE_MODULES) $(FRONTEND)/editor.js
	cd $(FRONTEND) && $(NPM) run --silent build

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

# The suite in two pytest processes (pytest-xdist), a file at a time each: every test
# has its own database, queue and Redis prefix, ports and sandbox uids, so they do not
# meet (docs/architecture.md). TEST_PROCESSES=0 runs it in this process alone.
TEST_PROCESSES ?= 2
test: install services browser nginx
	@GRADEFLOW_CHROMIUM=$(CHROMIUM) $(BIN)/pytest -n $(TEST_PROCESSES) --dist loadfile || { status=$$?; \
	  if [ -n "$$(find test-artifacts/e2e -type f ! -name .run 2>/dev/null)" ]; then \
	    echo "Screenshots and URLs of the failed browser tests' pages: $(CURDIR)/test-artifacts/e2e/"; \
	  fi; exit $$status; }
	$(MAKE) test-unprivileged

# The sandbox, attack and warm-grader tests again as an ordinary user (nobody), so they are
# run without root too. From a copy of the tree in a directory nobody can read
# (this checkout's parents may not be), with a venv of Debian's interpreter (the
# default one may live under /root); the venv is kept while pyproject.toml is unchanged.
UNPRIV_ROOT := /var/tmp/gradeflow-unprivileged
UNPRIV_USER ?= nobody
UNPRIV_GROUP ?= nogroup
# UNPRIV_TESTS=tests/grading/sandbox/test_cgroups.py runs a part only.
UNPRIV_TESTS ?= tests/grading/sandbox tests/sandbox tests/grade_server

test-unprivileged:
	@if [ "$$(id -u)" != 0 ]; then echo "test-unprivileged: skipped, pytest already ran as uid $$(id -u)"; exit 0; fi; \
	set -e; umask 022; tree=$(UNPRIV_ROOT)/tree; venv=$(UNPRIV_ROOT)/venv; home=$(UNPRIV_ROOT)/home; \
	install -d -m 0755 $(UNPRIV_ROOT); rm -rf $$tree $$home; mkdir $$tree; \
	cp -r src tests demo pyproject.toml README.md $$tree/; \
	if ! cmp -s pyproject.toml $$venv/pyproject.toml; then \
	  rm -rf $$venv; /usr/bin/python3 -m venv $$venv; \
	  $$venv/bin/pip install --quiet --upgrade pip; \
	  $$venv/bin/pip install --quiet -e "$$tree[dev]"; cp pyproject.toml $$venv/; \
	fi; \
	install -d -m 0700 -o $(UNPRIV_USER) -g $(UNPRIV_GROUP) $$home; \
	cd $$tree && setpriv --reuid=$(UNPRIV_USER) --regid=$(UNPRIV_GROUP) --clear-groups --reset-env \
	  env HOME=$$home TMPDIR=$$home PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=$$tree \
	  $$venv/bin/pytest -q -p no:cacheprovider --basetemp=$$home/pytest $(UNPRIV_TESTS); \
	rm -rf $$home

# The sandbox's tests in cgroup v2 mode (this host binds the pids and memory
# controllers to cgroup v1) in a qemu VM booted with cgroup v2 only, as root and as
# nobody in a delegated subtree, with a result line per user (root; no KVM needed).
# CGROUP_VM_TESTS: which tests (default: the cgroup tests, ~8 minutes; add
# "tests/sandbox/attacks tests/sandbox/forgery" for the attacks and forgeries in
# cgroup mode, ~1 hour). Their time limits are multiplied by CGROUP_VM_TIME_SCALE
# for the emulated CPU. CGROUP_VM_BENCH="--runs 20 --rounds 3" also measures cgroup
# limits on against off in the same boot. See docs/security.md.
CGROUP_VM_TESTS ?= tests/grading/sandbox/test_cgroups.py
CGROUP_VM_TIME_SCALE ?= 10
cgroup-vm: install
	@command -v qemu-system-x86_64 >/dev/null && command -v busybox >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends qemu-system-x86 busybox-static; }
	$(BIN)/python scripts/cgroup_vm.py --tests $(CGROUP_VM_TESTS) \
	  --time-scale $(CGROUP_VM_TIME_SCALE) $(if $(CGROUP_VM_BENCH),--bench="$(CGROUP_VM_BENCH)") \
	  $(CGROUP_VM_ARGS)

nginx:
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx; }

stack: install services nginx
	$(GF) stack up --web 2 --workers 2

# Services mode across hosts, on this machine: two web and two worker processes,
# PostgreSQL, RabbitMQ, Redis and nginx, each in a network namespace of its own, then
# the proof and the teardown (root; about a minute). See docs/deploy.md.
multihost: install nginx
	@for tool in ip redis-server rabbitmq-server; do command -v $$tool >/dev/null || missing=1; done; \
	  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing=1; \
	  if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq iproute2 redis-server rabbitmq-server postgresql; fi
	$(BIN)/python scripts/multihost.py run

# Faults under load on the multihost layout (root): workers and web processes killed
# -9 and restarted, PostgreSQL, RabbitMQ and Redis restarted, a worker stalled past
# its lease, the sandbox's tmp filled, then the invariant checker (a few minutes).
# CHAOS_ARGS="--duration 600" runs longer. See docs/deploy.md.
chaos: install nginx
	@for tool in ip redis-server rabbitmq-server; do command -v $$tool >/dev/null || missing=1; done; \
	  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing=1; \
	  if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq iproute2 redis-server rabbitmq-server postgresql; fi
	$(BIN)/python bench/chaos.py $(CHAOS_ARGS)

# The chaos run's load without faults for 30 minutes, sampled each minute (root).
# SOAK_ARGS="--minutes 10" for less. See PERFORMANCE.md.
soak: install nginx
	$(BIN)/python bench/soak.py $(SOAK_ARGS)

lint: install
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/sandbox.py

# The grade benchmarks of PERFORMANCE.md: services mode on loopback, a few minutes each.
bench-grades: install services nginx
	@command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
	PYTHONPATH=src $(BIN)/python bench/grade_import.py
	PYTHONPATH=src $(BIN)/python bench/grade_lookups.py --duration 15
	PYTHONPATH=src $(BIN)/python bench/live_results.py

# The fast-path benchmarks of PERFORMANCE.md (pages, reads, submits, grading, live
# results, the Locust student scenario, the CLI), each against its baseline measured in
# the same run, printed as one report by bench/paths.py: about 20 minutes in all.
# BENCH_PATHS_ARGS="--quick" or "--only pipeline live" for less.
bench-paths: install services nginx
	@command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
	@$(BIN)/python -c "import locust" 2>/dev/null || $(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/paths.py $(BENCH_PATHS_ARGS)

clean:
	rm -rf $(VENV) $(UNPRIV_ROOT) .mypy_cache .ruff_cache .pytest_cache $(FRONTEND)/node_modules $(dir $(BUNDLE))
