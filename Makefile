# vlmkit: two commands on a fresh machine (see README.md).
#   make book   installs the environment (once) and runs the whole book on this machine's device
#   make test   installs the environment (once) and runs the tests (what CI runs): every tier below
#   make test-fast       the unit tests without the slow ones (about two minutes): the quick loop while editing
#   make test-notebooks  every notebook executed on this machine's CPU through nbval (a few minutes)
#   make site   installs the environment (once) and renders the committed reference runs -> build/site/index.html
#   make lab    installs the environment (once) and opens the book in JupyterLab
#   make browser-test   runs notebooks 00, 01 and 08 in JupyterLab in chromium (minutes; not part of make test)
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: book test test-fast test-notebooks site lab browser-test

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt torch torchvision
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	$(PY) -m vlmkit.book.lab --setup-only   # the "Python (vlmkit)" kernel, and the nbstripout git filter for notebooks/
	touch $@

book: $(VENV)/.installed
	$(PY) -m vlmkit.book

test: $(VENV)/.installed
	$(PY) -m pytest

test-fast: $(VENV)/.installed
	$(PY) -m pytest tests -m 'not slow and not browser'

test-notebooks: $(VENV)/.installed
	$(PY) -m pytest notebooks

site: $(VENV)/.installed
	$(PY) -m vlmkit.book.site

# JupyterLab options pass through: make lab LAB_ARGS="--no-browser --port 8899"
lab: $(VENV)/.installed
	$(PY) -m vlmkit.book.lab $(LAB_ARGS)

# Debian's chromium (Playwright's own browser download is not used); as root it is installed when missing,
# else the test skips and says why. Screenshots, saved notebooks and measured times: build/browser/
browser-test: $(VENV)/.installed
	$(PY) -m pip install --quiet -c constraints.txt -e '.[browser]'
	@command -v chromium >/dev/null || [ "$$(id -u)" != 0 ] || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	  echo "chromium could not be installed: the browser test will skip"
	$(PY) -m pytest -m browser tests/test_browser.py
