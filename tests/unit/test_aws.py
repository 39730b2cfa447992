"""The shared AWS helpers on botocore's real exception classes, and calls bounded in time."""

from __future__ import annotations

import threading
import time

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

from mixpanel_forwarder import aws

URL = "https://secretsmanager.us-east-1.amazonaws.com"


def client_error() -> ClientError:
    response = {"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}
    return ClientError(response, "GetSecretValue")


def test_error_code_of_a_client_error_is_its_aws_code() -> None:
    assert aws.error_code(client_error()) == "AccessDeniedException"


@pytest.mark.parametrize(
    "exc",
    [
        ReadTimeoutError(endpoint_url=URL),
        ConnectionClosedError(endpoint_url=URL),
        EndpointConnectionError(endpoint_url=URL),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_error_code_of_a_connection_error_is_none(exc: Exception) -> None:
    # ReadTimeoutError and ConnectionClosedError carry `response = None`; EndpointConnectionError none at all.
    assert aws.error_code(exc) is None


def test_describe_a_client_error() -> None:
    described = aws.describe(client_error())

    assert described["type"] == "ClientError"
    assert described["code"] == "AccessDeniedException"
    assert "not allowed" in described["detail"]


def test_describe_a_read_timeout_names_the_endpoint() -> None:
    described = aws.describe(ReadTimeoutError(endpoint_url=URL))

    assert described == {"type": "ReadTimeoutError", "code": None, "detail": f'Read timeout on endpoint URL: "{URL}"'}


def test_describe_clips_a_long_message() -> None:
    assert len(aws.describe(ValueError("x" * 10_000))["detail"]) == 300


def test_call_within_returns_the_result() -> None:
    assert aws.call_within(5, lambda: 42) == 42


def test_call_within_raises_the_calls_own_exception() -> None:
    error = client_error()

    def fail() -> None:
        raise error

    with pytest.raises(ClientError) as raised:
        aws.call_within(5, fail)
    assert raised.value is error


def test_call_within_gives_up_on_a_call_that_does_not_finish() -> None:
    released = threading.Event()
    started = time.monotonic()
    try:
        with pytest.raises(aws.CallTimeout, match=r"no answer within 0\.2 s"):
            aws.call_within(0.2, lambda: released.wait(30))
        elapsed = time.monotonic() - started
    finally:
        released.set()  # the abandoned call ends now rather than in 30 s
    assert elapsed < 0.2 + 1.0


@pytest.mark.parametrize("seconds", [0, -1.5])
def test_call_within_no_time_left_does_not_start_the_call(seconds: float) -> None:
    calls: list[int] = []

    with pytest.raises(aws.CallTimeout, match="no time left"):
        aws.call_within(seconds, lambda: calls.append(1))
    assert calls == []


def test_call_each_within_gives_each_outcome_in_order() -> None:
    error = client_error()

    def fail() -> None:
        raise error

    outcomes = aws.call_each_within(5, [lambda: 1, fail, lambda: 3], workers=2)

    assert outcomes == [(True, 1), (False, error), (True, 3)]


def test_call_each_within_runs_at_most_its_workers_at_once() -> None:
    lock = threading.Lock()
    running, most = [0], [0]

    def call() -> None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.01)
        with lock:
            running[0] -= 1

    outcomes = aws.call_each_within(10, [call] * 24, workers=3)

    assert outcomes == [(True, None)] * 24
    assert 1 <= most[0] <= 3


def test_call_each_within_leaves_what_is_not_done_in_time_as_none() -> None:
    released = threading.Event()
    started = time.monotonic()
    try:
        outcomes = aws.call_each_within(0.2, [lambda: released.wait(30), lambda: 2], workers=2)
        elapsed = time.monotonic() - started
    finally:
        released.set()
    assert outcomes == [None, (True, 2)]
    assert elapsed < 0.2 + 1.0


def test_call_each_within_no_time_left_starts_nothing() -> None:
    calls: list[int] = []

    assert aws.call_each_within(0, [lambda: calls.append(1)], workers=4) == [None]
    assert calls == []
