# activetrader: set up, test, demo.  `make demo` and `make test` work on a fresh machine.
#
# The virtualenv lives in .venv and is reused. `.venv/.installed` records the last
# `pip install -e '.[test]'`, so pip runs again only when pyproject.toml changes.
# Extra pytest options: make test PYTEST_ARGS="-k rsi -x"
# A particular interpreter: make venv PYTHON=/path/to/python3.12

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

# Interpreters tried in order; the first that is Python >= 3.12 creates the venv.
PYTHON ?=
PYTHON_CANDIDATES := $(PYTHON) python3.12 $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python) python3
IS_PY312 := import sys; sys.exit(sys.version_info < (3, 12))

# pip prints this line for every find-links/index folder missing on this machine: harmless.
PIP_NOISE := is ignored: it is neither a file nor a directory

# Notebooks run under nbval in strict mode (stored outputs compared) in the current venv's
# kernel; the sanitize file lists the few volatile values (see its comments).
NBVAL := --nbval notebooks --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

.PHONY: help venv test demo dashboard notebooks bench clean distclean

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z]+):.*## /  make \1\t/' | expand -t 20

venv: $(STAMP)  ## create .venv (Python >= 3.12) and install activetrader with its test extras

$(BIN)/python:
	@py=""; \
	for candidate in $(PYTHON_CANDIDATES); do \
	  if "$$candidate" -c '$(IS_PY312)' >/dev/null 2>&1; then py="$$candidate"; break; fi; \
	done; \
	if [ -z "$$py" ]; then \
	  echo "error: activetrader needs Python >= 3.12; tried: $(PYTHON_CANDIDATES)" >&2; \
	  echo "       install Python 3.12 (e.g. 'pyenv install 3.12') or run: make venv PYTHON=/path/to/python3.12" >&2; \
	  exit 1; \
	fi; \
	echo "creating $(VENV) with $$py ($$("$$py" --version 2>&1))"; \
	"$$py" -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	@if ! $(BIN)/python -c '$(IS_PY312)'; then \
	  echo "error: $(VENV) is $$($(BIN)/python --version 2>&1), activetrader needs >= 3.12; run 'make distclean venv'" >&2; \
	  exit 1; \
	fi
	@echo "installing activetrader (editable) with test extras into $(VENV)"
	@$(BIN)/python -m pip install -qq --editable '.[test]' 2>&1 | { grep -v '$(PIP_NOISE)' || true; }
	@touch $@

test: venv  ## run the whole suite: tests/, every module's doctests, the notebooks under nbval
	$(BIN)/pytest tests --doctest-modules activetrader $(NBVAL) $(PYTEST_ARGS)

demo: venv  ## run one iteration on the embedded default (simulated market, $100,000 paper account)
	$(BIN)/activetrader iterate

dashboard: venv  ## serve the Voila teaching dashboard on http://127.0.0.1:8866
	$(BIN)/voila notebooks/dashboard.ipynb --no-browser --Voila.ip=127.0.0.1 --port=8866

notebooks: venv  ## re-execute notebooks/*.ipynb in place (refresh stored outputs after a change)
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.store_widget_state=False \
	  --ClearMetadataPreprocessor.enabled=True --ClearMetadataPreprocessor.clear_notebook_metadata=False \
	  notebooks/*.ipynb

bench: venv  ## run the performance harness (benchmarks/; results in benchmarks/RESULTS.md)
	$(BIN)/python benchmarks/bench_broker.py
	$(BIN)/python benchmarks/bench_backtest.py --repeat 5
	$(BIN)/python benchmarks/bench_sweep.py
	$(BIN)/python benchmarks/bench_peers.py  # builds benchmarks/.venv-peers (vectorbt, Lumibot) on first use

clean:  ## remove caches and build artefacts (keeps .venv)
	find . -path ./$(VENV) -prune -o -type d \( -name __pycache__ -o -name .ipynb_checkpoints \) -print0 \
	  | xargs -0 rm -rf
	rm -rf .pytest_cache .hypothesis build dist *.egg-info test-artifacts

distclean: clean  ## also remove .venv
	rm -rf $(VENV)
