"""Fixtures shared by every level: settings, a scripted fake sender (unit level only), a fake parker."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mixpanel_forwarder import runtime
from mixpanel_forwarder.errors import RequestTimeout
from mixpanel_forwarder.parked import Parked
from mixpanel_forwarder.settings import Settings
from mixpanel_forwarder.sqs_schedule import QueueFacts
from mixpanel_forwarder.transport import Endpoint, Response

BASE_ENV = {
    "MIXPANEL_SERVICE_ACCOUNT_USERNAME": "svc-user",
    "MIXPANEL_SERVICE_ACCOUNT_SECRET": "svc-secret-do-not-log",
    "MIXPANEL_PROJECT_ID": "4242",
}


def make_settings(**overrides: Any) -> Settings:
    """Settings for unit tests: fast retries, no jitter, no deadline margin to speak of."""
    settings = Settings.from_env(BASE_ENV)
    defaults: dict[str, Any] = {
        "retry_base": 0.0,
        "retry_max": 0.0,
        "retry_jitter_min": 0.0,
        "retry_jitter_max": 0.0,
        "deadline_margin_ms": 0,
        "max_concurrent_requests": 2,
    }
    return settings._replace(**{**defaults, **overrides})


Answer = Response | Exception | Callable[[list[dict[str, Any]]], Response]


def imported(events: list[dict[str, Any]]) -> Response:
    """Mixpanel's strict-mode 200: every event of the request imported."""
    return Response(200, json.dumps({"code": 200, "num_records_imported": len(events), "status": "OK"}).encode())


def verbose_ok(updates: list[dict[str, Any]]) -> Response:
    """/engage's or /groups' 200 with verbose=1: every update taken."""
    return Response(200, b'{"status":1,"error":null}')


def verbose_refused(error: str) -> Response:
    return Response(200, json.dumps({"status": 0, "error": error}).encode())


class FakeSender:
    """Records every request's messages (gunzipped where gzip) and answers from a script; once it is used up,
    Mixpanel's success for the endpoint (strict /import's 200, or verbose /engage and /groups status 1)."""

    def __init__(self, *answers: Answer) -> None:
        self._answers = list(answers)
        self._lock = threading.Lock()
        self.requests: list[list[dict[str, Any]]] = []
        self.endpoints: list[Endpoint] = []
        self.timeouts: list[float] = []

    def send(self, endpoint: Endpoint, body: bytes, timeout: float) -> Response:
        events = json.loads(gzip.decompress(body) if endpoint.content_encoding == "gzip" else body)
        with self._lock:
            self.endpoints.append(endpoint)
            self.requests.append(events)
            self.timeouts.append(timeout)
            success = imported if "/import" in endpoint.url else verbose_ok
            answer: Answer = self._answers.pop(0) if self._answers else success(events)
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(events)
        return answer

    @property
    def sent_events(self) -> list[dict[str, Any]]:
        return [event for request in self.requests for event in request]

    def sent_to(self, path: str) -> list[list[dict[str, Any]]]:
        """The requests to one endpoint ("/import", "/engage", "/groups"), in the order they were sent."""
        pairs = zip(self.endpoints, self.requests, strict=True)
        return [request for endpoint, request in pairs if path in endpoint.url]


class FakeParker:
    """Keeps parked messages in memory; `refuse` makes it report failure for every message."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.messages: list[dict[str, Any]] = []

    def park(self, parked: list[Parked], time_left: Callable[[], float] = lambda: float("inf")) -> list[bool]:
        if self.refuse:
            return [False] * len(parked)
        self.messages.extend(json.loads(item.document()) for item in parked)
        return [True] * len(parked)


class FakeSourceQueue:
    """The SQS source queue as the forwarder calls it (sqs_queue.SourceQueue), in memory: every call kept; `retention`
    and `visibility` are the queue's MessageRetentionPeriod and VisibilityTimeout (retention None: they cannot be
    read), `refuse` makes every change and send fail. `dead_letters`: each queue's dead-letter queue ARN by its URL
    (its RedrivePolicy); without it, a queue's is the queue of its name and "-dlq" (`<name>-dlq`)."""

    def __init__(
        self,
        retention: int | None = 14 * 24 * 3600,
        refuse: bool = False,
        visibility: int = 660,
        dead_letters: dict[str, str | None] | None = None,
    ) -> None:
        self.retention = retention
        self.visibility = visibility
        self.refuse = refuse
        self.dead_letters = dead_letters
        self.retention_reads: list[str] = []
        self.hidden: list[tuple[str, str, int]] = []  # (queue URL, receipt handle, seconds)
        self.sent: list[tuple[str, str]] = []  # (queue URL, body)

    def attributes(self, queue_url: str, time_left: Callable[[], float]) -> QueueFacts | None:
        self.retention_reads.append(queue_url)
        if self.retention is None:
            return None
        if self.dead_letters is not None:
            return QueueFacts(self.retention, self.visibility, self.dead_letters.get(queue_url))
        host, account, name = queue_url.removeprefix("https://").split("/")
        return QueueFacts(self.retention, self.visibility, f"arn:aws:sqs:{host.split('.')[1]}:{account}:{name}-dlq")

    def change_visibility(
        self, queue_url: str, entries: list[tuple[str, int]], time_left: Callable[[], float]
    ) -> list[bool]:
        if self.refuse:
            return [False] * len(entries)
        self.hidden.extend((queue_url, handle, seconds) for handle, seconds in entries)
        return [True] * len(entries)

    def send(self, queue_url: str, bodies: list[str], time_left: Callable[[], float]) -> list[bool]:
        if self.refuse:
            return [False] * len(bodies)
        self.sent.extend((queue_url, body) for body in bodies)
        return [True] * len(bodies)


def timeout_error() -> RequestTimeout:
    return RequestTimeout("ReadTimeoutError: read timed out")


@pytest.fixture(autouse=True)
def _fresh_runtime() -> Iterator[None]:
    """Each test's handler builds its forwarder from that test's environment."""
    runtime.reset()
    yield
    runtime.reset()


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    from tests.moto import moto_server

    with moto_server() as url:
        yield url


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """AWS APIs on loopback through moto's server, with fresh state for each test."""
    import urllib.request

    from tests.moto import AWS_TEST_ENV

    for name, value in {**AWS_TEST_ENV, "AWS_ENDPOINT_URL": moto_url}.items():
        monkeypatch.setenv(name, value)
    request = urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
    return moto_url
