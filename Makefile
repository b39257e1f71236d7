# calbot: `make run` serves the API on the embedded default; `make test` runs everything;
# `make bench` measures what users wait on (README, Performance).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check lint format bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/calbot serve

test: $(STAMP) check
	bash scripts/install-browser.sh
	$(BIN)/pytest

check: $(STAMP)
	$(BIN)/ruff format --check app tests bench
	$(BIN)/ruff check app tests bench
	$(BIN)/mypy

lint: $(STAMP)
	$(BIN)/ruff format app tests bench
	$(BIN)/ruff check --fix app tests bench

# Every benchmark in bench/, then one RESULT line each and `bench: N PASS, M MISS`.
# A MISS does not fail the build; a benchmark that crashes does.
bench: $(STAMP)
	PYTHONPATH=. $(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
