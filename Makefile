# Every command the README shows. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: help venv services services-down docker images dev dev-down lint format test test-app test-stack \
	bench-import bench-stack lock demo clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(BIN)/.installed: app/requirements.txt app/requirements-dev.txt requirements-ansible.txt
	@echo "==> creating $(VENV) with the pinned app, test and Ansible dependencies"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r app/requirements-dev.txt -r requirements-ansible.txt
	@touch $@

venv: $(BIN)/.installed ## create .venv with the pinned app, test and Ansible (controller) dependencies

services: ## install (when missing) and start PostgreSQL and Redis for the tests
	@bash tests/services.sh up

services-down: ## stop the test PostgreSQL and Redis
	@bash tests/services.sh down

docker: ## install (when missing) and start a Docker engine with the Compose v2 plugin
	@docker info >/dev/null 2>&1 && docker compose version >/dev/null 2>&1 || bash tests/docker.sh up

images: docker ## pick the stack's base images: official ones, or local stand-ins when no registry answers
	@bash tests/images.sh

dev: docker images ## the local stack: build, migrate, collectstatic, demo superuser; prints the URL
	@bash compose/dev.sh up

dev-down: ## stop the local stack (data stays in its volumes)
	@bash compose/dev.sh down

lint: venv ## ruff: lint and formatting of app/ and tests/
	@echo "==> ruff"
	$(BIN)/ruff check app tests
	$(BIN)/ruff format --check app tests

format: venv ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix app tests
	$(BIN)/ruff format app tests

test-app: venv services ## the app's suite alone: real PostgreSQL, Redis and Celery worker
	@echo "==> app tests"
	$(BIN)/pytest app/tests $(PYTEST_ARGS)

test-stack: venv images ## the compose stack's tests: real images, real docker compose
	@echo "==> stack tests"
	$(BIN)/pytest tests/stack $(PYTEST_ARGS)

test: lint test-app test-stack ## every check the project has (what .ci/run runs)

bench-import: venv services ## import 20,000 products through a real worker; prints products/s
	$(BIN)/python tests/bench/bench_import.py

bench-stack: venv images ## the compose stack: req/s and p99 (gunicorn vs runserver), tasks/s, idle memory, image size
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq -o DPkg::Lock::Timeout=300 wrk >/dev/null; }
	$(BIN)/python tests/bench/bench_stack.py

lock: ## re-pin app/requirements*.txt from app/requirements*.in
	bash tests/lock.sh

demo: ## (arrives with the playbooks)
	@echo "make demo arrives with the Ansible playbooks; for now see 'make test-app'." >&2; exit 2

clean: ## remove .venv and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache
	find app tests -name __pycache__ -type d -prune -exec rm -rf {} +
