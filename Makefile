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

.PHONY: venv collection-link lint ruff mypy unit integration integration-real sanity ansible-lint build test demo clean
SANITY_VENV := .venv-sanity
SANITY_ROOT := $(TMP)/sanity
SANITY_DIR := $(SANITY_ROOT)/ansible_collections/shakenfist/storage
ANSIBLE_CORE := $(shell grep -E '^ansible-core==' requirements-dev.txt)

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

# Every Python file of the repository: the plugins, the event source, the tests, the tools, the benches, the emulator.
mypy: venv collection-link
	$(BIN)/mypy plugins extensions tests tools bench emulator

lint: ruff mypy

unit: venv collection-link sfclient-venv
	$(BIN)/python tools/pytest_run.py tests/unit -q
	$(BIN)/python tools/pytest_run.py tests/emulator -q -m "not slow"

# Two workers: the targets are independent playbooks, each on its own namespace of a per-worker emulator.
integration: venv collection-link eda-venv
	$(BIN)/python tools/pytest_run.py tests/integration -q -n 2

# ansible-rulebook for the event source's end-to-end test (tests/integration/test_event_source_rulebook.py), in a venv of
# its own; it runs on Java 17 or newer, installed from Debian when missing (as root, as the real-server tier does).
EDA_VENV := .venv-eda
.PHONY: eda-venv
eda-venv: $(EDA_VENV)/.installed

$(EDA_VENV)/.installed: requirements-eda.txt requirements-dev.txt
	command -v java >/dev/null || { apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless; }
	$(PYTHON) -m venv $(EDA_VENV)
	PIP_DISABLE_PIP_VERSION_CHECK=1 $(EDA_VENV)/bin/pip install -q -r requirements-eda.txt -c requirements-dev.txt
	touch $@

# The emulator serves Shaken Fist 0.7.2 by default; the targets whose routes differ on the newest server
# (docs/compatibility.md) run again on its `latest` profile.
.PHONY: integration-latest
integration-latest: venv collection-link
	SF_EMULATOR_PROFILE=latest $(BIN)/python tools/pytest_run.py tests/integration/test_targets.py -q -n 2 \
		-k 'sf_snapshot or sf_namespace_cleanup or sf_artifact_info'

# The collection tarball needs only ansible-core: a venv of its own with the pinned version, not the dev toolchain.
BUILD_VENV := .venv-build
BUILD_BIN := $(CURDIR)/$(BUILD_VENV)/bin

$(BUILD_VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(BUILD_VENV)
	PIP_DISABLE_PIP_VERSION_CHECK=1 $(BUILD_BIN)/pip install -q '$(ANSIBLE_CORE)'
	touch $@

build: $(BUILD_VENV)/.installed
	@rm -rf $(TMP)/build && mkdir -p $(TMP)/build
	$(BUILD_BIN)/ansible-galaxy collection build --force --output-path $(TMP)/build .

# ansible-test runs on the built and installed collection, as Galaxy users get it, with empty ignore files.
$(SANITY_VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(SANITY_VENV)
	$(SANITY_VENV)/bin/pip install -q '$(ANSIBLE_CORE)'
	touch $@

sanity: build $(SANITY_VENV)/.installed
	@rm -rf $(SANITY_ROOT) && mkdir -p $(SANITY_ROOT)
	$(BUILD_BIN)/ansible-galaxy collection install --force -p $(SANITY_ROOT) $(TMP)/build/shakenfist-storage-*.tar.gz
	cd $(SANITY_DIR) && git init -q && echo 'tests/output/' > .gitignore && git add -A && \
		git -c user.name=sanity -c user.email=sanity@localhost commit -qm 'built collection'
	$(SANITY_VENV)/bin/python tools/ansible_test_bootstrap.py
	cd $(SANITY_DIR) && PATH=$(CURDIR)/$(SANITY_VENV)/bin:$$PATH ansible-test sanity --local --requirements \
		--python 3.11 --color no

ansible-lint: venv collection-link
	$(BIN)/ansible-lint --profile production

# The same integration targets against the real Shaken Fist 0.7.2 server (installed and started on demand).
integration-real: venv collection-link sfclient-venv eda-venv
	SF_TEST_BACKEND=real $(BIN)/python tools/pytest_run.py tests/integration tests/emulator/conformance -q; \
		status=$$?; $(PYTHON) tests/real_server/harness.py stop; exit $$status

test: lint unit integration integration-latest sanity ansible-lint integration-real

# The oldest ansible-core we claim (requirements-oldest.txt) in a venv of its own: the unit tests, the integration
# targets and the inventory plugin's tests (on the emulator's default profile) and sanity run on it as well as on the
# pinned newest.
OLDEST_VENV := .venv-oldest
OLDEST_BIN := $(CURDIR)/$(OLDEST_VENV)/bin
OLDEST_SANITY_ROOT := $(TMP)/sanity-oldest
OLDEST_SANITY_DIR := $(OLDEST_SANITY_ROOT)/ansible_collections/shakenfist/storage
.PHONY: test-oldest unit-oldest integration-oldest sanity-oldest
$(OLDEST_VENV)/.installed: requirements-oldest.txt requirements-dev.txt
	$(PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_BIN)/pip install -q --upgrade pip
	$(OLDEST_BIN)/pip install -q -r requirements-oldest.txt -c <(grep -v '^ansible-core==' requirements-dev.txt)
	touch $@
unit-oldest: $(OLDEST_VENV)/.installed collection-link
	$(OLDEST_BIN)/ansible --version | head -1
	PYTHONPATH=$(COLL_PATH):$(CURDIR)/emulator $(OLDEST_BIN)/python tools/pytest_run.py tests/unit -q -p no:cacheprovider
integration-oldest: $(OLDEST_VENV)/.installed collection-link
	VIRTUAL_ENV=$(CURDIR)/$(OLDEST_VENV) PYTHONPATH=$(COLL_PATH):$(CURDIR)/emulator \
		$(OLDEST_BIN)/python tools/pytest_run.py tests/integration/test_targets.py tests/integration/test_inventory.py \
		-q -n 2 -p no:cacheprovider
sanity-oldest: build $(OLDEST_VENV)/.installed
	@rm -rf $(OLDEST_SANITY_ROOT) && mkdir -p $(OLDEST_SANITY_ROOT)
	$(OLDEST_BIN)/ansible-galaxy collection install --force -p $(OLDEST_SANITY_ROOT) $(TMP)/build/shakenfist-storage-*.tar.gz
	cd $(OLDEST_SANITY_DIR) && git init -q && echo 'tests/output/' > .gitignore && git add -A && \
		git -c user.name=sanity -c user.email=sanity@localhost commit -qm 'built collection'
	$(OLDEST_BIN)/python tools/ansible_test_bootstrap.py
	cd $(OLDEST_SANITY_DIR) && PATH=$(OLDEST_BIN):$$PATH ansible-test sanity --local --requirements \
		--python 3.11 --color no
test-oldest: unit-oldest integration-oldest sanity-oldest
test: test-oldest

demo: venv collection-link
	$(BIN)/python tools/demo.py

clean: real-server-stop
	rm -rf $(TMP) $(VENV) $(BUILD_VENV) $(SANITY_VENV) $(SFCLIENT_VENV) $(OLDEST_VENV) $(EDA_VENV)

# The real Shaken Fist 0.7.2 server (etcd on 127.0.0.1:2379, API on a free port) for the real-server tier.
# Standard library only: no venv needed. See tests/real_server/README.md.
REAL_HARNESS := $(PYTHON) tests/real_server/harness.py
.PHONY: real-server-install real-server-start real-server-stop real-server-status real-server-env real-server-check

real-server-install:
	$(REAL_HARNESS) install

real-server-start:
	$(REAL_HARNESS) start

real-server-stop:
	$(REAL_HARNESS) stop

real-server-status:
	@$(REAL_HARNESS) status || true

real-server-env:
	@$(REAL_HARNESS) env

real-server-check:
	$(PYTHON) tests/real_server/check_real_server.py

# The official client in its own venv (it pins old dependencies); conformance tests drive the emulator with it.
SFCLIENT_VENV := .venv-sfclient
.PHONY: sfclient-venv
sfclient-venv: $(SFCLIENT_VENV)/.installed

$(SFCLIENT_VENV)/.installed:
	$(PYTHON) -m venv $(SFCLIENT_VENV)
	$(SFCLIENT_VENV)/bin/pip install -q shakenfist-client==0.8.3
	touch $@

# Publish benchmark (not part of make test): sf_image_publish vs sf-client 0.8.3 and the sha512sum+curl floor on a
# fresh emulator; writes docs/performance.md. BENCH_ARGS='--size-mib 256' or '--backend real' to change the run.
.PHONY: bench
bench: venv collection-link sfclient-venv
	$(BIN)/python bench/publish.py --write-docs $(BENCH_ARGS)

# Cleanup benchmark (not part of make test): sf_namespace_cleanup in an ad-hoc ansible-playbook run against
# `sf-client namespace clean` on one emulator with --op-delay 0.5; writes its own section of docs/performance.md.
# BENCH_CLEANUP_ARGS='--instances 50 --artifacts 100' for a smaller run.
.PHONY: bench-cleanup
bench-cleanup: venv collection-link sfclient-venv
	$(BIN)/python bench/cleanup.py --write-docs $(BENCH_CLEANUP_ARGS)

# Resolution benchmark (not part of make test): three references resolved by the sf_artifact lookup in a namespace
# of 10 and of 10,000 artifacts on a fresh emulator; writes the Resolution section of docs/performance.md.
.PHONY: bench-resolve
bench-resolve: venv collection-link
	$(BIN)/python bench/resolve.py --write-docs --json .tmp/bench-resolve.json $(BENCH_RESOLVE_ARGS)

# Download benchmark (not part of make test): sf_artifact_download (alone and in ansible-playbook) against curl,
# sha512sum, curl+sha512sum and sf-client 0.8.3 on a fresh emulator; prints the ratios against issue 21's goals.
.PHONY: bench-download
bench-download: venv collection-link sfclient-venv
	$(BIN)/python bench/download.py --json .tmp/bench-download.json $(BENCH_DOWNLOAD_ARGS)

# Soak benchmark (not part of make test): a thousand mixed tasks across 16 forks against one fresh emulator, faults
# injected at a steady rate, then a consistency check; writes the soak section of docs/reliability.md and fails on
# any inconsistency. SOAK_ARGS='--tasks 200 --seed 1' for a shorter or repeatable run.
.PHONY: soak
soak: venv collection-link
	$(BIN)/python bench/soak.py --write-docs $(SOAK_ARGS)

# The emulator's slow tests (16 concurrent 64 MiB uploads, 5,000-artifact listing, upload throughput) belong to make test.
.PHONY: emulator-slow
emulator-slow: venv
	$(BIN)/python tools/pytest_run.py tests/emulator -q -m slow
test: emulator-slow

# What users get, in .tmp/dist: the collection tarball and the emulator's wheel and sdist (emulator/README.md).
# dist-check installs the wheel in a fresh venv and serves as the README's CI recipe does; ee-context generates the
# execution environment's build context and checks it without a container engine (docs/awx.md).
DIST := $(TMP)/dist
.PHONY: dist dist-collection dist-check ee-context
dist-collection: $(BUILD_VENV)/.installed
	@mkdir -p $(DIST) && rm -f $(DIST)/shakenfist-storage-*.tar.gz
	$(BUILD_BIN)/ansible-galaxy collection build --force --output-path $(DIST) .

dist: dist-collection venv
	@rm -f $(DIST)/sf_emulator-*
	$(BIN)/python -m build --no-isolation --outdir $(DIST) emulator > $(DIST)/build.log || { cat $(DIST)/build.log; exit 1; }

dist-check: dist
	$(BIN)/python tools/dist_check.py

ee-context: dist-collection venv
	$(BIN)/python tools/ee_context.py
test: ee-context dist-check

# Release the changelog for the version in galaxy.yml (docs/releasing.md): folds changelogs/fragments into
# changelogs/changelog.yaml and CHANGELOG.rst and removes them. It finds new modules and plugins with ansible-doc,
# hence the venv first on PATH.
.PHONY: changelog-release
changelog-release: venv
	PATH=$(BIN):$$PATH $(BIN)/antsibull-changelog release

# Documentation checks: plugin docs as the Ansible docsite renders them (antsibull-docs, run on the collection path
# so references resolve), changelog fragments, every link of every page, and every module task the pages show.
.PHONY: docs-lint
docs-lint: venv collection-link
	cd $(COLL_LINK) && PATH=$(BIN):$$PATH $(BIN)/antsibull-docs lint-collection-docs --plugin-docs \
		--validate-collection-refs all --disallow-unknown-collection-refs .
	$(BIN)/antsibull-changelog lint
	$(BIN)/python tools/check_links.py
	$(BIN)/python tools/check_doc_tasks.py
test: docs-lint

# Molecule scenarios of the roles (extensions/molecule/<scenario>): each starts a private emulator, converges its role
# twice (the second run must change nothing), verifies with the info modules and stops the emulator by PID.
.PHONY: molecule
molecule: venv collection-link
	PATH=$(BIN):$$PATH $(BIN)/molecule test --all
test: molecule
