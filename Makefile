# Two entry points: `make demo` and `make test`. Each builds the virtual
# environment from the lock file first, so a fresh machine needs only Python 3.11+.
PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint env bench

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

# Bytecode is compiled at install time (the project's own modules too), so no
# run pays for compiling sources, even where writing .pyc files is turned off.
$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --all-extras --compile-bytecode --python $(PYTHON)
	$(BIN)/python -m compileall -q src
	touch $@

env: $(VENV)/.synced

demo: env
	$(BIN)/article6 demo

lint: env
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

bench: env
	$(BIN)/python benchmarks/registry_throughput.py
