"""The ride-through runs (test_ride_through.py) start moto in this process (moto_scaled.py). Under pytest, tests/ is on
sys.path (its conftest.py has no package), where tests/moto.py would answer `import moto`: the installed moto is
imported first, with tests/ out of the way, so that `moto` means moto from then on."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

_TESTS = Path(__file__).resolve().parents[2]


def _installed_moto() -> None:
    if hasattr(sys.modules.get("moto"), "__path__"):
        return
    sys.modules.pop("moto", None)
    saved = list(sys.path)
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _TESTS]
    try:
        importlib.import_module("moto")
    finally:
        sys.path[:] = saved


_installed_moto()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e_outage: ride through outages and throttling on a time-scaled platform")
