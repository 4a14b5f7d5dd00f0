# Quick start: `make demo` runs the demo, `make test` runs every check.
# Both create .venv and install the project into it on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint unit timeshift bench clean

$(STAMP): pyproject.toml
	sh scripts/system-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/hwms demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/pytest

# The ledger and rules suites again with the wall clock moved 400 days and 9 years ahead, in
# pytest and in every Python process it starts (tests/timeshift/sitecustomize.py, with
# time-machine; monotonic time stays real): no test may depend on today's date.
timeshift: $(STAMP)
	for days in 400 3287; do \
		echo "== ledger and rules tests with the clock moved $$days days ahead"; \
		PYTHONPATH=tests/timeshift HWMS_TEST_CLOCK_SHIFT_DAYS=$$days \
			$(BIN)/pytest -p no:cacheprovider -m "not slow" tests/central tests/rules || exit 1; \
	done

test: lint unit timeshift

bench: $(STAMP)
	$(BIN)/python bench/bench_rules.py
	$(BIN)/python bench/bench_edge.py
	$(BIN)/python bench/bench_ledger.py
	$(BIN)/python bench/bench_hostile.py
	$(BIN)/python bench/bench_coldchain.py
	$(BIN)/python bench/bench_scan.py
	$(BIN)/python bench/bench_requisitions.py
	$(BIN)/python bench/bench_forecast.py
	$(BIN)/python bench/bench_audit.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
