# globalops — the two set-up commands are `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
GLOBALOPS := $(VENV)/bin/globalops
STAMP := $(VENV)/.installed-stamp
DEMO_POLICIES ?= config/policies.demo.yaml

.PHONY: install bytecode demo test test-fast lint imports docs cli-docs mutation bench down clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## make bytecode: compile the packages to __pycache__ as a wheel install does. Where PYTHONDONTWRITEBYTECODE
## is set, Python would otherwise compile every module from source on each import, and the worker's workflow
## sandbox imports the workflow modules afresh for every workflow run (13 % of a busy worker's CPU in bench
## B2). A changed file is still read from source until the next make: its cached code is stale by mtime.
bytecode: $(STAMP)
	$(PY) -m compileall -q -j 0 activities cli config contracts workers workflows bench scripts >/dev/null

## make demo: dev server + worker in the background, then a rollout of checkout 2.0.0 to 16 regions.
demo: $(STAMP) bytecode
	$(GLOBALOPS) dev up
	$(GLOBALOPS) sim reset
	GLOBALOPS_POLICIES=$(DEMO_POLICIES) $(GLOBALOPS) rollout start --service checkout --release 2.0.0 --wait
	$(GLOBALOPS) sim status
	@echo "Web UI: http://localhost:8233 — stop everything with: $(GLOBALOPS) dev down"

## make demo-aws: moto server + provisioned AWS regions, then the demo rollout through the real workflows.
.PHONY: demo-aws
demo-aws: $(STAMP)
	$(PY) scripts/demo_aws.py --strategy $(or $(STRATEGY),rolling)

## make test: the docs build (make docs, strict) and the dependency rule (make imports), then the whole suite
## (unit, time-skipping workflow tests, end-to-end on real servers) in TEST_JOBS processes (default 2: most
## of the suite waits on real servers; 3 was faster but made the crash tests miss their in-call points when
## three crash files ran at once; TEST_JOBS=0 runs it in one), then mutation testing (make mutation).
## The 15 slowest tests are listed at the end: the suite's budget is 15 minutes on 2 cores.
TEST_JOBS ?= 2
test: $(STAMP) bytecode /usr/bin/chromium /usr/bin/prometheus imports docs
	$(PY) -m pytest -n $(TEST_JOBS) --durations=15
	$(PY) scripts/mutation.py

## The Web UI test (tests/e2e/test_web_ui.py) drives Debian's Chromium: installed here when missing.
/usr/bin/chromium:
	@command -v apt-get >/dev/null || { \
	  echo "make test: the Web UI test needs /usr/bin/chromium; apt-get is missing: install it yourself" >&2; \
	  exit 1; }
	@[ "$$(id -u)" = 0 ] || { \
	  echo "make test: the Web UI test needs /usr/bin/chromium; run 'sudo apt-get install chromium' first" >&2; \
	  exit 1; }
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium

## The Prometheus tests (tests/integration/prometheus/) run Debian's Prometheus server: installed here when
## missing. The package may start a system service of its own (on :9090); the tests never use it, they start
## their own server on a free port with a temporary storage directory.
/usr/bin/prometheus:
	@command -v apt-get >/dev/null || { \
	  echo "make test: the Prometheus tests need /usr/bin/prometheus; apt-get is missing: install it yourself" >&2; \
	  exit 1; }
	@[ "$$(id -u)" = 0 ] || { \
	  echo "make test: the Prometheus tests need /usr/bin/prometheus; run 'sudo apt-get install prometheus' first" >&2; \
	  exit 1; }
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus

test-fast: $(STAMP) bytecode
	$(PY) -m pytest -n $(TEST_JOBS) -m "not e2e and not slow"

## make mutation: mutmut on each module of pure decision logic against its own unit tests; fails under
## 95 % killed (docs/mutation.md). About a minute on 2 cores; `make test` runs it after the suite.
mutation: $(STAMP)
	$(PY) scripts/mutation.py

lint: $(STAMP) imports
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

## make imports: the dependency rule (config <- contracts <- activities <- workflows <- workers <- cli <- bench,
## scripts), checked by import-linter from pyproject.toml; bench and scripts are not installed, hence PYTHONPATH.
imports: $(STAMP)
	PYTHONPATH=. $(VENV)/bin/lint-imports

## make docs: the MkDocs site (docs/, mkdocs.yml) built with --strict, so a broken link or anchor fails;
## make test runs it first. Open $(DOCS_SITE)/index.html to read it.
DOCS_SITE ?= site
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir $(DOCS_SITE)

## make cli-docs: regenerate docs/cli.md from the typer app (cli.main:app). A fixed terminal and no colour keep
## the page the same on every machine; tests/unit/test_cli_docs.py fails when the committed page is stale.
CLI_DOCS_ENV := COLUMNS=80 TERMINAL_WIDTH=80 NO_COLOR=1 TERM=dumb
cli-docs: $(STAMP)
	$(CLI_DOCS_ENV) $(VENV)/bin/typer cli.main utils docs --name globalops --output docs/cli.md

## make bench: B1-B6 (B1, B2 and B5 against their engine floors, B6 monitor cost) and CLI latency on dev
## servers started for the bench; writes bench/RESULTS.md (not timed tests). `python -m bench.run --only b6 --only cli` runs some parts alone.
bench: $(STAMP) bytecode
	$(PY) -m bench.run

down: $(STAMP)
	$(GLOBALOPS) dev down

clean: down
	rm -rf .globalops
