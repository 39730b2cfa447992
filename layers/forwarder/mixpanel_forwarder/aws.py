"""Calls to AWS APIs (the dead-letter queue, S3, Secrets Manager) that can neither crash an error path
nor outlast the invocation.

botocore's errors do not share a shape: a `ClientError` carries `response["Error"]["Code"]`, while a
`ReadTimeoutError` or `ConnectionClosedError` carries `response = None` or nothing at all, so the code
is read defensively. Every client gets short timeouts and few retries, and every call is also bounded
by the time the invocation has left: a call still running then is abandoned (its thread ends on its
own read timeout) and the caller treats it as failed.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

CONNECT_TIMEOUT_SECONDS = 2.0
READ_TIMEOUT_SECONDS = 5.0
# botocore's total attempts (the first included), in its "standard" mode: backoff with jitter.
MAX_ATTEMPTS = 2
_DETAIL_CHARACTERS = 300


class CallTimeout(Exception):
    """The call did not finish within the time it was given."""


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore `ClientError` (e.g. `AccessDenied`); None for any other error."""
    response = getattr(exc, "response", None)
    error = response.get("Error") if isinstance(response, dict) else None
    code = error.get("Code") if isinstance(error, dict) else None
    return str(code) if code else None


def describe(exc: BaseException) -> dict[str, Any]:
    """Safe to log: the error's type, its AWS code if any, and a clipped message (never a response body)."""
    return {"type": type(exc).__name__, "code": error_code(exc), "detail": str(exc)[:_DETAIL_CHARACTERS]}


def client_config() -> Any:
    """botocore settings for every client: short timeouts, two attempts, so no call hangs for a minute."""
    from botocore.config import Config  # lazily: cold start pays for botocore only when AWS is called

    return Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        retries={"total_max_attempts": MAX_ATTEMPTS, "mode": "standard"},
    )


def client(service: str) -> Any:
    import boto3  # lazily: most invocations never call AWS

    return boto3.client(service, config=client_config())


def call_within(seconds: float, call: Callable[[], T]) -> T:
    """`call()`'s result, or CallTimeout if it has not finished after `seconds` (its thread is left to end).

    The call runs on a daemon thread of its own: a stuck one neither blocks a worker pool nor the
    interpreter's exit. Its exception, if any, is raised here.
    """
    if seconds <= 0:
        raise CallTimeout("no time left for the call")
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append((True, call()))
        except BaseException as exc:
            outcome.append((False, exc))

    thread = threading.Thread(target=run, name="aws-call", daemon=True)
    thread.start()
    thread.join(None if math.isinf(seconds) else seconds)  # no bound: a script calling the library
    if not outcome:
        raise CallTimeout(f"no answer within {seconds:.1f} s")
    ok, value = outcome[0]
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]


Outcome = tuple[bool, Any]  # (True, the call's result) or (False, the exception it raised)


def call_each_within(seconds: float, calls: Sequence[Callable[[], Any]], workers: int) -> list[Outcome | None]:
    """Each call's outcome, or None for one not finished after `seconds` (or not started by then): up to `workers`
    at once, on daemon threads of their own, so many short calls (ten receipt handles each) fit in a short time."""
    outcomes: list[Outcome | None] = [None] * len(calls)
    if seconds <= 0 or not calls:
        return outcomes
    ends = time.monotonic() + seconds
    following = iter(range(len(calls)))
    lock = threading.Lock()

    def work() -> None:
        while time.monotonic() < ends:
            with lock:
                index = next(following, None)
            if index is None:
                return
            try:
                outcomes[index] = (True, calls[index]())
            except BaseException as exc:
                outcomes[index] = (False, exc)

    threads = [threading.Thread(target=work, name="aws-call", daemon=True) for _ in range(min(workers, len(calls)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(None if math.isinf(seconds) else max(ends - time.monotonic(), 0.0))
    return list(outcomes)  # a copy: a call that ends later changes nothing the caller reads
