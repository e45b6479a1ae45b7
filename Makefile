# make all     [PROFILE=smoke|quick|full] [DATA_DIR=path] [JOBS=n] [ONLY="a_q1_cnn ..."] [FORCE=1]
# make report  rebuild reports/index.html from the reports, results and histories on disk
# make test    [DATA_DIR=path]
PROFILE ?= full
DATA_DIR ?= data
ONLY ?=
JOBS ?= 1
FORCE ?=
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python

.PHONY: all report test clean

# Notebooks whose reports are current are not executed again (FORCE=1 executes them).
all: $(VENV)/.installed
	$(PY) -m lib.runner --profile "$(PROFILE)" --data-dir "$(DATA_DIR)" --jobs "$(JOBS)" $(if $(ONLY),--only $(ONLY)) $(if $(FORCE),--force)

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

clean:
	rm -rf reports checkpoints figures/*/ histories/*/

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
