# vlmkit: two commands on a fresh machine (see README.md).
#   make book   installs the environment (once) and runs the whole book on this machine's device
#   make test   installs the environment (once) and runs the tests (what CI runs)
#   make lab    installs the environment (once) and opens the book in JupyterLab
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: book test lab

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt torch torchvision
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	$(PY) -m vlmkit.lab --setup-only   # the "Python (vlmkit)" kernel, and the nbstripout git filter for notebooks/
	touch $@

book: $(VENV)/.installed
	$(PY) -m vlmkit.book

test: $(VENV)/.installed
	$(PY) -m pytest

# JupyterLab options pass through: make lab LAB_ARGS="--no-browser --port 8899"
lab: $(VENV)/.installed
	$(PY) -m vlmkit.lab $(LAB_ARGS)
