# kubetrain developer entry points. Every install step the project needs lives here or in
# hack/, so a fresh machine needs nothing but Python 3.11+, Go and this Makefile.
SHELL := /bin/bash
VENV ?= .venv
# The interpreter that bootstraps the venv, found before .venv/bin goes first on PATH.
BOOT_PYTHON := $(shell python3 -c 'import sys; print(sys.executable)')
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help venv binaries lint typecheck generate check-generated test test-unit test-cluster dev-up dev-down clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

venv: $(VENV)/.installed ## create .venv with every extra (operator, trainer, dev cluster, tests, lint)

$(VENV)/.installed: pyproject.toml
	$(BOOT_PYTHON) -m pip install -q --disable-pip-version-check uv
	$(BOOT_PYTHON) -m uv venv -q --allow-existing --python $(BOOT_PYTHON) $(VENV)
	$(BOOT_PYTHON) -m uv pip install -q --python $(PY) -e ".[all,test,dev]"
	touch $@

binaries: ## build (or reuse) kube-apiserver, controller-manager, scheduler, kubectl, etcd, kwok, helm
	hack/build-k8s.sh >/dev/null

lint: venv ## ruff, formatting, import layers
	$(BIN)/ruff check operator trainer_image tests
	$(BIN)/ruff format --check operator trainer_image tests
	$(BIN)/lint-imports

typecheck: venv ## mypy
	$(BIN)/mypy

test-unit: venv ## pure tests, no cluster
	$(BIN)/pytest tests/unit

test: venv binaries lint typecheck ## everything CI runs: lint, types, unit, integration and e2e against the dev cluster
	$(BIN)/pytest tests

dev-up: venv binaries ## start the local dev cluster
	$(BIN)/kubetrain dev up

dev-down: venv ## stop the local dev cluster
	$(BIN)/kubetrain dev down

clean: ## remove the virtualenv (the binary cache outside the repo stays)
	rm -rf $(VENV)
