"""Delivery with fake senders: the deadline bounds the wait, and only Mixpanel's own 200 confirms an import."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from localdev.eventgen import lambda_context
from mixpanel_forwarder.batching import Batch
from mixpanel_forwarder.credentials import StaticCredentials
from mixpanel_forwarder.deadline import Deadline
from mixpanel_forwarder.delivery import Delivery
from mixpanel_forwarder.destinations.imports import UNCONFIRMED, ImportDestination
from mixpanel_forwarder.errors import RequestTimeout, TransportError
from mixpanel_forwarder.ledger import Ledger
from mixpanel_forwarder.model import Kind, State
from mixpanel_forwarder.retry import Backoff
from mixpanel_forwarder.transport import Endpoint, Response
from tests.conftest import make_settings

PORTAL = Response(200, b"<html><body><h1>Sign in to the network</h1></body></html>")
NOT_CONFIRMED = "not confirmed before the function's time ran out"


def mixpanel_ok(events: int) -> Response:
    """Mixpanel's answer to a strict import of `events` events that all went in."""
    return Response(200, json.dumps({"code": 200, "num_records_imported": events, "status": "OK"}).encode())


Answer = Response | Exception | Callable[[int], Response]


class ScriptedSender:
    """Answers from a script, then Mixpanel's own 200 for whatever was sent."""

    def __init__(self, *answers: Answer) -> None:
        self._answers = list(answers)
        self._lock = threading.Lock()
        self.sizes: list[int] = []

    def send(self, endpoint: Endpoint, body: bytes, timeout: float) -> Response:
        events = len(json.loads(gzip.decompress(body)))
        with self._lock:
            self.sizes.append(events)
            answer: Answer = self._answers.pop(0) if self._answers else mixpanel_ok
        if isinstance(answer, Exception):
            raise answer
        return answer(events) if callable(answer) else answer


class Invocation:
    """One invocation's ledger and delivery over `events` events, with its own worker threads."""

    def __init__(self, sender: Any, events: int, remaining_ms: int = 60_000, **settings: Any) -> None:
        self.settings = make_settings(**settings)
        self.ledger = Ledger(events)
        self.executor = ThreadPoolExecutor(self.settings.max_concurrent_requests)
        deadline = Deadline(lambda_context(remaining_ms=remaining_ms), self.settings.deadline_margin_ms)
        assert self.settings.credentials is not None
        self.delivery = Delivery(
            self.settings,
            {Kind.EVENT: ImportDestination(self.settings.batch_max_events, self.settings.batch_max_bytes)},
            StaticCredentials(self.settings.credentials),
            sender,
            {Kind.EVENT: self.executor},
            Backoff(self.settings),
            self.ledger,
            deadline,
        )
        self.batch = Batch()
        for index in range(events):
            self.ledger.enqueue(index)
            body = {"event": "e", "properties": {"time": 1_764_000_000, "$insert_id": f"id-{index}"}}
            self.batch.add(index, json.dumps(body).encode())

    def run(self) -> None:
        self.delivery.submit(self.batch)
        self.stats = self.delivery.wait()

    def states(self) -> list[State]:
        return [State(state) for state in self.ledger.states]


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """An event a blocked sender waits on: set at the end of the test, and after 10 s at the latest."""
    event = threading.Event()
    timer = threading.Timer(10, event.set)
    timer.start()
    yield event
    event.set()
    timer.cancel()


# --- the deadline bounds the wait ----------------------------------------------------------------------------------


def test_wait_returns_at_the_deadline_and_a_late_answer_changes_nothing(release: threading.Event) -> None:
    # GIVEN a sender stuck in its call until released, with 0.5 s left to the invocation
    returned = threading.Event()

    def stuck(events: int) -> Response:
        release.wait()
        returned.set()
        return mixpanel_ok(events)

    invocation = Invocation(ScriptedSender(stuck), events=3, remaining_ms=1_500, deadline_margin_ms=1_000)

    # WHEN the invocation waits for its requests
    started = time.monotonic()
    invocation.run()
    waited = time.monotonic() - started

    # THEN it stops waiting at the deadline and reports the events as not confirmed
    assert waited < 0.5 + 1.0
    assert invocation.states() == [State.RETRY] * 3
    assert set(invocation.ledger.reasons()) == {NOT_CONFIRMED}
    states, failed = bytes(invocation.ledger.states), dict(invocation.ledger.failed)

    # AND the answer that comes later (a good one) is not written into the ended invocation's ledger
    release.set()
    invocation.executor.shutdown(wait=True)
    assert returned.is_set()
    assert bytes(invocation.ledger.states) == states
    assert invocation.ledger.failed == failed


def test_wait_keeps_what_a_split_request_settled_before_the_deadline(release: threading.Event) -> None:
    def stuck(events: int) -> Response:
        release.wait()
        return mixpanel_ok(events)

    # 413 for the whole request: the first half goes in, the second hangs past the deadline.
    sender = ScriptedSender(Response(413, b"too large"), mixpanel_ok, stuck)
    invocation = Invocation(sender, events=4, remaining_ms=1_500, deadline_margin_ms=1_000)

    invocation.run()

    assert sender.sizes == [4, 2, 2]
    assert invocation.states() == [State.IMPORTED] * 2 + [State.RETRY] * 2
    assert set(invocation.ledger.reasons()) == {NOT_CONFIRMED}


# --- only Mixpanel's 200 confirms ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "unconfirmed",
    [
        PORTAL,
        Response(200, b'{"code":200,"status":"OK"}'),  # no count
        lambda events: Response(200, json.dumps({"code": 200, "num_records_imported": events - 1}).encode()),
        Response(200, b'{"code":200,"num_records_imported":"3","status":"OK"}'),  # a string is not Mixpanel's count
        Response(204, b""),
    ],
    ids=["html", "no-count", "miscount", "count-as-text", "204-empty"],
)
def test_a_200_that_is_not_mixpanels_answer_is_retried_then_imported(unconfirmed: Answer) -> None:
    sender = ScriptedSender(unconfirmed)
    invocation = Invocation(sender, events=3)

    invocation.run()

    assert sender.sizes == [3, 3]
    assert invocation.states() == [State.IMPORTED] * 3
    stats = invocation.stats
    assert stats.requests == {UNCONFIRMED: 1, "2xx": 1}
    assert stats.retries == 1
    invocation.executor.shutdown(wait=True)


def test_a_200_that_is_never_mixpanels_answer_is_reported_never_imported() -> None:
    sender = ScriptedSender(*[PORTAL] * 10)
    invocation = Invocation(sender, events=2, max_attempts=3)

    invocation.run()

    assert sender.sizes == [2, 2, 2]
    assert invocation.states() == [State.RETRY] * 2
    [reason] = invocation.ledger.reasons()
    assert reason.startswith("gave up after 3 attempts; last: a 200 that is not Mixpanel's answer for 2 events: <html>")
    assert invocation.stats.requests == {UNCONFIRMED: 3}
    invocation.executor.shutdown(wait=True)


# --- timeouts are told apart by type, not by their text ------------------------------------------------------------


def test_request_classes_come_from_the_error_type() -> None:
    sender = ScriptedSender(
        RequestTimeout("no whole answer within 2 s (ProtocolError)"),
        RequestTimeout("no whole answer within 1.5 s (SSLError)"),
        # Its text says "timeout", but a refused connection is not one.
        TransportError("NewConnectionError: Failed to establish a new connection: refused (connect timeout=3)"),
    )
    invocation = Invocation(sender, events=1, max_concurrent_requests=1, max_attempts=4)

    invocation.run()

    assert invocation.states() == [State.IMPORTED]
    assert invocation.stats.requests == {"timeout": 2, "connection": 1, "2xx": 1}
    invocation.executor.shutdown(wait=True)
