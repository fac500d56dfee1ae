# armbrain: the two commands are `make demo` (the main job) and `make test`.
# Both set up .venv first (scripts/setup.sh; a no-op when nothing changed).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup test lint demo clean

setup:
	@bash scripts/setup.sh

test: setup
	@$(PY) -m pytest

lint: setup
	@$(PY) -m ruff check .

demo: setup
	@bash scripts/demo.sh

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
