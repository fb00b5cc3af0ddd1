# globalops — the two set-up commands are `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
GLOBALOPS := $(VENV)/bin/globalops
STAMP := $(VENV)/.installed-stamp
DEMO_POLICIES ?= config/policies.demo.yaml

.PHONY: install demo test test-fast lint bench down clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## make demo: dev server + worker in the background, then a rollout of checkout 2.0.0 to 16 regions.
demo: $(STAMP)
	$(GLOBALOPS) dev up
	$(GLOBALOPS) sim reset
	GLOBALOPS_POLICIES=$(DEMO_POLICIES) $(GLOBALOPS) rollout start --service checkout --release 2.0.0 --wait
	$(GLOBALOPS) sim status
	@echo "Web UI: http://localhost:8233 — stop everything with: $(GLOBALOPS) dev down"

## make demo-aws: moto server + provisioned AWS regions, then the demo rollout through the real workflows.
.PHONY: demo-aws
demo-aws: $(STAMP)
	$(PY) scripts/demo_aws.py --strategy $(or $(STRATEGY),rolling)

## make test: the whole suite (unit, time-skipping workflow tests, end-to-end on real servers), in
## TEST_JOBS processes (default 2: most of the suite waits on real servers; TEST_JOBS=0 runs it in one).
TEST_JOBS ?= 2
test: $(STAMP) /usr/bin/chromium
	$(PY) -m pytest -n $(TEST_JOBS)

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

test-fast: $(STAMP)
	$(PY) -m pytest -n $(TEST_JOBS) -m "not e2e and not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

## make bench: B1-B4 on dev servers started for the bench; writes bench/RESULTS.md (not timed tests).
bench: $(STAMP)
	$(PY) -m bench.run

down: $(STAMP)
	$(GLOBALOPS) dev down

clean: down
	rm -rf .globalops
