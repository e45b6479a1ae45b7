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
