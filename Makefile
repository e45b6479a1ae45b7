# make all     [PROFILE=auto|smoke|quick|full] [DATA_DIR=path] [JOBS=n] [ONLY="a_q1_cnn ..."] [FORCE=1] [VERBOSE=1] [RETRAIN=1]
# make report  rebuild reports/index.html from the reports, results and histories on disk
# make test    [DATA_DIR=path]
# auto: full where nvidia-smi finds a GPU, quick otherwise (the runner's first line says which).
PROFILE ?= auto
DATA_DIR ?= data
ONLY ?=
JOBS ?= 1
FORCE ?=
# 1: stream every notebook's output rather than one line per training run.
VERBOSE ?=
# 1: train your own runs where a reference run ships (histories/reference/, lib/core/reference.py);
# the notebooks read it from the environment, which make passes on.
RETRAIN ?=
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
# Where `nvidia-smi -L` lists a GPU, `make all` trains under JAX with its CUDA
# build (requirements-gpu.txt, added to the same environment) and says so;
# elsewhere TensorFlow on the CPU. A KERAS_BACKEND set by hand wins.
GPU := $(shell nvidia-smi -L 2>/dev/null | grep -q '^GPU' && echo 1)
ifeq ($(GPU),1)
all: export KERAS_BACKEND ?= jax
endif

.PHONY: all report test clean

# Notebooks whose reports are current are not executed again (FORCE=1 executes them).
all: $(VENV)/.installed $(if $(GPU),$(VENV)/.installed-gpu)
	$(if $(GPU),@echo "GPU found by nvidia-smi: training under KERAS_BACKEND=$${KERAS_BACKEND}")
	@$(PY) -m lib.runner --profile "$(PROFILE)" --data-dir "$(DATA_DIR)" --jobs "$(JOBS)" $(if $(ONLY),--only $(ONLY)) $(if $(FORCE),--force) $(if $(VERBOSE),--verbose)

report: $(VENV)/.installed
	$(PY) -m lib.runner.index

test: $(VENV)/.installed
	DATA_DIR="$(DATA_DIR)" $(PY) -m pytest

# The virtual environment is rebuilt when requirements.txt or pyproject.toml
# changes. `pip install -e .` makes `lib` importable wherever a notebook runs.
$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

$(VENV)/.installed-gpu: $(VENV)/.installed requirements-gpu.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-gpu.txt
	touch $@

# The reference runs in histories/reference/ ship with the code and stay.
clean:
	rm -rf reports checkpoints figures/*/ $(filter-out histories/reference/,$(wildcard histories/*/))

# make test-backends  [BACKENDS="jax torch"] [DATA_DIR=path]
# The test suite under other Keras backends, in an environment of its own
# (.venv-backends: requirements.txt plus requirements-backends.txt), so that
# .venv stays TensorFlow only. `make test` is the TensorFlow run.
BACKENDS ?= jax torch
VENV_BACKENDS ?= .venv-backends

.PHONY: test-backends

test-backends: $(VENV_BACKENDS)/.installed
	for backend in $(BACKENDS); do \
		echo "== KERAS_BACKEND=$$backend"; \
		KERAS_BACKEND=$$backend DATA_DIR="$(DATA_DIR)" $(VENV_BACKENDS)/bin/python -m pytest || exit 1; \
	done

$(VENV_BACKENDS)/.installed: requirements.txt requirements-backends.txt pyproject.toml
	$(PYTHON) -m venv $(VENV_BACKENDS)
	$(VENV_BACKENDS)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-backends.txt
	$(VENV_BACKENDS)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

# make test-jax  [DATA_DIR=path]
# The tests of compiled and batched runs (tests/test_runs.py, tests/test_batched.py)
# under JAX on the CPU, in a light environment of their own (.venv-jax: JAX and
# the few libraries these tests import, at the versions of requirements.txt and
# requirements-backends.txt); CI runs it after `make test`.
VENV_JAX ?= .venv-jax

.PHONY: test-jax

test-jax: $(VENV_JAX)/.installed
	KERAS_BACKEND=jax DATA_DIR="$(DATA_DIR)" $(VENV_JAX)/bin/python -m pytest tests/test_runs.py tests/test_batched.py

$(VENV_JAX)/.installed: requirements.txt requirements-backends.txt pyproject.toml
	$(PYTHON) -m venv $(VENV_JAX)
	$(VENV_JAX)/bin/python -m pip install --quiet --disable-pip-version-check -c requirements.txt -c requirements-backends.txt \
		jax jaxlib keras numpy pandas tqdm pytest
	$(VENV_JAX)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@
