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

.PHONY: run test bench data-size install clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## run: the whole comparison on the bundled digits dataset (dvc repro)
run: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

## test: the test suite
test: $(STAMP)
	$(BIN)/python -m pytest

## data-size: accuracy vs real training size, one queued DVC experiment per size in PER_CLASS
##   (after `make run`; make data-size PER_CLASS=10,20,50,100 for the bundled digits)
data-size: $(STAMP)
	$(BIN)/python -m pipelines.data_size run --per-class $(PER_CLASS) -j $(JOBS) \
	  $(if $(filter-out 1,$(JOBS)),--set cpu_threads=1)

## bench: throughput benchmarks (not tests)
bench: $(STAMP)
	$(BIN)/python benchmarks/throughput.py

clean:
	rm -rf $(VENV) build *.egg-info
