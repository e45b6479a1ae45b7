# make all   [PROFILE=smoke|quick|full] [DATA_DIR=path] [JOBS=n] [ONLY="a_q1_cnn ..."]
# make test  [DATA_DIR=path]
PROFILE ?= full
DATA_DIR ?= data
ONLY ?=
JOBS ?= 1
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python

.PHONY: all test clean

all: $(VENV)/.installed
	$(PY) -m lib.runner --profile "$(PROFILE)" --data-dir "$(DATA_DIR)" --jobs "$(JOBS)" $(if $(ONLY),--only $(ONLY))

test: $(VENV)/.installed
	DATA_DIR="$(DATA_DIR)" $(PY) -m pytest

# The virtual environment is rebuilt when requirements.txt changes.
$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
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

$(VENV_BACKENDS)/.installed: requirements.txt requirements-backends.txt
	$(PYTHON) -m venv $(VENV_BACKENDS)
	$(VENV_BACKENDS)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-backends.txt
	touch $@
