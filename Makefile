# `make test` and `make demo` do all set-up themselves: they create .venv and install into it.
# torch is pinned and installed first: 2.13.0 is the local CPU build on this machine; a plain
# `torch` requirement would pull a multi-GB CUDA build.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TORCH := torch==2.13.0
STAMP := $(VENV)/.installed-dev

.PHONY: install test bench lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): setup.py | $(PY)
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

bench: $(STAMP)
	for script in benchmarks/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests metric benchmarks
	$(VENV)/bin/ruff format --check src tests metric benchmarks

clean:
	rm -rf $(VENV) build .pytest_cache src/*.egg-info
