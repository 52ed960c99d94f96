# Two commands for a new user: `make demo` and `make test`. Everything else is a building block.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
TMP := $(CURDIR)/.tmp
# The repo root is the collection; unit tests and ansible see it through this symlinked path.
COLL_PATH := $(TMP)/collections
COLL_LINK := $(COLL_PATH)/ansible_collections/shakenfist/storage
export ANSIBLE_COLLECTIONS_PATH := $(COLL_PATH)
export PYTHONPATH := $(COLL_PATH)

.PHONY: venv collection-link lint ruff mypy unit integration sanity ansible-lint build test demo clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.txt requirements.txt emulator/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt -e ./emulator
	touch $@

collection-link:
	@mkdir -p $(dir $(COLL_LINK))
	@ln -sfn $(CURDIR) $(COLL_LINK)

ruff: venv
	$(BIN)/ruff check .

mypy: venv collection-link
	$(BIN)/mypy plugins/module_utils plugins/plugin_utils

lint: ruff mypy

unit: venv collection-link
	$(BIN)/python tools/pytest_run.py tests/unit -q
	$(BIN)/python tools/pytest_run.py tests/emulator -q -m "not slow"

integration: venv collection-link
	$(BIN)/python tools/pytest_run.py tests/integration -q

build: venv
	@rm -rf $(TMP)/build && mkdir -p $(TMP)/build
	$(BIN)/ansible-galaxy collection build --force --output-path $(TMP)/build .

test: lint unit integration

demo: venv collection-link
	$(BIN)/python tools/demo.py

clean:
	rm -rf $(TMP) $(VENV)
