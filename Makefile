# `make test` and `make demo` do all set-up themselves: they create .venv and install into it.
# torch is pinned and installed first: 2.13.0 is the local CPU build on this machine; a plain
# `torch` requirement would pull a multi-GB CUDA build.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TORCH := torch==2.13.0
STAMP := $(VENV)/.installed-dev

.PHONY: install test bench lint clean demo zero3 space

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# torch is no longer a core requirement (the light core: `pip install -e .`); `.[dev]` holds every extra the
# suite and the demo use (local, minilm, space, train, deepspeed), so the pinned build first still applies.
$(STAMP): setup.py | $(PY)
	$(PY) -m pip install --quiet $(TORCH)
	DS_BUILD_OPS=0 $(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

bench: $(STAMP)
	for script in benchmarks/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

# The demo: the sample dataset built from its annotator exports, issue discovery on it (offline), and
# the Space serving the resulting bundle on http://127.0.0.1:$(DEMO_PORT)/.
DEMO := demo
DEMO_PORT ?= 7860
SAMPLE := src/misattribution/data/sample_data/exports
CLI := $(VENV)/bin/misattribution

demo: $(STAMP)
	$(CLI) build-dataset --items $(SAMPLE)/items.jsonl \
		--annotations $(SAMPLE)/ann_a.csv $(SAMPLE)/ann_b.jsonl $(SAMPLE)/ann_c.parquet \
		--adjudication $(SAMPLE)/adjudication.csv -o $(DEMO)/attridata
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(CLI) discover $(DEMO)/attridata/data/train.parquet -o $(DEMO)/bundle
	@echo "The Space: http://127.0.0.1:$(DEMO_PORT)/  (Ctrl-C to stop)"
	GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1 $(CLI) serve --bundle $(DEMO)/bundle --port $(DEMO_PORT)

# The deployable Space folder (issue 13): this package's wheel beside app.py, requirements that install only
# published packages (torch as the CPU build), the Space README and a sample report found offline.
# SPACE_OUT=dir to write elsewhere; push it with `huggingface-cli upload OWNER/NAME build/space . --repo-type space`.
SPACE_OUT ?= build/space

space: $(STAMP)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) scripts/build_space.py --out $(SPACE_OUT)

# ZeRO-3 for real on CPU: 2 processes, each holding half of every parameter (tests/test_recipes.py runs it too).
zero3: $(STAMP)
	$(PY) -m misattribution.testing.tiny_model build/tiny-judge/base
	MISATTRIBUTION_ZERO3_REPORT=build/tiny-judge/zero3 $(VENV)/bin/accelerate launch \
		--config_file trl_recipes/accelerate_configs/zero3_cpu.yaml trl_recipes/sft.py \
		--config trl_recipes/tiny/sft/config_cpu.yaml --model_name_or_path build/tiny-judge/base

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests metric benchmarks scripts space trl_recipes
	$(VENV)/bin/ruff format --check src tests metric benchmarks scripts space trl_recipes

clean:
	rm -rf $(VENV) build .pytest_cache src/*.egg-info
