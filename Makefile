# vlmkit: two commands on a fresh machine (see README.md).
#   make book   installs the environment (once) and runs the whole book on this machine's device
#   make test   installs the environment (once) and runs the tests (what CI runs)
#   make site   installs the environment (once) and renders the committed reference runs -> build/site/index.html
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: book test site

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt torch torchvision
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

book: $(VENV)/.installed
	$(PY) -m vlmkit.book

test: $(VENV)/.installed
	$(PY) -m pytest

site: $(VENV)/.installed
	$(PY) -m vlmkit.site
