# Squadron: `make run` serves the portal with a worker and beat; `make test`
# runs the whole suite. Both work on a fresh clone with only Python 3.13 (or
# 3.12) and make.

# The interpreter: the first Python 3.13, then 3.12, found on the PATH or
# installed by pyenv (whose shim answers only for the versions it enables).
# PYTHON=/path/to/python overrides it.
PYTHON ?= $(shell for version in 3.13 3.12; do \
	  for candidate in python$$version $$HOME/.pyenv/versions/$$version*/bin/python$$version; do \
	    if $$candidate -c 'import sys; sys.exit(sys.version_info[:2] < (3, 12))' >/dev/null 2>&1; then \
	      echo $$candidate; exit 0; fi; done; done)
VENV := .venv
BIN := $(VENV)/bin
# The stamp is newer than the requirements once they are installed, so a
# second `make run` skips pip entirely.
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: run test check install lock browser sandbox ldap ldap-headers idp lint format bench clean vendor collection-sanity openapi-lint

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Squadron needs Python 3.13 (3.12 also works) and found neither:" \
	  "install one (pyenv install 3.13, your system's python3.13 package, or python.org) or run make PYTHON=/path/to/python3.13"; \
	  exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installs from the hashed lock file, so a fresh clone gets exactly what CI
# tested, down to the last transitive package.
# Without OpenLDAP's headers (not root, none installed) python-ldap cannot
# build: everything else is installed and Squadron runs with local accounts
# (LDAP logins need them: install the headers, make clean, make install).
WITHOUT_LDAP := awk '/^[^ \#]/ { skip = ($$0 ~ /^(python-ldap|django-auth-ldap)==/) } !skip'
$(STAMP): requirements-dev.lock | $(BIN)/python ldap-headers
	@if [ -f /usr/include/ldap.h ] && [ -f /usr/include/sasl/sasl.h ]; then \
	  $(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements-dev.lock; \
	else \
	  echo "OpenLDAP's headers are missing: installing without python-ldap (LDAP logins off, local accounts work)"; \
	  $(WITHOUT_LDAP) requirements-dev.lock > $(VENV)/requirements-without-ldap.lock && \
	  $(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(VENV)/requirements-without-ldap.lock; \
	fi
	touch $(STAMP)

# requirements*.txt name what Squadron uses; make lock resolves them (for
# Python 3.12 and 3.13 at once) into requirements*.lock with every transitive
# package pinned and hashed. The production lock is held to the development
# one's versions, so both install the same thing.
LOCK := $(BIN)/uv pip compile --quiet --universal --python-version 3.12 --generate-hashes --no-header
lock: install
	UV_PYTHON_DOWNLOADS=never $(LOCK) requirements-dev.txt -o requirements-dev.lock
	UV_PYTHON_DOWNLOADS=never $(LOCK) requirements.txt -c requirements-dev.lock -o requirements.lock

# python-ldap (LDAP logins) builds against OpenLDAP's client library. As root
# its headers are installed when missing; elsewhere install libldap2-dev and
# libsasl2-dev (Debian, Ubuntu) or openldap-devel and cyrus-sasl-devel yourself.
ldap-headers:
	@test -f /usr/include/ldap.h -a -f /usr/include/sasl/sasl.h || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libldap2-dev libsasl2-dev >/dev/null; \
	  else echo "OpenLDAP's headers (ldap.h, sasl/sasl.h) not found: python-ldap cannot build;" \
	    "install libldap2-dev and libsasl2-dev"; fi; }

# A .venv made by an older Python (before 3.13 became the interpreter) is
# refused with what to do, not used.
install: $(STAMP)
	@$(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] < (3, 12))' || { \
	  echo "$(VENV) was made with Python $$($(BIN)/python -c 'import platform; print(platform.python_version())'):" \
	    "Squadron needs 3.13 (or 3.12). Run make clean, then make again."; exit 1; }

run: install
	@mkdir -p var
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_demo
	$(BIN)/python manage.py seed_demo_history
	$(BIN)/python manage.py serve

# The playbook editor of the admin (CodeMirror 6) is bundled from npm into
# portal/static/vendor/codemirror/ with its licences beside it. The bundle is
# committed, so running or testing the portal needs no npm; after changing
# frontend/ (an upgrade: edit package.json, then npm install there to update
# the lock), rebuild it with `make vendor` and commit the result. npm ci
# installs exactly the lock's versions, checked against its hashes. As root
# (CI, containers) npm is installed when missing.
vendor:
	@command -v npm >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; \
	  else echo "make vendor needs node and npm (apt-get install npm)"; exit 1; fi; }
	cd frontend && npm ci --no-audit --no-fund && node build.mjs

# Browser tests drive Debian's Chromium (Playwright's own download cannot
# work here). As root (CI, containers) it is installed when missing; elsewhere
# install it yourself, or the browser tests skip (CI sets
# SQUADRON_REQUIRE_BROWSER=1 so they fail instead).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium not found: browser tests will be skipped"; fi; }

# Playbooks run in bubblewrap's sandbox wherever bwrap exists (make run uses
# it then); the tests need it. As root it is installed when missing.
sandbox:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; \
	  else echo "bwrap not found: playbooks run without a sandbox and its tests are skipped"; fi; }

# Single sign-on is tested against a real OpenID provider: panva's
# oidc-provider run by Node (tests/portal/identity/oidc_provider), installed
# from its lock file. As root Node is installed when missing; elsewhere
# without Node those tests skip (CI sets SQUADRON_REQUIRE_IDP=1 so they fail).
IDP := tests/portal/identity/oidc_provider
idp:
	@{ command -v node && command -v npm; } >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; \
	  else echo "node or npm not found: single sign-on tests will be skipped"; fi; }
	@if command -v npm >/dev/null 2>&1 && [ ! $(IDP)/node_modules/.package-lock.json -nt $(IDP)/package-lock.json ]; then \
	  npm ci --prefix $(IDP) --no-audit --no-fund --loglevel=error; fi

# The LDAP login tests start a real OpenLDAP (Debian's slapd) as the current
# user, in a temporary directory. As root it is installed when missing;
# elsewhere install slapd yourself, or those tests skip (CI sets
# SQUADRON_REQUIRE_LDAP=1 so they fail instead).
ldap:
	@command -v slapd >/dev/null 2>&1 || test -x /usr/sbin/slapd || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slapd >/dev/null; \
	  else echo "slapd not found: the LDAP login tests will be skipped"; fi; }

# The suite runs under coverage ([tool.coverage.*] in pyproject.toml), which
# measures the Python processes the tests start too (pytest's workers, Celery
# workers, servers, management commands). Each process writes a .coverage.*
# file: they are combined into .coverage even when a test failed, and what
# combine could not read (a process killed while it saved) is removed, so
# none is left behind. Then the report, which fails the target below the floor
# (fail_under); it shows the 15 worst files, the total, and how many more
# files are not fully covered (`.venv/bin/coverage report` lists them all).
WORST_FILES := NR <= 17 { print; next } \
  /^-+$$/ { if (more) print "... " more " more files below 100%: .venv/bin/coverage report"; print; next } \
  /^TOTAL|skipped due to|^Coverage failure|^$$/ { print; next } { more++ }
test: SHELL := /bin/bash
test: install browser sandbox ldap idp
	$(BIN)/coverage erase
	status=0; $(BIN)/coverage run -m pytest -n $(PYTEST_WORKERS) --dist loadgroup -p no:cacheprovider || status=$$?; \
	  $(BIN)/coverage combine --quiet; rm -f .coverage.*; \
	  [ $$status -eq 0 ] || exit $$status; \
	  set -o pipefail; $(BIN)/coverage report | awk '$(WORST_FILES)'

# lint-imports checks the import boundaries of pyproject.toml ([tool.importlinter]);
# mypy the types of the application packages ([tool.mypy]: Django and DRF
# stubs, zero errors): ~1 s once its .mypy_cache is warm, ~10 s from cold.
# Its Django plugin imports the settings: DEBUG=1 lets them use the
# development secrets even in a shell set up for production (the types are
# the same either way).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	DEBUG=1 $(BIN)/mypy

# The fast gates CI runs before the suites: lint, format, import boundaries,
# types, and no model change without its migration.
check: lint
	$(BIN)/python manage.py makemigrations --check --dry-run

# ansible-test sanity on the squadron.portal collection (clients/ansible/).
# ansible-test wants it at ansible_collections/squadron/portal, so a copy goes
# there, in a temporary folder outside this repository (inside it, ansible-test
# would ask git which files to test, and git ignores a copy). Each sanity test
# installs the linters ansible-test pins from PyPI into a virtual environment
# of its own, cached under ~/.ansible/test. It starts those from a get-pip.py
# it downloads from its own CI host, which our machines cannot reach: it uses
# a copy saved in its cache instead, and tools/ansible-test/get_pip.py is
# that copy (pip from Python's ensurepip, then the pip it pins from PyPI).
collection-sanity: SHELL := /bin/bash
collection-sanity: install
	@pip_version=$$($(BIN)/python -c "import inspect, re, ansible_test._internal.python_requirements as r; \
	  print(re.search(r\"pip='([0-9.]+)'\", inspect.getsource(r.get_venv_packages))[1])"); \
	  mkdir -p ~/.ansible/test/cache; \
	  cp tools/ansible-test/get_pip.py ~/.ansible/test/cache/get_pip_$${pip_version//./_}.py
	set -e; where=$$(mktemp -d); trap 'rm -rf "$$where"' EXIT; \
	  mkdir -p "$$where/ansible_collections/squadron"; \
	  cp -r clients/ansible "$$where/ansible_collections/squadron/portal"; \
	  cd "$$where/ansible_collections/squadron/portal"; \
	  PATH="$(CURDIR)/$(BIN):$$PATH" ansible-test sanity --local --color no \
	    --python $$($(CURDIR)/$(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')

# redocly and spectral lint the OpenAPI document the API serves (as
# manage.py spectacular writes it), with the rulesets of tools/openapi-lint/
# (where each rule turned off says why). Both are npm packages, installed
# into tools/openapi-lint/node_modules at the versions package-lock.json pins.
OPENAPI_LINT := tools/openapi-lint
$(OPENAPI_LINT)/node_modules/.installed: $(OPENAPI_LINT)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; \
	  else echo "openapi-lint needs node and npm: install them (apt-get install nodejs npm)"; exit 1; fi; }
	cd $(OPENAPI_LINT) && npm ci --no-audit --no-fund --loglevel=error
	touch $@
openapi-lint: install $(OPENAPI_LINT)/node_modules/.installed
	@mkdir -p var
	DEBUG=1 $(BIN)/python manage.py spectacular --validate --fail-on-warn --file var/openapi.yaml
	cd $(OPENAPI_LINT) && REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true node_modules/.bin/redocly lint --config redocly.yaml ../../var/openapi.yaml
	cd $(OPENAPI_LINT) && node_modules/.bin/spectral lint --ruleset .spectral.yaml --fail-severity error ../../var/openapi.yaml

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache .mypy_cache .coverage .coverage.* htmlcov
