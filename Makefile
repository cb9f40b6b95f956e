# The course's commands. Each target sets up .venv first when it is missing or stale.
#   make book   build the book to book/_build/html (offline; JS assets come from npm)
#   make test   run the whole test suite (installs Debian's chromium and bubblewrap when missing)
#   make grade  grade the built-in demo class end to end (installs bubblewrap, the grading sandbox)
#   make release  regenerate exercises/ from solutions/

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
VENDOR := book/_static/vendor
NPM_PACKAGES := mathjax@3.2.2 requirejs@2.3.8 @jupyter-widgets/html-manager@1.0.15

# Matplotlib's font cache lives with each checkout: a cache shared by several checkouts names
# fonts inside another one's .venv, and once that is deleted every figure warns on stderr.
export MPLCONFIGDIR := $(CURDIR)/.build/matplotlib

.PHONY: all setup book test test-fast grade release vendor chromium sandbox clean

all: test

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation --config-settings editable_mode=compat -e .
	# Point the venv's python3 kernel at the venv's interpreter, for nbgrader and the book.
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (dlcourse)" >/dev/null
	touch $(STAMP)

# MathJax, require.js and the ipywidgets manager, served from the book itself so the built
# book works with no network. Installed from npm at build time, never committed.
vendor: $(VENDOR)/.installed

$(VENDOR)/.installed:
	rm -rf .build/npm $(VENDOR)
	mkdir -p .build/npm $(VENDOR)
	npm install --silent --no-save --no-audit --no-fund --prefix .build/npm $(NPM_PACKAGES)
	cp -r .build/npm/node_modules/mathjax/es5 $(VENDOR)/mathjax
	cp .build/npm/node_modules/requirejs/require.js $(VENDOR)/require.js
	cp -r .build/npm/node_modules/@jupyter-widgets/html-manager/dist $(VENDOR)/html-manager
	touch $@

book: $(STAMP) vendor
	DLCOURSE_WIDGETS=static $(VENV)/bin/jupyter-book build book

# Debian's chromium for the browser tests, when missing (CI runs as root).
chromium:
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

# Debian's bubblewrap: the sandbox students' code is graded in (see autograder/sandbox.py).
sandbox:
	@command -v bwrap >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq bubblewrap >/dev/null; }

test: $(STAMP) vendor chromium sandbox
	$(PY) -m pytest

# A quick subset while developing: no notebook execution, no browser.
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow and not browser"

grade: $(STAMP) sandbox
	$(PY) -m autograder demo

release: $(STAMP)
	$(PY) -m autograder release

clean:
	rm -rf book/_build $(VENDOR) .build
