# Two commands on a fresh machine: `make run` (the demo on an embedded emulator) and
# `make test` (lint, types and the whole suite). Everything they need is installed here.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
INSTALLED := $(VENV)/.installed
EMULATORS := .emulators/kinesis-local.version
KCLPY := .kclpy/amazon_kclpy.version
RUN_SECONDS ?= 60
PYTEST_ARGS ?=

# The emulators take any credentials; never reach for real ones in dev and CI.
export AWS_ACCESS_KEY_ID ?= test
export AWS_SECRET_ACCESS_KEY ?= test
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: install run test lint unit bench emulators kclpy clean

install: $(INSTALLED)

KERNEL_SOURCES := $(addprefix consumer/detection/fleet/,_wave_kernel.c step_kernel.c relation_kernel.c wave_kernel.h)

$(INSTALLED): pyproject.toml setup.py $(KERNEL_SOURCES)
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev]'
	touch $@

$(EMULATORS): scripts/install-kinesis-mock.sh
	bash scripts/install-kinesis-mock.sh .emulators

$(KCLPY): scripts/fetch-kclpy-source.sh | $(INSTALLED)
	PYTHON="$(abspath $(PY))" bash scripts/fetch-kclpy-source.sh .kclpy

emulators: $(EMULATORS)

kclpy: $(KCLPY)

## run: the demo: moto on 127.0.0.1:4566, a worker, the producer, live anomalies, a summary.
run: $(INSTALLED)
	$(PY) -m consumer.devenv.demo --seconds $(RUN_SECONDS)

lint: $(INSTALLED)
	$(VENV)/bin/ruff check consumer producers tests benchmarks
	$(VENV)/bin/mypy

test: $(INSTALLED) $(EMULATORS) $(KCLPY)
	$(MAKE) --no-print-directory lint
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

bench: $(INSTALLED)
	$(PY) -m benchmarks.support.run_all

clean:
	rm -rf $(VENV) .emulators .kclpy .mypy_cache .ruff_cache .pytest_cache
