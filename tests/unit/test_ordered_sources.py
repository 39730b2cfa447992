"""Ordered sources (SQS FIFO, Kinesis): once a record is reported, every record after it comes again, so the requests
of those records are not sent (they would spend Mixpanel's rate limit on messages sent again anyway, and apply
profile updates twice), and `/import` requests go one at a time, in record order. A standard queue is unaffected."""

from __future__ import annotations

import gzip
import json
import threading
from typing import Any

from localdev.eventgen import lambda_context
from mixpanel_forwarder.forwarder import Forwarder
from mixpanel_forwarder.request_outcomes import COMES_AGAIN
from mixpanel_forwarder.result import Result
from mixpanel_forwarder.sources import kinesis, sqs
from mixpanel_forwarder.transport import Endpoint, Response
from tests.conftest import FakeParker, FakeSender, FakeSourceQueue, imported, make_settings
from tests.unit.test_availability import kinesis_invocation
from tests.unit.test_forwarder import NOW, event, reported, sqs_invocation, strict_400

THROTTLED = Response(429, b'{"error": "Project exceeded rate limits. Please retry"}')


def forward(invocation: dict[str, Any], sender: FakeSender, *, stream: bool = False, **settings: Any) -> Result:
    made = make_settings(**{"batch_max_events": 1, "max_attempts": 1, **settings})
    forwarder = Forwarder(made, sender=sender, clock=lambda: NOW, source_queue=FakeSourceQueue())
    return forwarder.forward(kinesis if stream else sqs, invocation, None)


def events(n: int) -> list[dict[str, Any]]:
    return [event(i) for i in range(n)]


def test_fifo_sends_nothing_for_the_records_after_one_reported() -> None:
    sender = FakeSender(imported, THROTTLED)

    result = forward(sqs_invocation(*events(4), fifo=True), sender)

    assert [e["event"] for e in sender.sent_events] == ["E0", "E1"]  # E2 and E3 come again behind E1
    assert reported(result) == ["m1", "m2", "m3"]
    assert result.ledger.reasons()[COMES_AGAIN] == 2
    assert result.counts()["imported"] == 1


def test_kinesis_sends_nothing_for_the_records_after_one_reported() -> None:
    sender = FakeSender(imported, THROTTLED)

    result = forward(kinesis_invocation(*events(4)), sender, stream=True)

    assert [e["event"] for e in sender.sent_events] == ["E0", "E1"]
    assert reported(result) == ["101", "102", "103"]  # Lambda resumes from the lowest
    assert result.ledger.reasons()[COMES_AGAIN] == 2


def test_a_standard_queue_still_sends_every_record() -> None:
    sender = FakeSender(imported, THROTTLED)

    result = forward(sqs_invocation(*events(4)), sender)

    assert sorted(e["event"] for e in sender.sent_events) == ["E0", "E1", "E2", "E3"]
    assert len(reported(result)) == 1  # whichever request met the 429
    assert COMES_AGAIN not in result.ledger.reasons()


class Overlap:
    """Answers every request imported, noting how many were in flight at once and the order they came in."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._now = 0
        self.most = 0
        self.order: list[str] = []
        self.release = threading.Event()

    def __call__(self, sent: list[dict[str, Any]]) -> Response:
        with self._lock:
            self._now += 1
            self.most = max(self.most, self._now)
            self.order.extend(e["event"] for e in sent)
        self.release.wait(0.05)  # long enough for any other request to start alongside, if it could
        with self._lock:
            self._now -= 1
        return imported(sent)


def test_an_ordered_sources_imports_go_one_at_a_time_in_record_order() -> None:
    for stream in (False, True):
        overlap = Overlap()
        sender = FakeSender(*[overlap] * 5)
        invocation = kinesis_invocation(*events(5)) if stream else sqs_invocation(*events(5), fifo=True)

        result = forward(invocation, sender, stream=stream, max_concurrent_requests=4)

        assert reported(result) == []
        assert overlap.most == 1
        assert overlap.order == ["E0", "E1", "E2", "E3", "E4"]


def test_a_standard_queues_imports_still_go_together() -> None:
    together = threading.Barrier(3, timeout=30)  # breaks (and the records are reported) unless 3 overlap

    def wait_for_the_others(sent: list[dict[str, Any]]) -> Response:
        together.wait()
        return imported(sent)

    sender = FakeSender(*[wait_for_the_others] * 3)
    result = forward(sqs_invocation(*events(3)), sender, max_concurrent_requests=3)

    assert reported(result) == []


def test_a_refused_record_does_not_cut_the_records_after_it() -> None:
    # A record refused for good is parked, not reported: nothing brings the records after it again
    refused = strict_400({"index": 0, "$insert_id": "x", "field": "properties.time", "message": "out of range"})
    for stream in (False, True):
        sender = FakeSender(refused)
        invocation = kinesis_invocation(*events(3)) if stream else sqs_invocation(*events(3), fifo=True)
        made = make_settings(batch_max_events=1, max_attempts=1)
        forwarder = Forwarder(
            made, sender=sender, parker=FakeParker(), clock=lambda: NOW, source_queue=FakeSourceQueue()
        )

        result = forwarder.forward(kinesis if stream else sqs, invocation, None)

        assert [e["event"] for e in sender.sent_events] == ["E0", "E1", "E2"]
        assert reported(result) == []
        assert (result.counts()["imported"], result.counts()["parked"]) == (2, 1)


class HungFirst:
    """A server that holds the first request until `release` (past its invocation's time, as a request can outlive
    its invocation) and imports every other one."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.first = True
        self.sent: list[str] = []

    def send(self, endpoint: Endpoint, body: bytes, timeout: float) -> Response:
        messages = json.loads(gzip.decompress(body))
        first, self.first = self.first, False
        self.sent.extend(e["event"] for e in messages)
        if first:
            self.release.wait(60)
        return imported(messages)


def test_a_request_outliving_its_invocation_holds_the_next_ones_imports_but_not_its_answer() -> None:
    # GIVEN a container whose one in-order thread is held by a request of an invocation that ended
    mixpanel = HungFirst()
    made = make_settings(batch_max_events=1, max_attempts=1, request_timeout=60.0, deadline_margin_ms=1_000)
    forwarder = Forwarder(made, sender=mixpanel, parker=FakeParker(), clock=lambda: NOW, source_queue=FakeSourceQueue())
    try:
        first = forwarder.forward(kinesis, kinesis_invocation(*events(2)), lambda_context(remaining_ms=1_200))
        assert reported(first) == ["100", "101"]

        # WHEN the next invocation comes while it is still held
        context = lambda_context(remaining_ms=3_000)
        second = forwarder.forward(kinesis, kinesis_invocation(*events(2)), context)

        # THEN it answers within its time, sends nothing, and reports every record, saying none was sent
        assert context.get_remaining_time_in_millis() > 0
        assert mixpanel.sent == ["E0"]
        assert reported(second) == ["100", "101"]
        # (the first left Mixpanel marked down, unanswered: its probe is the request that waited for the thread)
        assert sorted(second.ledger.reasons()) == [
            "Mixpanel unavailable since 2025-11-24T16:01:40Z: the probe had no answer before the function's time ran "
            "out",
            "not sent: the function's time ran out",
        ]
    finally:
        mixpanel.release.set()

    # AND once the request ends, the thread serves the next invocation
    third = forwarder.forward(kinesis, kinesis_invocation(*events(2)), lambda_context(remaining_ms=60_000))
    assert reported(third) == []
