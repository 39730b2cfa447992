# Every target creates .venv and installs what it needs: a fresh clone needs only Python 3.11+, make and git, and for
# the Lambda runtime (make invoke, start-lambda, test) a CPython 3.13, python3.13 on PATH or pyenv's.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help install test lint demo invoke start-lambda runtime build clean validate bench bench-quick e2e e2e-outage release
.DEFAULT_GOAL := help

# `make help` lists each target from its own "## what it does (how long it takes)" (times on a 2-core machine).
help: ## This list: what each target does and how long it takes; a first run installs its tools too (<1 s)
	@echo "make <target> [NAME=value ...]: a fresh clone needs Python 3.11+, make and git (Lambda's runtime: CPython 3.13)"
	@awk 'BEGIN { FS = ":[^#]*## " } /^[a-z][a-z0-9-]*:[^=]*## / { printf "  %-13s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

install: $(STAMP) ## Create .venv with the library, the handlers and the dev tools importable (~35 s the first time)

$(STAMP): requirements-dev.txt layers/forwarder/requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@# The layer's library and the repository root (handlers, localdev) import from the venv, as in Lambda.
	$(BIN)/python -c "import sysconfig, pathlib; pathlib.Path(sysconfig.get_paths()['purelib'], 'mixpanel_forwarder_dev.pth').write_text('$(CURDIR)/layers/forwarder\n$(CURDIR)\n')"
	@touch $(STAMP)

# The whole suite: lint and types, the template checks and `sam build` (validate), the Lambda runtime the built
# artifact runs on (runtime), then every test.
test: install lint validate runtime ## Everything: lint, validate, Lambda's runtime, then every test (~6 min)
	REQUIRE_SAM_BUILD=1 $(BIN)/python -m pytest

lint: install ## ruff check, ruff format --check and mypy strict (~3 s)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

demo: install ## Both functions on every sample, as deployed, with a local sink and parked queue (~5 s)
	$(BIN)/python -m localdev.demo

clean: ## Remove .venv and the caches (~8 s)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# After `make test`: the commit is what a rollback checks out (README, Deploy). The tag stays local until pushed.
release: install ## Tag this commit v<version> from pyproject.toml: a clean tree, a new version (<1 s)
	@$(BIN)/python -m localdev.release

# Deploy tools (SAM CLI, cfn-lint) in a venv of their own inside .venv: their pins conflict with the dev ones.
DEPLOY_VENV := $(VENV)/deploy
DEPLOY_BIN := $(DEPLOY_VENV)/bin
DEPLOY_STAMP := $(DEPLOY_VENV)/.installed
# Offline and without AWS credentials: no telemetry, no instance-metadata lookups, a region for the linter.
# BUILD_PYTHON runs pip for the layer (layers/forwarder/Makefile); no python3.13 or Docker is needed.
SAM := SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true \
	BUILD_PYTHON=$(CURDIR)/$(DEPLOY_BIN)/python $(DEPLOY_BIN)/sam

$(DEPLOY_STAMP): requirements-deploy.txt | $(STAMP)
	@test -x $(DEPLOY_BIN)/python || $(PYTHON) -m venv $(DEPLOY_VENV)
	$(DEPLOY_BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(DEPLOY_BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-deploy.txt
	@touch $(DEPLOY_STAMP)

# Lints the template, builds it as `sam deploy` would ship it (into .aws-sam/), then tests the template's
# settings (the evaluator, cfn.py, and test_template_*.py) and the built artifacts (REQUIRE_SAM_BUILD: a missing
# build fails instead of skipping).
TEMPLATE_TESTS := tests/integration/test_cfn.py $(wildcard tests/integration/test_template_*.py)

validate: install $(DEPLOY_STAMP) ## cfn-lint, sam validate --lint, sam build, template tests (~50 s first, then ~12 s)
	$(DEPLOY_BIN)/cfn-lint template.yaml
	$(SAM) validate --lint
	$(SAM) build
	REQUIRE_SAM_BUILD=1 $(BIN)/python -m pytest -q $(TEMPLATE_TESTS) tests/integration/test_sam_build.py

# The built functions in the real Lambda runtime, without Docker (localdev/emulator): AWS's Runtime Interface
# Emulator, from the SAM CLI package, runs awslambdaric on CPython 3.13 in .venv/lambda-runtime, made from a
# python3.13 on PATH or pyenv's (without one, it says what to install). Like `sam local invoke` / `start-lambda`:
#   make invoke FUNCTION=SqsForwarderFunction EVENT=events/sqs-standard.json [ENV_VARS=env.json] [PARAMETERS='K=V']
#   make start-lambda [PORT=3001] [ENV_VARS=env.json] [PARAMETERS='K=V']
RUNTIME_VENV := $(VENV)/lambda-runtime
RUNTIME_STAMP := $(RUNTIME_VENV)/.installed
BUILT := .aws-sam/build/template.yaml
PORT ?= 3001
EMULATOR_ARGS = $(if $(ENV_VARS),--env-vars "$(ENV_VARS)") $(if $(PARAMETERS),--parameter-overrides "$(PARAMETERS)")

runtime: $(RUNTIME_STAMP) ## Lambda's runtime (awslambdaric on CPython 3.13) in .venv/lambda-runtime (~5 s)

$(RUNTIME_STAMP): requirements-runtime.txt | $(STAMP)
	@$(BIN)/python -m localdev.emulator.toolchain $(RUNTIME_VENV)
	$(RUNTIME_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-runtime.txt
	@touch $(RUNTIME_STAMP)

# `sam build` again only when the template or a function's or the layer's files changed since the last build.
build: $(BUILT) ## sam build into .aws-sam/ when a source changed (~6 s; SAM installed first: ~35 s)

$(BUILT): template.yaml $(shell find functions layers -type f -not -name '*.pyc') | $(DEPLOY_STAMP)
	$(SAM) build

invoke: install runtime build ## FUNCTION= on EVENT= in Lambda's runtime (~45 s the first time, then ~1 s)
	@test -n "$(FUNCTION)" -a -n "$(EVENT)" || { echo "usage: make invoke FUNCTION=SqsForwarderFunction \
	EVENT=events/sqs-standard.json [ENV_VARS=file.json] [PARAMETERS='Name=value ...']" >&2; exit 2; }
	@$(BIN)/python -m localdev.emulator.invoke "$(FUNCTION)" "$(EVENT)" $(EMULATOR_ARGS)

start-lambda: install runtime build ## The Lambda Invoke API on PORT=3001 for boto3 (ready in ~1 s; Ctrl-C stops)
	@$(BIN)/python -m localdev.emulator.start_lambda --port $(PORT) $(EMULATOR_ARGS)

# Benchmark (bench/README.md): ours vs a naive forwarder vs npm mixpanel-import, on one noisy machine, medians.
# Its own packages (the chart) go into .venv; mixpanel-import into bench/node_modules, pinned by
# bench/package-lock.json. Without node, or if npm fails, the benchmark runs anyway and says why npm is missing.
BENCH_STAMP := $(VENV)/.bench-installed
NPM_STAMP := bench/node_modules/.installed

$(BENCH_STAMP): requirements-bench.txt | $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	@touch $(BENCH_STAMP)

$(NPM_STAMP): bench/package.json bench/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix bench --ignore-scripts --no-audit --no-fund --loglevel=error && touch $(NPM_STAMP) \
		|| echo "bench: npm ci failed: mixpanel-import will be skipped"; \
	else echo "bench: npm not found: mixpanel-import will be skipped"; fi

bench: install $(BENCH_STAMP) $(NPM_STAMP) ## The benchmark: ours, a naive forwarder, npm mixpanel-import (~1 min; ~2 min the first time)
	$(BIN)/python -m bench

# CI smoke run (~5 s): small invocations, 2 rounds, no npm, results in bench/results/quick/; never asserts a time.
bench-quick: install $(BENCH_STAMP) ## The benchmark's smoke run, as CI runs it (~15 s)
	BENCH_QUICK=1 $(BIN)/python -m bench

# End to end, long form (tests/e2e): E2E_MESSAGES (default 100,000) events, user and group profile updates in
# every payload shape through SQS, SQS FIFO and Kinesis (moto's server), a Lambda event-source-mapping simulator,
# the real handlers and a Mixpanel sink failing at random; every message accounted for, the profiles checked,
# tables printed. About 20 minutes; `make test` runs it short.
E2E_MESSAGES ?= 100000
e2e: install ## Nothing lost: 100,000 messages through SQS, FIFO and Kinesis, Mixpanel failing (~20 min)
	E2E_MESSAGES=$(E2E_MESSAGES) $(BIN)/python -m pytest tests/e2e -m e2e -s -q

# Riding through outages and throttling (tests/e2e/outage), time-scaled: the real handlers through the ESM simulator
# at the template's defaults (SQS standard and FIFO with MaximumConcurrency containers, Kinesis one invocation per
# shard), moto (in this process) and the sink on a clock SCALE times faster, the function's real-time settings divided
# by SCALE: a 6-hour and a 24-hour outage, 6 hours of flapping, and a backfill of 200,000 events at 3x a rate-limited
# sink. A table per scenario, then the last line: `ride-through: lost L, in source-dlq D, stranded S, duplicated
# events E, goodput G% of the rate limit`. About 50 minutes; `make test` runs a short form (under 2 minutes).
e2e-outage: install ## Riding through: 6 h and 24 h outages, flapping, a 200,000-event backfill at 3x a rate limit (~53 min)
	$(BIN)/python -m tests.e2e.outage
