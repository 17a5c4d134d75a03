# EmailStore — every entry point a developer needs. Only python3 (3.11+) and make are assumed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PROTOS := $(shell find protos -name '*.proto')

.PHONY: help install serve migrate gen check-gen lint test test-fast bench clean

help:
	@echo "make serve   set up and run the gRPC server on an embedded PostgreSQL"
	@echo "make test    set up and run every check: generated code, lint, types, tests"
	@echo "make bench   run the benchmarks against a fresh embedded database"
	@echo "make gen     regenerate generated/ from protos/"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(BIN)/emailstore serve

migrate: $(STAMP)
	$(BIN)/emailstore migrate

gen: $(STAMP)
	$(BIN)/python scripts/gen_protos.py generated

# Regenerates into a scratch directory and fails when generated/ differs.
check-gen: $(STAMP)
	@tmp=$$(mktemp -d) && $(BIN)/python scripts/gen_protos.py "$$tmp" \
	  && diff -r -x __pycache__ generated "$$tmp" \
	  && echo "generated/ is up to date" ; rc=$$? ; rm -rf "$$tmp" ; \
	  if [ $$rc -ne 0 ]; then echo "generated/ is stale: run 'make gen' and commit" ; fi ; exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check service tests benchmarks scripts
	$(BIN)/ruff format --check service tests benchmarks scripts
	$(BIN)/mypy --strict service

test: check-gen lint
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
