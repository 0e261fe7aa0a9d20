# The two commands of the README. Each creates .venv and installs the project on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
# Debian's Chromium: tests/test_report.py renders the HTML report in a real headless browser.
CHROMIUM := /usr/bin/chromium

.PHONY: run test lint bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,local]'
	touch $(STAMP)

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

run: $(STAMP)
	$(BIN)/dealx run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint $(CHROMIUM)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/bench_extract.py
	$(BIN)/python bench/bench_eval.py
	$(BIN)/python bench/bench_consolidate.py
	$(BIN)/python bench/bench_load.py
	$(BIN)/python bench/bench_batch.py
	$(BIN)/python bench/bench_startup.py
