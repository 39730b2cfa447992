"""moto's server mode on loopback: real AWS APIs (SQS, Kinesis, Secrets Manager) without an account.

A test session starts one `moto_server` on a free port unless MOTO_ENDPOINT names one already running
(.ci/run may start it once for the whole run).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # moto's dummy credentials, not a secret
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(url: str, seconds: float, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):
                return
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"{' '.join(map(str, process.args))} exited ({process.returncode})") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@contextmanager
def moto_server() -> Iterator[str]:
    existing = os.environ.get("MOTO_ENDPOINT")
    if existing:
        yield existing.rstrip("/")
        return
    with _started([str(Path(sys.executable).with_name("moto_server"))]) as url:
        yield url


@contextmanager
def iam_moto_server(decisions: Path) -> Iterator[str]:
    """A moto server of its own (never MOTO_ENDPOINT's, which other tests share) that can enforce IAM, writing each
    authorization decision to `decisions` (tests/moto_iam.py). It allows everything until `enforce_iam(url)`."""
    with _started([sys.executable, "-m", "tests.moto_iam", "--decisions", str(decisions)]) as url:
        yield url


@contextmanager
def _started(command: list[str]) -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [*command, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=Path(__file__).resolve().parents[1],  # `-m tests.moto_iam` imports from the repository root
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, 30, process)
        yield url
    finally:
        process.terminate()
        process.wait(10)


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
