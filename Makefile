# Every command the README shows. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
# make molecule SCENARIO=docker runs one scenario (several: SCENARIO="base docker").
SCENARIO ?=

.PHONY: help venv services services-down docker images dev dev-down lint format test test-images test-app test-stack \
	sandbox-image vds12-image demo demo-down test-e2e molecule \
	bench-import bench-stack bench-deploy lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(BIN)/.installed: app/requirements.txt app/requirements-dev.txt requirements-ansible.txt
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { echo "==> installing python3-venv (Debian's python3 lacks venv without it)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; }
	@echo "==> creating $(VENV) with the pinned app, test and Ansible dependencies"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r app/requirements-dev.txt -r requirements-ansible.txt
	@touch $@

venv: $(BIN)/.installed ## create .venv with the pinned app, test and Ansible (controller) dependencies

services: ## install (when missing) and start PostgreSQL and Redis for the tests
	@bash scripts/services.sh up

services-down: ## stop the test PostgreSQL and Redis
	@bash scripts/services.sh down

docker: ## install (when missing) and start a Docker engine with the Compose v2 and buildx plugins
	@docker info >/dev/null 2>&1 && docker compose version >/dev/null 2>&1 && docker buildx version >/dev/null 2>&1 || bash scripts/docker.sh up

images: docker ## pick the stack's base images: official ones, or local stand-ins when no registry answers
	@bash scripts/images.sh

dev: docker images ## the local stack: build, migrate, collectstatic, demo superuser; prints the URL
	@bash compose/dev.sh up

dev-down: ## stop the local stack (data stays in its volumes)
	@bash compose/dev.sh down

lint: venv ## ruff (app/, compose/image/, examples/, tests/, molecule/, roles/*/files/), ansible-lint (production profile) and yamllint
	@echo "==> ruff"
	$(BIN)/ruff check app compose/image examples tests molecule roles
	$(BIN)/ruff format --check app compose/image examples tests molecule roles
	@echo "==> ansible-lint and yamllint"
	$(BIN)/ansible-lint -q
	$(BIN)/yamllint --strict .

format: venv ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix app compose/image examples tests molecule roles
	$(BIN)/ruff format app compose/image examples tests molecule roles

test-images: venv images sandbox-image ## the kit-local images against real containers: each one's contract, the VDS's boot and SSH
	@echo "==> image tests"
	$(BIN)/pytest tests/images $(PYTEST_ARGS)

test-app: venv services ## the app's suite alone: real PostgreSQL, Redis and Celery worker
	@echo "==> app tests"
	$(BIN)/pytest app/tests $(PYTEST_ARGS)

test-stack: venv images ## the compose stack's tests: real images, real docker compose
	@echo "==> stack tests"
	$(BIN)/pytest tests/stack $(PYTEST_ARGS)

test: lint test-images test-app test-stack test-e2e molecule ## every check the project has (what .ci/run runs)

bench-import: venv services ## import 20,000 products through a real worker; prints products/s
	$(BIN)/python tests/bench/bench_import.py

bench-stack: venv images ## the compose stack: req/s and p99 (gunicorn vs runserver), tasks/s, idle memory, image size
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq -o DPkg::Lock::Timeout=300 wrk >/dev/null; }
	$(BIN)/python tests/bench/bench_stack.py

bench-deploy: venv images sandbox-image ## the playbooks on the sandbox: cold site.yml, no-op re-run, a one-line change
	$(BIN)/python tests/bench/bench_deploy.py

lock: ## re-pin app/requirements*.txt from app/requirements*.in
	bash scripts/lock.sh

sandbox-image: docker ## build kit-local/vds:13, the sandbox VDS's image (Debian 13, systemd, sshd)
	@bash scripts/images/build.sh vds

vds12-image: docker ## build kit-local/vds:12, the same VDS on Debian 12 (molecule's base@12)
	@bash scripts/images/build.sh vds12

demo: venv images sandbox-image ## the main job: a throw-away Debian 13 VDS provisioned over SSH by site.yml
	@echo "==> the sandbox VDS: Debian 13 with systemd and sshd, on 127.0.0.1:2222"
	$(BIN)/ansible-playbook sandbox/sandbox.yml
	@echo "==> playbooks/site.yml over SSH, exactly as against a real server"
	$(BIN)/ansible-playbook playbooks/site.yml
	@printf '\nThe demo is up:\n  admin  http://127.0.0.1:8080/admin/\n  login  admin / %s\n  ssh    ssh -i .kit/ssh/id_ed25519 -p 2222 deploy@127.0.0.1\n  flower ssh -i .kit/ssh/id_ed25519 -p 2222 -N -L 5555:127.0.0.1:5555 deploy@127.0.0.1, then http://127.0.0.1:5555/ (admin / %s)\n  down   make demo-down\n' \
		"$$(cat .kit/sandbox/admin_password)" "$$(cat .kit/sandbox/flower_password)"

demo-down: venv ## remove the sandbox VDS (container, volume, network)
	$(BIN)/ansible-playbook sandbox/sandbox.yml -e sandbox_state=absent

test-e2e: venv images sandbox-image ## the playbooks end to end: a fresh sandbox VDS, site.yml over SSH, checks
	@bash scripts/images/build.sh acme
	@echo "==> end-to-end tests"
	$(BIN)/pytest tests/e2e --durations=30 $(PYTEST_ARGS)

molecule: venv images sandbox-image vds12-image ## molecule scenarios with testinfra: all, or SCENARIO=docker; each one timed
	@echo "==> the verify guard: no host collected must fail"
	$(BIN)/pytest tests/molecule $(PYTEST_ARGS)
	@bash scripts/molecule.sh $(SCENARIO)

clean: ## remove .venv and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache
	find app tests -name __pycache__ -type d -prune -exec rm -rf {} +
