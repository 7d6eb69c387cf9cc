# sweepdoctor: everything a newcomer needs. `make run` and `make test` set up first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run serve test test-all bench lint docs mutate clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# A demo sweep on the default SQLite database (./sweepdoctor.db), then its diagnosis.
run: $(STAMP)
	$(BIN)/sweepdoctor sweep --dataset digits --trials 30 --folds 5 --epochs 20 --study digits-mlp --diagnose
	$(BIN)/sweepdoctor diagnose --study digits-mlp --worst 3

# worksteal: a worker that runs out of tests takes some of the other's (a few tests of a minute or
# more would otherwise leave one core idle at the end).
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist worksteal

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist worksteal -m ''

# The manual (docs/, MkDocs Material + mkdocstrings) into site/; --strict: a broken link or docstring fails.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -d site

# Mutation testing (mutmut) of diagnostics/, sweep/guide/, studies/query/_where.py and the service's auth and
# pages, in scratch copies under build/mutate/ (never the tree): the kill rate and survivors of each group.
# Some groups: make mutate GROUPS="where guide"; one part of a group: make mutate GROUPS=diagnostics
# ARGS="--module sweepdoctor/diagnostics/_grading.py --tests tests/diagnostics/test_grading_rules.py".
mutate: $(STAMP)
	$(BIN)/python tools/mutate.py $(GROUPS) $(ARGS)

# The web pages and JSON API over the default database, read-only (docs/service.md), on http://127.0.0.1:8080/.
serve: $(STAMP)
	$(BIN)/sweepdoctor serve

bench: $(STAMP)
	$(BIN)/python -m benchmarks

lint: $(STAMP)
	$(BIN)/ruff check sweepdoctor tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

clean:
	rm -rf $(VENV) site .pytest_cache .mypy_cache .ruff_cache *.egg-info
