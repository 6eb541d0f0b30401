# Two commands matter: `make run` and `make test`. Both build .venv from the lock files first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?=
PORT ?=

.PHONY: run test test-fast lint typecheck pytest lock clean venv bench fuzz

venv: $(STAMP)

$(STAMP): requirements-dev.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/openhss migrate
	$(BIN)/openhss serve $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

# Import contracts (layers of ARCHITECTURE.md) and dead code are lint: both are in pyproject.toml.
lint: $(STAMP)
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/ruff format --check src tests $(wildcard bench)
	$(BIN)/lint-imports
	$(BIN)/vulture

typecheck: $(STAMP)
	$(BIN)/mypy

# pytest-xdist: two workers on this 2-core machine (many tests wait on subprocesses, servers and brokers,
# so one process leaves a core idle). `loadfile` keeps each test file on one worker, so a module's
# fixtures (a seeded service, a private broker) are built once, not once per worker. Every PostgreSQL
# database is a worker's own (tests/support/pg.py, copied from a template built under an advisory lock),
# ports are free ones, brokers use per-test queue prefixes, and ~/.cache/openhss-tests is lock-protected.
# `make test XDIST=0` runs in one process.
XDIST ?= 2
XDIST_ARGS := $(if $(filter-out 0,$(XDIST)),-n $(XDIST) --dist loadfile)

pytest: $(STAMP)
	bash scripts/test-setup.sh
	$(BIN)/pytest $(XDIST_ARGS) $(PYTEST_ARGS)

# Lint and typecheck run beside pytest, not before it: a fresh clone has no .mypy_cache, and mypy over
# src and tests then takes minutes of one core while pytest mostly waits on its servers and brokers.
# Each job's output is printed whole when it ends; any failure fails `make test`.
test: $(STAMP)
	$(MAKE) --no-print-directory -j3 --output-sync=target lint typecheck pytest

# The inner loop: no `slow` tests, no browser (console), no broker/worker or fault-injection suites,
# on the same xdist workers as `make test` (which stays the gate).
FAST_IGNORE := --ignore=tests/console --ignore=tests/worker --ignore=tests/foundation/test_worker.py \
	--ignore=tests/security/test_disk_full.py
test-fast: $(STAMP)
	bash scripts/test-setup.sh
	$(BIN)/pytest -m "not slow" $(FAST_IGNORE) $(XDIST_ARGS) $(PYTEST_ARGS)

# Benchmarks print figures against baselines measured in the same run; `make bench BENCH=inventory`.
bench: $(STAMP)
	bash scripts/test-setup.sh
	$(BIN)/python bench/run.py $(BENCH)

# The fuzz harnesses of tests/fuzz with the long `fuzz` profile (make test runs them briefly, `ci`).
# Failures are kept in .hypothesis/ and replayed first next time; `make fuzz FUZZ_EXAMPLES=50000`.
FUZZ_EXAMPLES ?= 5000
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest tests/fuzz -q -W ignore::hypothesis.errors.HypothesisWarning $(PYTEST_ARGS)

# requirements.lock: the service (base + `server`); requirements-dev.lock: the service and the tools;
# requirements-agent.lock: the base install alone, what `openhss agent` and `openhss scan` need.
# The existing lock files are uv's preferences, so re-locking keeps their pins unless a bound moved.
lock: $(STAMP)
	$(BIN)/python -m pip install -q uv
	$(BIN)/uv pip compile pyproject.toml --extra server --python-version 3.11 --no-emit-index-url --no-emit-find-links -q -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra server --extra dev --python-version 3.11 --no-emit-index-url --no-emit-find-links -q -o requirements-dev.lock
	test -f requirements-agent.lock || cp requirements.lock requirements-agent.lock
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 --no-emit-index-url --no-emit-find-links -q -o requirements-agent.lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
