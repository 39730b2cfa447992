# Every target creates .venv and installs what it needs: a fresh clone needs only Python 3.11+, make and git.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test unit functional integration lint typecheck demo invoke sink clean

install: $(STAMP)

$(STAMP): requirements-dev.txt layers/forwarder/requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@# The layer's library and the repository root (handlers, localdev) import from the venv, as in Lambda.
	$(BIN)/python -c "import sysconfig, pathlib; pathlib.Path(sysconfig.get_paths()['purelib'], 'mixpanel_forwarder_dev.pth').write_text('$(CURDIR)/layers/forwarder\n$(CURDIR)\n')"
	@touch $(STAMP)

test: install lint
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

demo: install
	$(BIN)/python -m localdev.demo

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
