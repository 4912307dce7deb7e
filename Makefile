# cryptoscan: `make demo` to watch the local exchange, `make test` to run the tests.
# A virtualenv in .venv is created on first use; packages are (re)installed only when pyproject.toml changes.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --disable-pip-version-check --quiet
ARGS   ?=

.DEFAULT_GOAL := help
.PHONY: help demo test check bench clean distclean

help:
	@echo "make demo    run the local exchange and watch it move (ARGS='--duration 30' to stop by itself)"
	@echo "make test    run the test suite"
	@echo "make check   ruff and mypy --strict"
	@echo "make bench   run every benchmark in bench/"
	@echo "make clean   remove caches and build leftovers (make distclean also removes $(VENV))"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "cryptoscan needs Python 3.11 or newer (PYTHON=$(PYTHON))")'
	$(PYTHON) -m venv $(VENV)

# One stamp per extra; a bigger install also satisfies the smaller ones.
$(VENV)/.stamp-base: pyproject.toml | $(BIN)/python
	$(PIP) -e .
	@touch $@

$(VENV)/.stamp-test: pyproject.toml | $(BIN)/python
	$(PIP) -e '.[test]'
	@touch $@ $(VENV)/.stamp-base

$(VENV)/.stamp-dev: pyproject.toml | $(BIN)/python
	$(PIP) -e '.[dev]'
	@touch $@ $(VENV)/.stamp-test $(VENV)/.stamp-base

demo: $(VENV)/.stamp-base
	$(BIN)/python -m cryptoscan.cli demo $(ARGS)

test: $(VENV)/.stamp-test
	$(BIN)/python -m pytest $(ARGS)

check: $(VENV)/.stamp-dev
	$(BIN)/python -m ruff check src tests bench
	$(BIN)/python -m mypy --strict src

bench: $(VENV)/.stamp-base
	@set -e; files="$(wildcard bench/*.py)"; \
	if [ -z "$$files" ]; then echo "no benchmarks in bench/"; fi; \
	for f in $$files; do echo "== $$f"; $(BIN)/python $$f; done

clean:
	rm -rf build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache $(VENV)/.stamp-*
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
