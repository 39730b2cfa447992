"""moto's server mode on loopback: real AWS APIs (SQS, Kinesis, Secrets Manager) without an account.

A test session starts one `moto_server` on a free port unless MOTO_ENDPOINT names one already running
(.ci/run may start it once for the whole run).
"""

from __future__ import annotations

import os
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from localdev.moto_server import AWS_LOCAL_ENV, moto_server_command, started

AWS_TEST_ENV = AWS_LOCAL_ENV


@contextmanager
def moto_server() -> Iterator[str]:
    existing = os.environ.get("MOTO_ENDPOINT")
    if existing:
        yield existing.rstrip("/")
        return
    with started(moto_server_command()) as url:
        yield url


@contextmanager
def iam_moto_server(decisions: Path) -> Iterator[str]:
    """A moto server of its own (never MOTO_ENDPOINT's, which other tests share) that can enforce IAM, writing each
    authorization decision to `decisions` (tests/moto_iam.py). It allows everything until `enforce_iam(url)`."""
    with started([sys.executable, "-m", "tests.moto_iam", "--decisions", str(decisions)]) as url:
        yield url


def reset(url: str) -> None:
    """Forget every resource, user, role and session (moto's reset)."""
    _post(url, "/moto-api/reset", b"")


def enforce_iam(url: str, enforce: bool = True) -> None:
    """From the next request on, authenticate and authorize each one (or stop: moto's default, everything allowed)."""
    _post(url, "/moto-api/reset-auth", b"0" if enforce else b"inf")


def _post(url: str, path: str, body: bytes) -> None:
    # text/plain: moto reads reset-auth's count from the raw body, which a form content type would consume.
    request = urllib.request.Request(f"{url}{path}", data=body, method="POST", headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=10):
        pass
