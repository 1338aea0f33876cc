# The two commands a new user needs: `make run` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)  ## migrate, load the demo, start the buyer simulator and serve on :8000
	$(BIN)/pingtree demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck  ## lint, type check and the whole suite (SQLite, and PostgreSQL when its DSN is set)
	$(BIN)/pytest

bench: $(STAMP)  ## benchmarks against the simulator; results go to bench/RESULTS.md
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/eligibility.py
	$(BIN)/python bench/screening.py

clean:
	rm -rf $(VENV) data .mypy_cache .ruff_cache .pytest_cache
