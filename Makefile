# The two commands a new user needs: `make run` and `make test`.
#
# Dependencies are locked in uv.lock. uv itself is installed from the package index into
# .tools/ (pinned below), then `uv sync --frozen` builds .venv exactly as locked:
# `make run` installs the runtime dependencies only, `make test` adds the test extras.

# The first Python >= 3.11 on PATH; override with `make run PY=/path/to/python3.12`.
PY ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && \
	{ echo $$p; break; }; done)
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run test lint typecheck mutants bench lock clean python

python:
	@test -n "$(PY)" || { echo "pingtree needs Python 3.11 or newer (python3.11, 3.12 or 3.13 on PATH, or make PY=/path/to/python)"; exit 1; }

$(UV): | python
	@echo "==> installing uv $(UV_VERSION) into $(TOOLS)/ (with $(PY))"
	$(PY) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --disable-pip-version-check -q "uv==$(UV_VERSION)"

$(VENV)/.runtime: $(UV) pyproject.toml uv.lock
	@echo "==> installing runtime dependencies from uv.lock into $(VENV)/"
	$(UV) sync --frozen --python $(PY) --no-dev --inexact
	touch $@

$(VENV)/.test: $(UV) pyproject.toml uv.lock
	@echo "==> installing runtime and test dependencies from uv.lock into $(VENV)/"
	$(UV) sync --frozen --python $(PY) --extra test
	touch $@ $(VENV)/.runtime

run: $(VENV)/.runtime  ## migrate, load the demo, start the buyer simulator and serve on :8000
	$(BIN)/pingtree demo

lint: $(VENV)/.test
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/lint-imports

typecheck: $(VENV)/.test
	$(BIN)/mypy

# The suite runs in TEST_WORKERS processes (pytest-xdist), a test file to each at a time:
# each process migrates its own PostgreSQL schema, tests take free ports and their own
# Redis key prefixes. TEST_WORKERS=0 runs it in this process.
TEST_WORKERS ?= 2
test: lint typecheck  ## lint, type check and the whole suite (SQLite, and PostgreSQL when its DSN is set)
	$(BIN)/pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

# Mutation testing of the routing core, caps and dedup windows ([tool.mutmut] in
# pyproject.toml); MUTANTS narrows it, e.g. make mutants MUTANTS='pingtree.routing.flows*'
# (named mutants are run again even when judged before; after editing existing tests remove
# mutants/ first: mutmut maps only new tests to the code they reach). Export
# PINGTREE_TEST_POSTGRES_URL as for `make test`: the storage tests then run on PostgreSQL
# too, the only way to reach the PostgreSQL-only code (sales/one_statement.py, the ledger's
# one-statement hold); without it they run on SQLite alone and those mutants survive.
MUTANTS ?=
mutants: $(VENV)/.test  ## mutmut over routing/, sales/ and the dedup code; prints the score per module
	env -u PYTHONPATH $(BIN)/mutmut run --max-children 2 $(MUTANTS)
	$(BIN)/python tools/mutation_score.py

# The soak and the suppression curve are long at full size (10 minutes; 10,000,000 entries):
# make bench SOAK_MINUTES=10 GROWTH_SUPPRESSIONS=10000,100000,1000000,10000000
SOAK_MINUTES ?= 2
GROWTH_SUPPRESSIONS ?= 10000,100000,1000000
bench: $(VENV)/.test  ## benchmarks against the simulator; results go to bench/RESULTS.md
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/eligibility.py
	$(BIN)/python bench/screening.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/soak.py --minutes $(SOAK_MINUTES)
	$(BIN)/python bench/growth.py --suppressions $(GROWTH_SUPPRESSIONS)
	$(BIN)/python bench/audit.py

lock: $(UV)  ## re-resolve uv.lock after changing dependencies in pyproject.toml
	$(UV) lock --python $(PY)

clean:
	rm -rf $(VENV) $(TOOLS) data mutants .mypy_cache .ruff_cache .pytest_cache
