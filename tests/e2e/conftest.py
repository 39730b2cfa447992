"""End-to-end level: real AWS APIs (moto's server), the embedded sink in fault mode, the real handlers
driven by an event-source-mapping simulator. Size with E2E_MESSAGES (default: a short run for `make test`)."""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from localdev.sink import MixpanelSink
from mixpanel_forwarder.log import logger
from tests.moto import AWS_TEST_ENV

# Retries fast enough for thousands of faults, through the same code paths as production; a hung request
# is cut by REQUEST_TIMEOUT_SECONDS, well below the function's own deadline.
FORWARDER_ENV = {
    "REQUEST_TIMEOUT_SECONDS": "0.3",
    "CONNECT_TIMEOUT_SECONDS": "0.3",
    "MAX_ATTEMPTS": "3",  # with ~22% of requests faulted, a few records a run are reported and redelivered
    "RETRY_BASE_SECONDS": "0.02",
    "RETRY_MAX_SECONDS": "0.2",
    "RETRY_JITTER_MIN_SECONDS": "0",
    "RETRY_JITTER_MAX_SECONDS": "0.02",
    "DEADLINE_MARGIN_MS": "1000",
    # A reported SQS record comes back after 1 s, the queues' visibility timeout here (harness.py), as before the
    # forwarder hid it for its delay: 30 s and more would outlast the run.
    "SQS_RETRY_BASE_SECONDS": "1",
    "SQS_RETRY_MAX_SECONDS": "1",
    "MAX_CONCURRENT_REQUESTS": "4",
    # Smaller requests than Mixpanel's 2000: many more of them, so every fault kind comes up in a short run.
    "BATCH_MAX_EVENTS": "50",
    "PROFILE_BATCH_MAX_UPDATES": "25",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_METRICS_DISABLED": "true",  # one EMF document per invocation on stdout: noise here
}


def forwarder_env(sink: MixpanelSink) -> dict[str, str]:
    """The environment of a forwarder sending to `sink`: its service account, and its project token for profile
    updates (sink.env() leaves it out: without one the forwarder refuses every update)."""
    assert sink.token is not None
    return {**sink.env(), "MIXPANEL_PROJECT_TOKEN": sink.token, **FORWARDER_ENV}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: end to end through moto's server, the sink and the ESM simulator")


def reset_moto(moto_url: str) -> None:
    request = urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


@dataclass(frozen=True)
class Clients:
    """boto3 clients for moto, closed at teardown (an unclosed pool is a ResourceWarning, an error here)."""

    sqs: Any
    kinesis: Any
    s3: Any


def _clients() -> Clients:
    return Clients(boto3.client("sqs"), boto3.client("kinesis"), boto3.client("s3"))


def _close(clients: Clients) -> None:
    for client in (clients.sqs, clients.kinesis, clients.s3):
        client.close()


@pytest.fixture
def clients(aws: str) -> Iterator[Clients]:
    made = _clients()
    yield made
    _close(made)


@pytest.fixture
def sink() -> Iterator[MixpanelSink]:
    with MixpanelSink() as running:
        yield running


@pytest.fixture
def quiet_logs() -> Iterator[None]:
    """One JSON summary line per invocation is useful in Lambda and noise over thousands of invocations;
    the logger's level was fixed at import, so set it here and put it back."""
    previous = logger.level
    logger.setLevel(logging.WARNING)
    yield
    logger.setLevel(previous)


@pytest.fixture(scope="module")
def module_aws(moto_url: str) -> Iterator[Clients]:
    """AWS on loopback for a whole module (hypothesis runs many examples in one test, so a function-scoped
    fixture would be shared across examples anyway): fresh moto state, the env boto3 reads, clients."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {**AWS_TEST_ENV, "AWS_ENDPOINT_URL": moto_url}.items():
            patch.setenv(name, value)
        reset_moto(moto_url)
        made = _clients()
        try:
            yield made
        finally:
            _close(made)
