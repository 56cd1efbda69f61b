# Two commands for a newcomer: `make run` and `make test`. Both install what they need, from the lock.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The npm clients the tests run (graphql-http's audit, Apollo Client): npm ci, from the lock.
NODE_CLIENTS := tools/graphql-clients
NODE_STAMP := $(NODE_CLIENTS)/node_modules/.package-lock.json
UV := $(BIN)/uv
# Pins the interpreter the lock is resolved for; the image and CI run 3.11.
LOCK_PYTHON := 3.11
LOCK_FLAGS := --generate-hashes --universal --python-version $(LOCK_PYTHON) --quiet --custom-compile-command "make lock"

.PHONY: run test lint typecheck schema documents bench install lock upgrade clean browser promtool alerts

# Installs only from requirements/*.txt with every hash checked: nothing is resolved here.
# uv comes first from its own one-line lock (pip checks its hash), then syncs the venv to the
# dev lock exactly (extra packages removed), then installs this project without its deps.
$(STAMP): requirements/bootstrap.txt requirements/dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements/bootstrap.txt
	$(UV) pip sync --quiet --python $(BIN)/python --require-hashes requirements/dev.txt
	$(UV) pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation -e .
	touch $(STAMP)

# npm ci installs exactly package-lock.json, every package checked against its integrity hash.
$(NODE_STAMP): $(NODE_CLIENTS)/package.json $(NODE_CLIENTS)/package-lock.json
	cd $(NODE_CLIENTS) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

install: $(STAMP) $(NODE_STAMP)

run: $(STAMP)
	ENROLLWIRE_SANDBOX=$${ENROLLWIRE_SANDBOX:-true} $(BIN)/enrollwire serve --seed-demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Debian's Chromium for the browser tests: Playwright cannot download its own browsers here.
browser:
	@test -x /usr/bin/chromium || { \
		if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
		$$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

# Debian's promtool (package prometheus) checks the alert rules and runs their unit tests.
promtool:
	@command -v promtool >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
		$$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus; }

alerts: promtool
	promtool check rules deploy/prometheus/alerts.yml
	promtool test rules deploy/prometheus/alerts_test.yml

test: lint typecheck browser alerts $(NODE_STAMP)
	$(BIN)/pytest

# Re-resolves every lock to the newest versions pyproject.toml allows. The runtime lock is
# resolved inside the dev lock's pins, so the image runs exactly the versions the tests ran.
lock: $(STAMP)
	$(UV) pip compile pyproject.toml requirements/build.in --extra dev --upgrade $(LOCK_FLAGS) \
		-o requirements/dev.txt
	$(UV) pip compile pyproject.toml requirements/build.in -c requirements/dev.txt $(LOCK_FLAGS) \
		-o requirements/runtime.txt
	grep -E '^uv==' requirements/dev.txt | cut -d' ' -f1 > $(VENV)/uv.in
	$(UV) pip compile $(VENV)/uv.in $(LOCK_FLAGS) --no-annotate -o requirements/bootstrap.txt
	$(MAKE) install

upgrade: lock test

schema: $(STAMP)
	$(BIN)/python -m resolvers.export > schema.graphql

# The browser pages' documents, hashed: the manifest ENROLLWIRE_TRUSTED_DOCUMENTS can name.
documents: $(NODE_STAMP)
	node $(NODE_CLIENTS)/manifest.mjs > web/trusted-documents.json

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache $(NODE_CLIENTS)/node_modules
