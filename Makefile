# One entry point per job. Every target builds the venv it needs from scratch
# (Python 3.11 + pip are the only prerequisites).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test lint typecheck pytest demo bench soak docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check tfso_events tests benchmarks
	$(BIN)/ruff format --check tfso_events tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy --strict tfso_events

pytest: $(STAMP)
	$(BIN)/pytest -q

demo: $(STAMP)
	$(BIN)/tfso-events demo

bench: $(STAMP)
	$(BIN)/python -m benchmarks

soak: $(STAMP)
	TFSO_SOAK=full $(BIN)/pytest -q -m slow tests/reliability/test_soak.py

docs: $(STAMP)
	$(BIN)/tfso-events docs

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build dist *.egg-info
