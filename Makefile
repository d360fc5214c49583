# make dev    the whole stack locally (Firestore emulator, local Cloud Tasks, api, worker);
#             keeps its data in .local/ across runs, `make dev FRESH=1` starts empty
# make queue-down / queue-up   stop / restart that stack's Cloud Tasks server (the outage)
# make test   lint + the whole test suite, exactly what CI runs (.ci/run)
# make bench  the benchmark scripts; they print their figures
# make fuzz   schemathesis against the local stack, longer than make test's run
# make lock   re-compile requirements*.txt (pinned, hashed) from requirements*.in
# make plan / make apply   Terraform (terraform/); TF_ARGS=... passes options on
# make deploy ships the code to both functions; `make deploy DRY_RUN=1` prints the gcloud commands
# make screenshots   docs/screenshots/ again, from the local stack in Chromium
# make web-vendor    web/vendor/ again from web/package-lock.json (needs npm; docs/web-console.md)

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: dev test lint lock unit fuzz bench tasks-server install tools clean queue-down queue-up pid

# requirements*.txt are locks compiled from requirements*.in (`make lock`): every package
# pinned, with hashes. The dev lock is complete (every package the tools need), so it is
# installed as it is, with --no-deps --require-hashes: pip resolves nothing, which is what
# pip's secure-installs guidance describes for a full hashed lock, and it works the same with
# the pip a fresh venv has (23.2.1 on Python 3.11.7) and with today's, whatever is released
# upstream later (pip 23's resolver takes a newer release of a package asked for with an
# extra, google-auth[requests], and refuses the lock). `pip check` then proves the lock is
# whole. The deployed requirements.txt is installed by Google Cloud's buildpack, with no
# flag: scripts/lock.py writes it so that any pip resolves it (tests/install/).
$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes \
	  -r requirements-dev.txt
	$(PY) -m pip check --disable-pip-version-check
	@touch $@

install: $(VENV)/.installed

# Re-lock after editing requirements.in or requirements-dev.in (UPGRADE=1: newest versions
# of what the .in files leave free). uv compiles; scripts/lock.py says what it adds.
lock: install
	$(PY) scripts/lock.py $(if $(UPGRADE),--upgrade)

tools:
	@scripts/check-tools.sh

dev: install tools
	$(PY) scripts/dev.py

queue-down: install
	$(PY) scripts/dev.py queue-down

queue-up: install
	$(PY) scripts/dev.py queue-up

test: tools lint checkov chromium node-deps
	$(PY) -m pytest -q

unit: install
	$(PY) -m pytest -q tests/unit

fuzz: install tools
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-100} FUZZ_MAX_TIME=$${FUZZ_MAX_TIME:-1200} \
	  $(PY) -m pytest -q -s tests/e2e/test_api_contract.py

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	@if [ -d terraform ] && command -v terraform >/dev/null; then terraform fmt -check -recursive terraform; \
	elif [ -d terraform ]; then echo "terraform is not installed: terraform fmt -check skipped" >&2; fi

tasks-server: install
	$(PY) -m devtools.cloud_tasks_server

# The PID of this stack's process NAME (firestore, tasks, api, worker), checked first:
# `kill -9 $$(make -s pid NAME=worker)` is the crash of one part (docs/local-development.md).
pid: install
	@$(PY) scripts/dev.py pid $(NAME)

# QUICK=1: each script's --quick run (a few iterations; make test runs them, tests/benchmarks)
bench: install tools
	$(PY) benchmarks/cloud_tasks_server.py $(if $(QUICK),--quick)
	$(PY) benchmarks/pipeline.py $(if $(QUICK),--quick)
	$(PY) benchmarks/outage.py $(if $(QUICK),--quick)
	$(PY) benchmarks/gate_reopen.py $(if $(QUICK),--quick)
	$(PY) benchmarks/cold_start.py $(if $(QUICK),--quick)
	$(PY) benchmarks/overview.py $(if $(QUICK),--quick)
	$(PY) benchmarks/audit.py $(if $(QUICK),--quick)
	$(PY) benchmarks/veo_quota.py $(if $(QUICK),--quick)

clean:
	rm -rf .local .pytest_cache .ruff_cache

# Terraform and the code deploy (docs/deploy.md). Their checks run in `make test`: terraform
# fmt (lint), checkov (below), and tests/terraform (pytest).
.PHONY: plan apply deploy terraform-schema checkov

CHECKOV_VERSION := 3.3.30
CHECKOV_VENV    := .local/tools/checkov-$(CHECKOV_VERSION)
TERRAFORM       := terraform -chdir=terraform

plan:
	$(TERRAFORM) init -input=false
	$(TERRAFORM) plan $(TF_ARGS)

apply:
	$(TERRAFORM) init -input=false
	$(TERRAFORM) apply $(TF_ARGS)

# The venv's Python: before the first apply, DRY_RUN=1 plans the commands from terraform/
# with python-hcl2 (scripts/deploy.py).
deploy: install
	DRY_RUN=$(DRY_RUN) $(PY) scripts/deploy.py

# Re-extract tests/terraform/{google,time}_provider_schema.json after using a new resource type.
terraform-schema: install
	$(PY) scripts/terraform_schema.py --provider google
	$(PY) scripts/terraform_schema.py --provider time

# checkov in a virtualenv of its own: its pinned dependencies clash with the app's.
$(CHECKOV_VENV)/.installed:
	rm -rf $(CHECKOV_VENV)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check checkov==$(CHECKOV_VERSION)
	@touch $@

checkov: $(CHECKOV_VENV)/.installed
	$(CHECKOV_VENV)/bin/checkov --directory terraform --framework terraform --skip-download --quiet --compact

# Fault injection and the audit (docs/chaos-and-audit.md):
# make chaos N=100000             N requests through the real services under injected faults
# make chaos-stack USERS=50 DURATION=300   the local stack under load, processes killed
# make audit                      the store's invariants (make dev's emulator, or
#                                 GOOGLE_CLOUD_PROJECT's Firestore); AUDIT_ARGS=--json ...
.PHONY: chaos chaos-stack audit

N ?= 100000
USERS ?= 50
DURATION ?= 300

chaos: install
	$(PY) benchmarks/chaos.py $(N)

chaos-stack: install tools
	$(PY) -m tests.chaos.stack_run --users $(USERS) --seconds $(DURATION)

audit: install
	@if [ -z "$$GOOGLE_CLOUD_PROJECT$$FIRESTORE_EMULATOR_HOST" ]; then \
	  export FIRESTORE_EMULATOR_HOST=127.0.0.1:$${FIRESTORE_PORT:-8085}; \
	  echo "make audit: make dev's Firestore emulator ($$FIRESTORE_EMULATOR_HOST);" \
	       "set GOOGLE_CLOUD_PROJECT to audit Firestore"; \
	fi; $(PY) -m shared.audit audit $(AUDIT_ARGS)

# The web console (docs/web-console.md). Its browser tests (tests/browser) run in make test,
# in Debian's Chromium driven by Playwright: `apt-get install chromium` (.ci/run does).
.PHONY: chromium web-vendor screenshots

chromium:
	@command -v chromium >/dev/null || { echo "missing: chromium, for the browser tests" \
	  "(tests/browser) — install it with: apt-get install chromium" >&2; exit 1; }

web-vendor:
	npm ci --prefix web --no-audit --no-fund --ignore-scripts
	node web/vendor.mjs

# The real Firebase JS SDK for tests/firebase_sdk (firestore.rules as a client app meets them),
# installed from its package-lock.json only; the stamp runs npm ci again when the lock changes.
.PHONY: node-deps
FIREBASE_SDK := tests/firebase_sdk

$(FIREBASE_SDK)/node_modules/.installed: $(FIREBASE_SDK)/package.json $(FIREBASE_SDK)/package-lock.json
	@command -v npm >/dev/null || { echo "missing: node 20+ and npm, for the Firebase SDK" \
	  "tests (tests/firebase_sdk) — install Node.js 20 (e.g. NodeSource's nodejs)" >&2; exit 1; }
	npm ci --prefix $(FIREBASE_SDK) --no-audit --no-fund --ignore-scripts
	@touch $@

node-deps: $(FIREBASE_SDK)/node_modules/.installed

screenshots: install chromium
	$(PY) -m tests.browser.screenshots
