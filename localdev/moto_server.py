"""moto's server on loopback, started and stopped around a block: AWS's APIs (SQS, Kinesis, S3, Secrets Manager)
without an account, for the demo (the parked-events queue it parks to) and the tests (tests/moto.py)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# moto's dummy credentials and the region every local stack lives in: none of them is a secret.
AWS_LOCAL_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def moto_server_command() -> list[str]:
    """moto's own `moto_server`, installed beside this Python (the venv's)."""
    return [str(Path(sys.executable).with_name("moto_server"))]


@contextmanager
def started(command: list[str], seconds: float = 30) -> Iterator[str]:
    """`command` (a moto server taking `-H HOST -p PORT`) on a free loopback port: its URL once it answers."""
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 - moto's server from this venv, our own arguments
        [*command, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,  # `-m tests.moto_iam` imports from the repository root
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, seconds, process, command)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(url: str, seconds: float, process: subprocess.Popen[bytes], command: list[str]) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):  # noqa: S310 - our http:// on loopback
                return
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"{' '.join(command)} exited ({process.returncode})") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
