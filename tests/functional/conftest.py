"""Functional level: the real handlers against the embedded Mixpanel sink over loopback."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from localdev.eventgen import lambda_context
from localdev.sink import MixpanelSink

EVENTS = Path(__file__).resolve().parents[2] / "events"

# Retries fast enough for tests, with the same code path as production.
FAST_RETRIES = {
    "RETRY_BASE_SECONDS": "0.05",
    "RETRY_MAX_SECONDS": "0.2",
    "RETRY_JITTER_MIN_SECONDS": "0",
    "RETRY_JITTER_MAX_SECONDS": "0.05",
    "DEADLINE_MARGIN_MS": "500",
    "REQUEST_TIMEOUT_SECONDS": "5",
}


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


@pytest.fixture
def sink() -> Iterator[MixpanelSink]:
    with MixpanelSink() as running:
        yield running


@pytest.fixture
def forwarder_env(sink: MixpanelSink, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Points the handlers at the sink; call it again with overrides (None removes a variable)."""

    def apply(**overrides: str | None) -> None:
        for name, value in {**sink.env(), **FAST_RETRIES, **overrides}.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        if "DEAD_LETTER_QUEUE_URL" not in overrides:
            monkeypatch.delenv("DEAD_LETTER_QUEUE_URL", raising=False)

    apply()
    return apply


@pytest.fixture
def context() -> Any:
    return lambda_context(remaining_ms=60_000)


@pytest.fixture
def token_env(sink: MixpanelSink, forwarder_env: Callable[..., None]) -> Callable[..., None]:
    """forwarder_env with the sink's project token, for profile updates; call it again with more settings."""

    def apply(**overrides: str | None) -> None:
        forwarder_env(MIXPANEL_PROJECT_TOKEN=sink.token, **overrides)

    apply()
    return apply


@pytest.fixture
def dlq(aws: str) -> str:
    """A dead-letter queue on moto's SQS."""
    return str(boto3.client("sqs").create_queue(QueueName="parked-messages")["QueueUrl"])
