# Horde Model Analytics — developer commands. `make run` and `make test` do all set-up themselves.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
PY := .venv/bin/python
OFFLINE ?= 0
PYTEST_ARGS ?=

.PHONY: setup run test test-unit test-integration test-browser lint typecheck format bench bench-recompute chaos asyncapi clean tools image

## setup: Python deps from the lock file, and redis-server when it is missing (Debian/Ubuntu).
setup:
	@command -v uv >/dev/null 2>&1 || python3 -m pip install -q uv
	@$(UV) sync --frozen --quiet
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing redis-server"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] && echo "" || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq redis-server >/dev/null; }

## run: the whole stack on this machine (embedded broker, local Redis, four services; OFFLINE=1 = recorded data;
## DATA=<capture folder> = one recorded day, see README "Your own data").
run: setup
	@$(PY) -m devtools.devstack.stack $(if $(filter 1,$(OFFLINE)),--offline,) $(if $(DATA),--data "$(DATA)",)

## test: the whole suite against a real broker and Redis (KAFKA_BOOTSTRAP_SERVERS / REDIS_URL override),
## without the chaos scenarios (`make chaos`).
test: setup
	@$(PY) -m pytest -m "not chaos" $(PYTEST_ARGS)

test-unit: setup
	@$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-integration: setup
	@$(PY) -m pytest -m "(integration or e2e) and not chaos" $(PYTEST_ARGS)

## test-browser: the review page in Debian's headless chromium (Playwright) against a running stack; also
## part of `make test`. Skipped (with the reason) when no chromium exists, unless HORDE_REQUIRE_CHROMIUM=1.
test-browser: setup
	@$(PY) -m pytest tests/browser -m browser $(PYTEST_ARGS)

lint: setup
	@$(PY) -m ruff check .
	@$(PY) -m ruff format --check shared services devtools bench

typecheck: setup
	@$(PY) -m mypy

format: setup
	@$(PY) -m ruff format shared services devtools bench tests
	@$(PY) -m ruff check --fix .

## bench-recompute: time the full recompute of every view per category at 1x, 10x, 100x.
bench-recompute: setup
	@$(PY) -m bench.recompute

## bench: every benchmark (recompute, freshness, gateway load, memory): one table + bench/results/suite.json; QUICK=1 ≈ 4 min.
bench: setup
	@$(PY) -m bench.suite $(if $(filter 1,$(QUICK)),--quick,)

## chaos: kills, restarts, outages, malformed input and fuzzing against the real services (prints CHAOS: figures).
chaos: setup
	@$(PY) -m pytest tests/chaos -m chaos $(PYTEST_ARGS)

## tools: the deployment validators tests/deploy runs (kustomize, kube-score, promtool) into .ci/work/bin.
tools:
	@.ci/install-tools

## image: the production image (IMAGE=..., TAG=..., PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:... to pin).
IMAGE ?= ghcr.io/haidra-org/horde-model-analytics
TAG ?= dev
image:
	@if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then \
	  echo "make image: no Docker engine answers here (docker info failed); build on a machine with one:"; \
	  echo "  docker build -t $(IMAGE):$(TAG) ."; \
	  exit 1; \
	fi
	docker build $(if $(PYTHON_IMAGE),--build-arg PYTHON_IMAGE=$(PYTHON_IMAGE),) -t $(IMAGE):$(TAG) .
	@docker image inspect --format 'built $(IMAGE):$(TAG) {{.Id}} ({{.Size}} bytes)' $(IMAGE):$(TAG)

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache bench/results
