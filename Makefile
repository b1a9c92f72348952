# dorm development tasks. Works from a fresh checkout: every target that needs
# Python first builds .venv (python3 -m venv) and installs all local
# distributions editable in one pip call.
#
#   make demo      run the example app (examples/app.py) on SQLite
#   make test      run the test suite        (make test PYTEST_ARGS="-k signals -x")
#   make bench     run the benchmarks        (make bench BENCH_ARGS="--quick")
#   make lint      ruff
#   make clean     remove caches and build by-products (keeps .venv)
#   make distclean clean + remove .venv

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python

# Every local distribution: the kernel, each plugins/<name>/ that has a
# pyproject.toml (new plugins are picked up automatically) and the workspace
# root with its dev extra.
PLUGIN_DIRS := $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml))
PYPROJECTS  := pyproject.toml dorm_kernel/pyproject.toml $(wildcard plugins/*/pyproject.toml)
EDITABLES   := -e ./dorm_kernel $(foreach d,$(PLUGIN_DIRS),-e ./$(d)) -e '.[dev]'

# Re-install only when a pyproject.toml changed (or a plugin was added).
STAMP := $(VENV)/.dorm-installed

PYTEST_ARGS ?=
BENCH_ARGS  ?=

.DEFAULT_GOAL := help
.PHONY: help venv demo test bench lint clean distclean

help:
	@awk '!/^#/ {exit} {sub(/^# ?/, ""); print}' Makefile

venv: $(STAMP)

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "dorm needs Python >= 3.11; run: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) $(PYPROJECTS)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(EDITABLES)
	@touch $@

demo: venv
	$(PY) examples/app.py

test: venv
	$(PY) -m pytest $(PYTEST_ARGS)

bench: venv
	$(PY) bench/run.py $(BENCH_ARGS)

lint: venv
	$(BIN)/ruff check .

clean:
	rm -rf .pytest_cache .ruff_cache .hypothesis build dist bench/results
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -path ./$(VENV) -prune -o -name '*.egg-info' -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
