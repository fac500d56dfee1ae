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

# make demo CONSOLE=1: the operator console beside the demo (docs/console.md), at the address it prints.
demo: setup
	@bash scripts/demo.sh $(if $(filter 1 yes true,$(CONSOLE)),--console)

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
