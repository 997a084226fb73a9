# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# Everything is installed through this file: uv (pinned) into .tools/, the locked
# dependencies into .venv/, and the Debian packages the tests need (PostgreSQL, Chromium).

SHELL := /bin/bash
PYTHON ?= python3.11
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
# The IDTA test engines 0.6.0 (registry and discovery suites) in an environment of their own: the project pins 1.0.3.
IDTA06 := tests/aadsys/part2/idta06
IDTA06_VENV := $(CURDIR)/.venv-idta06
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install test demo bench lint lock services clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-extras --python $(PYTHON) --quiet
	touch $@

$(IDTA06_VENV)/.synced: $(IDTA06)/pyproject.toml $(IDTA06)/uv.lock | $(UV)
	UV_PROJECT_ENVIRONMENT=$(IDTA06_VENV) $(UV) sync --frozen --project $(IDTA06) --python $(PYTHON) --quiet
	touch $@

# Bytecode of the dependencies and of our own packages, made here once: a command then starts without compiling
# anything. Python writes it on first use otherwise, but never where PYTHONDONTWRITEBYTECODE is set, and there
# every `aadsys connector status` compiled what it imports, again: 4 s instead of well under 1 (bench/cli.py).
# compileall skips what is up to date.
$(VENV)/.compiled: $(VENV)/.synced
	$(PY) -m compileall -q -j 0 $(VENV)/lib > /dev/null
	touch $@

install: $(VENV)/.compiled $(IDTA06_VENV)/.synced
	$(PY) -m compileall -q -j 0 aas_models aadsys connector abm_portal pec_shop omis_line valuechain > /dev/null

lock: | $(UV)
	$(UV) lock --python $(PYTHON)
	$(UV) lock --project $(IDTA06) --python $(PYTHON)

# Debian packages for the real servers the suite uses; root in CI, so apt works as is.
services:
	bash scripts/ensure-system-packages.sh

# Three workers on two cores: many tests wait on servers they started. A module's tests stay on one worker, so a
# module's servers are started once; modules that share the demo chain share a worker (tests/conftest.py).
test: install services
	$(PY) -m pytest -n 3 --dist loadscope

demo: install
	$(PY) -m valuechain $(ARGS)

bench: install services
	$(PY) -m aadsys bench connectivity --json bench/results/connectivity.json --plot bench/results/connectivity.png
	$(PY) -m aadsys bench throughput --json bench/results/throughput.json
	$(PY) -m aadsys bench history --json bench/results/history.json
	$(PY) -m aadsys bench ingest --json bench/results/ingest.json
	$(PY) -m aadsys bench render --json bench/results/render.json
	$(PY) -m aadsys bench reads --json bench/results/reads.json
	$(PY) bench/cli.py --json bench/results/cli.json

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) $(IDTA06_VENV) .tools .pytest_cache .mypy_cache .ruff_cache
