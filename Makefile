# One entry point per job. Every target creates .venv and installs the project when missing,
# so that on a fresh machine `make run` or `make test` alone is enough.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# data-size: real training images per class, one DVC experiment each (docs/data_size.md)
PER_CLASS ?= 20,50,200,720
# experiments at a time (dvc queue start -j); with JOBS > 1 each experiment gets cpu_threads=1
JOBS ?= 1
# pinned versions of every package (make constraints refreshes it); CONSTRAINTS= installs unpinned
CONSTRAINTS ?= constraints.txt

# regime-map: real training images per class of its sizes (docs/regime_map.md)
MAP_PER_CLASS ?= 20,50

.PHONY: run test check lint bench data-size regime-map classic-sweep install constraints clean

$(STAMP): setup.cfg pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	# the project's distribution was named "augment" before (an unrelated project's name on the index)
	$(BIN)/pip uninstall -y -q augment 2> /dev/null || true
	$(BIN)/pip install -e '.[pipeline,dev]' $(if $(CONSTRAINTS),-c $(CONSTRAINTS))
	touch $(STAMP)

install: $(STAMP)

## run: the whole comparison on the bundled digits dataset (dvc repro)
run: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

## test: the test suite
test: $(STAMP)
	$(BIN)/python -m pytest

## lint: ruff (lint and format), mypy on the three packages, the import-linter layering (pyproject.toml)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## check: what CI runs (.ci/run): the lint checks, then the test suite
check: lint test

## data-size: accuracy vs real training size, one queued DVC experiment per size in PER_CLASS
##   (after `make run`; make data-size PER_CLASS=10,20,50,100 for the bundled digits)
data-size: $(STAMP)
	$(BIN)/python -m pipelines.data_size run --per-class $(PER_CLASS) -j $(JOBS) \
	  $(if $(filter-out 1,$(JOBS)),--set cpu_threads=1)

## regime-map: where a synthetic source could beat classic: sizes MAP_PER_CLASS x synthetic ratio
##   1/4/10 plus a 4x-steps column, 5 seeds, one queued DVC experiment per cell (docs/regime_map.md)
regime-map: $(STAMP)
	$(BIN)/python -m pipelines.regime_map run --per-class $(MAP_PER_CLASS) -j $(JOBS) \
	  $(if $(filter-out 1,$(JOBS)),--set cpu_threads=1)

## classic-sweep: the strongest simple classical augmentation for the data in params.yaml, chosen on the
##   validation split, written into params.yaml (docs/classic_sweep.md); then `make run` reruns the classic sources
classic-sweep: $(STAMP)
	$(BIN)/python -m pipelines.classic_sweep --write

## bench: throughput benchmarks (not tests)
bench: $(STAMP)
	$(BIN)/python benchmarks/throughput.py

## constraints: re-pin constraints.txt to the newest versions setup.cfg allows (a fresh venv;
##   then make run and make check, and commit constraints.txt with the refreshed dvc.lock)
constraints:
	rm -rf .venv-pin && $(PYTHON) -m venv .venv-pin
	.venv-pin/bin/pip install -q --upgrade pip && .venv-pin/bin/pip install -q -e '.[pipeline,dev]'
	{ sed -n '1,3p' constraints.txt; .venv-pin/bin/pip freeze --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt && rm -rf .venv-pin

clean:
	rm -rf $(VENV) build *.egg-info
