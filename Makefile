# make dev    the whole stack locally (Firestore emulator, local Cloud Tasks, api, worker)
# make test   lint + the whole test suite, exactly what CI runs (.ci/run)
# make bench  the benchmark scripts; they print their figures

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: dev test lint unit bench tasks-server install tools clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

install: $(VENV)/.installed

tools:
	@scripts/check-tools.sh

dev: install tools
	$(PY) scripts/dev.py

test: lint
	$(PY) -m pytest -q

unit: install
	$(PY) -m pytest -q tests/unit

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@if [ -d terraform ] && command -v terraform >/dev/null; then terraform fmt -check -recursive terraform; fi

tasks-server: install
	$(PY) -m devtools.cloud_tasks_server

bench: install tools
	$(PY) benchmarks/cloud_tasks_server.py
	$(PY) benchmarks/pipeline.py
	$(PY) benchmarks/cold_start.py

clean:
	rm -rf .local .pytest_cache .ruff_cache
