# kubetrain developer entry points. Every install step the project needs lives here or in
# hack/, so a fresh machine needs nothing but Python 3.11+, Go and this Makefile.
SHELL := /bin/bash
VENV ?= .venv
# The interpreter that bootstraps the venv, found before .venv/bin goes first on PATH.
BOOT_PYTHON := $(shell python3 -c 'import sys; print(sys.executable)')
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help venv binaries generate check-generated lint typecheck test-unit check test-cluster test \
	dev-up dev-down clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

venv: $(VENV)/.installed ## create .venv with every extra (operator, trainer, dev cluster, tests, lint)

$(VENV)/.installed: pyproject.toml
	$(BOOT_PYTHON) -m pip install -q --disable-pip-version-check uv
	$(BOOT_PYTHON) -m uv venv -q --allow-existing --python $(BOOT_PYTHON) $(VENV)
	$(BOOT_PYTHON) -m uv pip install -q --python $(PY) -e ".[all,test,dev]"
	touch $@

binaries: ## build (or reuse) the control plane, kwok, helm, Kueue, kstatus and kube-score
	hack/build-k8s.sh >/dev/null
	hack/build-tools.sh >/dev/null
	hack/build-kueue.sh >/dev/null

generate: venv ## write crds/ and docs/api.md from the pydantic models in kubetrain/api
	$(PY) -m kubetrain.api.crdgen

check-generated: venv ## fail if crds/, the chart's CRD or docs/api.md differ from `make generate`
	@out=$$(mktemp -d) && trap 'rm -rf "$$out"' EXIT && \
	$(PY) -m kubetrain.api.crdgen --root "$$out" >/dev/null && \
	diff -ru crds "$$out/crds" && diff -u docs/api.md "$$out/docs/api.md" && \
	diff -ru helm/kubetrain/crds "$$out/helm/kubetrain/crds" || \
	{ echo "generated files are stale: run 'make generate' and commit the result"; exit 1; }

lint: venv ## ruff, formatting, import layers
	$(BIN)/ruff check operator trainer_image tests
	$(BIN)/ruff format --check operator trainer_image tests
	$(BIN)/lint-imports

typecheck: venv ## mypy
	$(BIN)/mypy

test-unit: venv ## pure tests: no cluster, no Go-built tools
	$(BIN)/pytest -m "not tools" tests/unit

check: lint typecheck check-generated test-unit ## the fast lane: everything that needs no cluster

test-cluster: venv binaries ## the tests that need Go-built tools or the dev cluster
	$(BIN)/pytest -m tools tests/unit
	$(BIN)/pytest tests/integration tests/e2e

# Sequential on purpose, also under `make -j`: a broken change fails in the fast lane, before
# the control-plane binaries are built and the cluster comes up.
test: ## everything CI runs: the fast lane, then integration and e2e against the dev cluster
	$(MAKE) --no-print-directory check
	$(MAKE) --no-print-directory test-cluster

dev-up: venv binaries ## start the local dev cluster
	$(BIN)/kubetrain dev up

dev-down: venv ## stop the local dev cluster
	$(BIN)/kubetrain dev down

clean: ## remove the virtualenv (the binary cache outside the repo stays)
	rm -rf $(VENV)
