"""Fixtures the unit tests share: an HTTP client for the sink's tests over loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import urllib3


@pytest.fixture
def http() -> Iterator[urllib3.PoolManager]:
    """A client that never retries (a test sees each answer, faults included) and never waits long."""
    pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(5.0))
    yield pool
    pool.clear()
