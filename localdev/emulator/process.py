"""One function's execution environment: the Runtime Interface Emulator running awslambdaric on Python 3.13 in the
function's built folder, as `sam local` runs them inside its container. It stays warm between invocations (the
first one initialises the runtime, the next ones do not) and takes one invocation at a time, like a Lambda
execution environment; after a timeout the emulator ends the runtime and the next invocation starts it anew.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TextIO

from .errors import LocalRunError
from .functions import FunctionSpec

INVOKE_PATH = "/2015-03-31/functions/function/invocations"  # the emulator's one function
TIMED_OUT = re.compile(rb"Task timed out after (\d+\.\d\d) seconds")  # the emulator's whole answer on a timeout
READY_WITHIN_S = 10.0
STOP_WITHIN_S = 5.0
LOG_WITHIN_S = 5.0  # how long to wait for an invocation's REPORT line, written just after its answer


@dataclass(frozen=True)
class Outcome:
    """What the emulator answered to one invocation."""

    request_id: str
    body: bytes  # the runtime's serialised response, or its error document
    timed_out: bool
    function_error: bool  # the runtime's error document (errorMessage and errorType): Lambda's "Unhandled"


class Emulator:
    """aws-lambda-rie + awslambdaric for one function, from start() until stop()."""

    def __init__(
        self,
        spec: FunctionSpec,
        environment: Mapping[str, str],
        *,
        python: Path,
        binary: Path,
        echo: TextIO | None = None,
    ) -> None:
        self.spec = spec
        self._environment = dict(environment)
        self._python = python
        self._binary = binary
        self._echo = echo  # where the emulator's log is copied as it comes (make invoke: standard output)
        self._lines: list[str] = []
        self._logged = threading.Condition()
        self._busy = threading.Lock()  # one invocation at a time, as in one execution environment
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self.port = 0

    def start(self) -> Emulator:
        if self._process is not None:
            raise RuntimeError(f"{self.spec.name}'s emulator is already running")  # a second would be left behind
        self.port, runtime_api = _free_port(), _free_port()
        command = [
            str(self._binary),
            "--log-level",
            "error",  # as `sam local` runs it: the START/END/REPORT lines and the function's own output
            "--runtime-interface-emulator-address",
            f"127.0.0.1:{self.port}",
            "--runtime-api-address",
            f"127.0.0.1:{runtime_api}",
            str(self._python),
            "-m",
            "awslambdaric",
            self.spec.handler,
        ]
        self._process = subprocess.Popen(  # noqa: S603 - our own binary and arguments
            command,
            cwd=self.spec.code,
            env=self._environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,  # its own process group: stop() ends the runtime it started too
        )
        self._reader = threading.Thread(target=self._read, name=f"{self.spec.name}-log", daemon=True)
        self._reader.start()
        self._wait_until_listening()
        return self

    def invoke(self, payload: bytes, request_id: str | None = None) -> Outcome:
        request_id = request_id or str(uuid.uuid4())
        with self._busy:
            # The emulator itself ends the invocation at the function's timeout; this bound is for a broken one.
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.spec.timeout_s + 60)
            try:
                connection.request("POST", INVOKE_PATH, body=payload, headers={"X-Amzn-RequestId": request_id})
                body = connection.getresponse().read()
            except OSError as exc:
                raise LocalRunError(
                    f"{self.spec.name}'s emulator stopped answering ({exc}): see its log above"
                ) from exc
            finally:
                connection.close()
        return Outcome(request_id, body, TIMED_OUT.fullmatch(body) is not None, _is_error_document(body))

    def log_of(self, request_id: str) -> list[str]:
        """The emulator's log of one invocation, START to REPORT (waiting a little for REPORT, written last)."""
        start, report = f"START RequestId: {request_id} ", f"REPORT RequestId: {request_id}\t"
        deadline = time.monotonic() + LOG_WITHIN_S
        with self._logged:
            while not any(line.startswith(report) for line in self._lines) and self._running():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._logged.wait(left)
            lines = list(self._lines)
        first = next((i for i, line in enumerate(lines) if line.startswith(start)), len(lines))
        last = next((i for i, line in enumerate(lines) if line.startswith(report)), len(lines) - 1)
        return lines[first : last + 1]

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_WITHIN_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if self._reader is not None:
            self._reader.join(STOP_WITHIN_S)
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _read(self) -> None:
        process = self._process
        assert process is not None
        assert process.stdout is not None
        for line in process.stdout:
            if self._echo is not None:
                self._echo.write(line)
                self._echo.flush()
            with self._logged:
                self._lines.append(line.rstrip("\n"))
                self._logged.notify_all()
        with self._logged:
            self._logged.notify_all()

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + READY_WITHIN_S
        while time.monotonic() < deadline:
            if not self._running():
                self.stop()
                last = self._lines[-1] if self._lines else "no output"
                raise LocalRunError(f"the emulator for {self.spec.name} exited at start ({last})")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return
            time.sleep(0.02)
        self.stop()
        raise LocalRunError(f"the emulator for {self.spec.name} did not listen within {READY_WITHIN_S:.0f} s")


def _free_port() -> int:
    """A port free now on loopback (the emulator binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _is_error_document(body: bytes) -> bool:
    """The runtime's error shape, as `sam local` recognises it: errorMessage and errorType, and at most
    stackTrace, cause and requestId besides (awslambdaric adds requestId)."""
    try:
        document = json.loads(body)
    except ValueError:
        return False
    return (
        isinstance(document, dict)
        and {"errorMessage", "errorType"} <= document.keys()
        and document.keys() <= {"errorMessage", "errorType", "stackTrace", "cause", "requestId"}
    )
