"""Secrets Manager that closes every connection or never answers (a TCP server on loopback), met by the
real handler: the invocation fails with CredentialsError, and no later than its deadline allows. A re-read
after a 401 from the (embedded) Mixpanel is bounded by the same deadline."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from functions.sqs_forwarder.app import lambda_handler as sqs_handler
from localdev.eventgen import lambda_context
from localdev.sink import MixpanelSink
from mixpanel_forwarder.credentials import SecretsManagerCredentials
from mixpanel_forwarder.errors import CredentialsError
from mixpanel_forwarder.forwarder import Forwarder
from mixpanel_forwarder.settings import Settings
from mixpanel_forwarder.sources import sqs
from tests.functional.conftest import FAST_RETRIES, load_event
from tests.hostile import tcp_endpoint
from tests.moto import AWS_TEST_ENV

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:mixpanel-AbCdEf"
REMAINING_MS = 10_000
MARGIN_MS = 3000
# What the deadline allows, plus room for a cold boto3 import and the report.
BOUND_SECONDS = (REMAINING_MS - MARGIN_MS) / 1000 + 1.5


@pytest.fixture
def sink() -> Iterator[MixpanelSink]:
    with MixpanelSink() as running:
        yield running


@pytest.fixture
def secret_at(sink: MixpanelSink, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """The handler's environment: credentials from a secret, Secrets Manager at `url`, Mixpanel the sink."""

    def apply(url: str) -> None:
        env = {
            **sink.env(),
            **FAST_RETRIES,
            **AWS_TEST_ENV,
            "MIXPANEL_CREDENTIALS_SECRET_ARN": SECRET_ARN,
            "DEADLINE_MARGIN_MS": str(MARGIN_MS),
            "AWS_ENDPOINT_URL": url,
            "AWS_EC2_METADATA_DISABLED": "true",  # nothing but loopback, even to look for credentials
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        for name in ("MIXPANEL_SERVICE_ACCOUNT_USERNAME", "MIXPANEL_SERVICE_ACCOUNT_SECRET", "DEAD_LETTER_QUEUE_URL"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", raising=False)

    return apply


def test_secrets_manager_closing_connections_fails_with_credentials_error(
    sink: MixpanelSink, secret_at: Callable[[str], None]
) -> None:
    # GIVEN an endpoint botocore meets as ConnectionClosedError, whose `response` is None
    with tcp_endpoint("close") as url:
        secret_at(url)

        with pytest.raises(CredentialsError, match="ConnectionClosedError"):
            sqs_handler(load_event("sqs-standard.json"), lambda_context(remaining_ms=60_000))

    assert sink.requests == []  # nothing acknowledged: Lambda retries the whole batch


def test_secrets_manager_never_answering_fails_within_the_deadline(
    sink: MixpanelSink, secret_at: Callable[[str], None]
) -> None:
    with tcp_endpoint("hang") as url:
        secret_at(url)
        started = time.monotonic()

        with pytest.raises(CredentialsError, match="no answer within") as raised:
            sqs_handler(load_event("sqs-standard.json"), lambda_context(remaining_ms=REMAINING_MS))

        elapsed = time.monotonic() - started
    assert elapsed <= BOUND_SECONDS, f"took {elapsed:.1f} s"
    assert SECRET_ARN not in str(raised.value)
    assert sink.requests == []


class RereadNeverAnswers:
    """A Parameters provider that answers the first read and leaves a forced re-read (after a 401) hanging."""

    def __init__(self, value: dict[str, str], released: threading.Event) -> None:
        self._value = value
        self._released = released

    def get(self, name: str, *, transform: str, max_age: int, force_fetch: bool) -> Any:
        if force_fetch:
            self._released.wait(60)
        return self._value


def test_credentials_reread_after_401_ends_within_the_deadline() -> None:
    released = threading.Event()
    stale = {"username": "sink-user", "secret": "before-rotation"}
    credentials = SecretsManagerCredentials(SECRET_ARN, "4242", provider=RereadNeverAnswers(stale, released))
    with MixpanelSink(secret="after-rotation") as sink:
        settings = Settings.from_env({**sink.env(), **FAST_RETRIES, "DEADLINE_MARGIN_MS": str(MARGIN_MS)})
        forwarder = Forwarder(settings, credentials=credentials)
        started = time.monotonic()
        try:
            result = forwarder.forward(sqs, load_event("sqs-standard.json"), lambda_context(remaining_ms=REMAINING_MS))
            elapsed = time.monotonic() - started
        finally:
            released.set()

        assert elapsed <= BOUND_SECONDS, f"took {elapsed:.1f} s"
        assert len(result.response["batchItemFailures"]) == 5  # every record retried, none lost
        assert [log.status for log in sink.requests] == [401]
