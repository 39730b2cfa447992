"""Mixpanel's availability per container, with a fake sender at our seam: an outage marks it down, the next
invocations probe once and report the rest, a recovered probe lets everything through, and Kinesis waits for the
container's probe time while SQS does not."""

from __future__ import annotations

import base64
import gzip
import json
import random
import threading
import time
from typing import Any

import pytest

from localdev.eventgen import lambda_context
from mixpanel_forwarder.availability import Availability, Outage, ProbeGate
from mixpanel_forwarder.batching import Batch
from mixpanel_forwarder.forwarder import Forwarder
from mixpanel_forwarder.model import Failure, Kind
from mixpanel_forwarder.result import Result
from mixpanel_forwarder.retry import Backoff
from mixpanel_forwarder.sources import kinesis, sqs
from mixpanel_forwarder.transport import Endpoint, Response
from tests.conftest import FakeParker, FakeSender, FakeSourceQueue, imported, make_settings, verbose_ok

NOW = 1_764_000_100.0
SINCE = "2025-11-24T16:01:40Z"  # NOW, as reasons write it
BALANCER_503 = Response(503, b"<html><body><h1>503 Service Unavailable</h1></body></html>")
STRICT_400 = Response(
    400,
    json.dumps(
        {"error": "some data points in the request failed validation", "failed_records": [{"index": 0}]}
    ).encode(),
)


class Mixpanel:
    """A sender that answers as Mixpanel (or, while `down`, as its balancer), noting each request: its events, its
    timeout, and when it started and ended (monotonic)."""

    def __init__(self) -> None:
        self.down = False
        self.answer: Response | None = None  # answers every request while set (and Mixpanel is up)
        self.hold: threading.Event | None = None  # while set, each request waits for it (a hung server)
        self._lock = threading.Lock()
        self.requests: list[list[dict[str, Any]]] = []
        self.paths: list[str] = []
        self.timeouts: list[float] = []
        self.spans: list[tuple[float, float]] = []

    def send(self, endpoint: Endpoint, body: bytes, timeout: float) -> Response:
        started = time.monotonic()
        messages = json.loads(gzip.decompress(body) if endpoint.content_encoding == "gzip" else body)
        with self._lock:
            self.requests.append(messages)
            self.paths.append(endpoint.url.split("?")[0].rsplit("/", 1)[1])
            self.timeouts.append(timeout)
        if self.hold is not None:
            self.hold.wait(30)
        if self.down:
            answer = BALANCER_503
        elif self.answer is not None:
            answer = self.answer
        else:
            answer = imported(messages) if "/import" in endpoint.url else verbose_ok(messages)
        with self._lock:
            self.spans.append((started, time.monotonic()))
        return answer

    def sent(self) -> int:
        with self._lock:
            return len(self.requests)


def event(n: int, **props: Any) -> dict[str, Any]:
    return {"event": f"E{n}", "properties": {"time": 1_764_000_000 + n, "distinct_id": f"u{n}", **props}}


def sqs_invocation(*bodies: Any) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m{i}",
                "receiptHandle": f"handle-{i}",
                "body": json.dumps(body),
                "attributes": {"SentTimestamp": "1764000000000", "ApproximateReceiveCount": "1"},
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
            }
            for i, body in enumerate(bodies)
        ]
    }


def kinesis_invocation(*bodies: Any) -> dict[str, Any]:
    return {
        "Records": [
            {
                "kinesis": {
                    "sequenceNumber": str(100 + i),
                    "data": base64.b64encode(json.dumps(body).encode()).decode(),
                    "partitionKey": "p",
                    "approximateArrivalTimestamp": 1_764_000_000.5,
                },
                "eventID": f"shardId-000000000001:{100 + i}",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:1:stream/s",
            }
            for i, body in enumerate(bodies)
        ]
    }


def container(mixpanel: Mixpanel, queue: FakeSourceQueue | None = None, **settings: Any) -> Forwarder:
    """One container: batches of one event, two attempts, a short probe timeout; `queue`, the SQS records' queue."""
    settings = {"batch_max_events": 1, "max_attempts": 2, "probe_timeout": 0.5, **settings}
    made = make_settings(**settings)
    assert made.credentials is not None
    made = made._replace(credentials=made.credentials._replace(token="project-token"))  # for profile updates
    source_queue = queue or FakeSourceQueue()
    return Forwarder(made, sender=mixpanel, parker=FakeParker(), clock=lambda: NOW, source_queue=source_queue)


def invoke(forwarder: Forwarder, *bodies: Any, remaining_ms: int = 60_000) -> Result:
    return forwarder.forward(sqs, sqs_invocation(*bodies), lambda_context(remaining_ms=remaining_ms))


def reported(result: Result) -> list[str]:
    return [failure["itemIdentifier"] for failure in result.response["batchItemFailures"]]


def events(n: int) -> list[dict[str, Any]]:
    return [event(i) for i in range(n)]


def gone_down(mixpanel: Mixpanel, **settings: Any) -> Forwarder:
    """A container whose last invocation met an outage."""
    mixpanel.down = True
    forwarder = container(mixpanel, **settings)
    first = invoke(forwarder, *events(3))
    assert reported(first) == ["m0", "m1", "m2"]
    return forwarder


# --- an outage, probed, and the recovery ---------------------------------------------------------------------------


def test_outage_then_a_failing_probe_then_recovery() -> None:
    mixpanel = Mixpanel()
    mixpanel.down = True
    forwarder = container(mixpanel)

    # GIVEN an invocation that met the outage: every batch tried twice, then reported
    first = invoke(forwarder, *events(3))
    assert mixpanel.sent() == 6
    assert reported(first) == ["m0", "m1", "m2"]
    assert first.summary()["mixpanel_unavailable"] == 0  # it found Mixpanel up

    # WHEN the next invocation comes while it is still down
    second = invoke(forwarder, *events(3))

    # THEN one request probes, once; nothing else is sent, and every message says why
    assert mixpanel.sent() == 7
    assert reported(second) == ["m0", "m1", "m2"]
    probe_failed = f"Mixpanel unavailable since {SINCE}: the probe failed: Mixpanel answered 503: "
    [(reason, count)] = second.ledger.reasons().items()
    assert reason.startswith(probe_failed)
    assert count == 3
    assert mixpanel.timeouts[-1] == 0.5  # the probe's own timeout
    summary = second.summary()
    assert summary | {"mixpanel_unavailable": 1, "unavailable_since": SINCE, "probe": "failed"} == summary
    assert (second.delivery.probes, second.delivery.probes_failed) == (1, 1)

    # WHEN Mixpanel is back
    mixpanel.down = False
    third = invoke(forwarder, *events(3))

    # THEN the probe is accepted and every batch goes: all imported
    assert mixpanel.sent() == 10
    assert reported(third) == []
    assert third.counts()["imported"] == 3
    assert third.summary()["probe"] == "answered"
    assert (third.delivery.probes, third.delivery.probes_failed) == (1, 0)

    # AND the one after finds it up: no probe
    fourth = invoke(forwarder, *events(3))
    assert reported(fourth) == []
    assert fourth.summary()["mixpanel_unavailable"] == 0
    assert "probe" not in fourth.summary()
    assert fourth.delivery.probes == 0


def test_the_other_batches_go_only_after_the_probe_was_answered() -> None:
    mixpanel = Mixpanel()
    forwarder = gone_down(mixpanel, max_concurrent_requests=4)
    mixpanel.down = False
    before = mixpanel.sent()

    result = invoke(forwarder, *events(5))

    assert reported(result) == []
    assert mixpanel.sent() == before + 5
    probe_ended = mixpanel.spans[before][1]
    assert all(started >= probe_ended for started, _ in mixpanel.spans[before + 1 :])


def test_messages_refused_before_sending_are_still_parked_while_mixpanel_is_down() -> None:
    mixpanel = Mixpanel()
    forwarder = gone_down(mixpanel)
    parker = forwarder._parker
    assert isinstance(parker, FakeParker)

    result = invoke(forwarder, event(1), {"event": "", "properties": {}}, event(2))

    assert mixpanel.sent() == 7  # the probe alone
    assert reported(result) == ["m0", "m2"]
    assert [message["source"]["messageId"] for message in parker.messages] == ["m1"]


def test_an_invocation_with_nothing_to_send_answers_at_once_while_mixpanel_is_down() -> None:
    mixpanel = Mixpanel()
    forwarder = gone_down(mixpanel)
    parker = forwarder._parker
    assert isinstance(parker, FakeParker)

    # WHEN every message of the invocation is refused before sending: no batch is there to probe with
    context = lambda_context(remaining_ms=60_000)
    result = forwarder.forward(sqs, sqs_invocation({"event": "", "properties": {}}), context)

    # THEN it answers without waiting for a probe's verdict that would never come (it used to wait out its time)
    assert context.get_remaining_time_in_millis() > 50_000
    assert reported(result) == []
    assert mixpanel.sent() == 6  # no probe
    assert [message["source"]["messageId"] for message in parker.messages] == ["m0"]


@pytest.mark.parametrize(
    ("answer", "requests", "parked"),
    [(STRICT_400, 2, 2), (Response(413, b"too large"), 6, 4)],
    ids=["strict-400", "413-split"],
)
def test_a_permanent_answer_to_the_probe_is_no_outage(answer: Response, requests: int, parked: int) -> None:
    # GIVEN a container that found Mixpanel down, and Mixpanel now refusing events for good
    mixpanel = Mixpanel()
    forwarder = gone_down(mixpanel, batch_max_events=2)
    mixpanel.down = False
    mixpanel.answer = answer
    before = mixpanel.sent()

    # WHEN an invocation probes with the first of its two batches
    result = invoke(forwarder, *events(4))

    # THEN it goes on as usual (the second batch is sent, halves too), and Mixpanel counts as up from then on
    assert mixpanel.sent() == before + requests
    assert result.counts()["parked"] == parked
    assert (result.delivery.probes, result.delivery.probes_failed) == (1, 0)
    assert forwarder._availability.outage() is None


def test_a_halt_on_the_probe_sends_nothing_else() -> None:
    mixpanel = Mixpanel()
    forwarder = gone_down(mixpanel)
    mixpanel.down = False
    mixpanel.answer = Response(403, b'{"error": "forbidden"}')

    result = invoke(forwarder, *events(3))

    assert mixpanel.sent() == 7
    assert reported(result) == ["m0", "m1", "m2"]
    assert set(result.ledger.reasons()) == {
        'Mixpanel answered 403: {"error": "forbidden"} (nothing more sent this invocation)'
    }


def test_a_probe_to_engage_counts_too() -> None:
    mixpanel = Mixpanel()
    forwarder = gone_down(mixpanel)
    mixpanel.down = False

    result = invoke(forwarder, {"$distinct_id": "u1", "$set": {"plan": "pro"}})

    assert reported(result) == []
    assert mixpanel.paths[-1] == "engage"
    assert result.delivery.probes == 1
    assert invoke(forwarder, *events(1)).delivery.probes == 0


# --- what marks Mixpanel down ---------------------------------------------------------------------------------------


def test_a_transient_failure_then_an_accepted_retry_is_no_outage() -> None:
    sender = FakeSender(BALANCER_503)
    forwarder = Forwarder(
        make_settings(max_attempts=2), sender=sender, clock=lambda: NOW, source_queue=FakeSourceQueue()
    )

    result = invoke(forwarder, *events(1))

    assert reported(result) == []
    assert len(sender.requests) == 2
    assert forwarder._availability.outage() is None


def test_one_batch_given_up_beside_one_accepted_is_no_outage() -> None:
    sender = FakeSender(BALANCER_503, BALANCER_503)  # one thread: both for the first batch
    settings = make_settings(max_attempts=2, batch_max_events=1, max_concurrent_requests=1)
    forwarder = Forwarder(settings, sender=sender, clock=lambda: NOW, source_queue=FakeSourceQueue())

    result = invoke(forwarder, *events(2))

    assert reported(result) == ["m0"]
    assert forwarder._availability.outage() is None


def test_refusals_alone_are_no_outage() -> None:
    mixpanel = Mixpanel()
    mixpanel.answer = Response(400, b'{"error": "bad request"}')
    forwarder = container(mixpanel)

    invoke(forwarder, *events(2))

    assert forwarder._availability.outage() is None


THROTTLED = Response(429, b'{"code": 429, "error": "Project exceeded rate limits. Please retry"}')


def test_429s_alone_are_no_outage_mixpanel_is_up_and_throttling() -> None:
    mixpanel = Mixpanel()
    mixpanel.answer = THROTTLED
    forwarder = container(mixpanel)

    result = invoke(forwarder, *events(2))

    assert reported(result) == ["m0", "m1"]
    assert forwarder._availability.outage() is None  # the next invocation sends as usual, no probe
    assert result.summary()["mixpanel_unavailable"] == 0


def test_a_probe_answered_429_opens_the_gate_mixpanel_is_back_and_throttling() -> None:
    mixpanel = Mixpanel()
    forwarder = gone_down(mixpanel, max_attempts=1)
    mixpanel.down = False
    mixpanel.answer = THROTTLED
    before = mixpanel.sent()

    result = invoke(forwarder, *events(3))

    assert mixpanel.sent() == before + 3  # the probe, then the others (each given up on its 429)
    assert reported(result) == ["m0", "m1", "m2"]
    assert not any(reason.startswith("Mixpanel unavailable") for reason in result.ledger.reasons())
    assert forwarder._availability.outage() is None


def test_a_request_unanswered_at_the_deadline_marks_mixpanel_down() -> None:
    mixpanel = Mixpanel()
    mixpanel.hold = threading.Event()  # a server that takes the request and never answers in time
    forwarder = container(mixpanel, request_timeout=30.0)
    try:
        first = invoke(forwarder, *events(1), remaining_ms=300)
        assert reported(first) == ["m0"]
        assert set(first.ledger.reasons()) == {"not confirmed before the function's time ran out"}
        assert forwarder._availability.outage() is not None
    finally:
        mixpanel.hold.set()


# --- when a probe goes ----------------------------------------------------------------------------------------------


def test_kinesis_waits_for_the_containers_probe_time() -> None:
    # GIVEN a container that marked Mixpanel down after its last request ended; its probe is due 0.3 s later
    mixpanel = Mixpanel()
    mixpanel.down = True
    forwarder = container(mixpanel, retry_base=0.3, retry_max=0.3, max_attempts=1)
    forwarder.forward(kinesis, kinesis_invocation(*events(1)), lambda_context(remaining_ms=60_000))
    last_ended = mixpanel.spans[-1][1]

    # WHEN Lambda retries the batch at once
    result = forwarder.forward(kinesis, kinesis_invocation(*events(1)), lambda_context(remaining_ms=60_000))

    # THEN the probe went no earlier than its time
    assert mixpanel.sent() == 2
    assert mixpanel.spans[-1][0] >= last_ended + 0.3
    assert result.delivery.probes_failed == 1


def test_what_a_failed_probe_leaves_unsent_is_hidden_for_its_delay_like_any_reported_record() -> None:
    # An outage's reports come back later each time (redelivery.py): a probe a minute per queue, not a poll.
    queue = FakeSourceQueue()
    forwarder = gone_down(Mixpanel(), queue=queue)
    queue.hidden.clear()

    result = invoke(forwarder, *events(3))

    assert (result.delivery.probes, result.delivery.probes_failed) == (1, 1)
    assert reported(result) == ["m0", "m1", "m2"]
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/q"
    assert sorted((queue_url, handle) for queue_url, handle, _ in queue.hidden) == [
        (url, f"handle-{i}") for i in range(3)
    ]
    assert all(30 <= seconds <= 33 for _, _, seconds in queue.hidden)  # d(1) and up to a tenth more
    assert (result.redelivery.backed_off, result.redelivery.backoff_failures) == (3, 0)


def test_sqs_does_not_wait_for_the_probe_time() -> None:
    mixpanel = Mixpanel()
    mixpanel.down = True
    forwarder = container(mixpanel, retry_base=30.0, retry_max=30.0, max_attempts=1)
    invoke(forwarder, *events(1), remaining_ms=120_000)
    last_ended = mixpanel.spans[-1][1]

    result = invoke(forwarder, *events(1), remaining_ms=120_000)

    assert result.delivery.probes_failed == 1
    assert mixpanel.spans[-1][0] < last_ended + 30.0  # due half a minute later: it did not wait for it


def test_kinesis_never_waits_past_the_time_it_needs_to_answer() -> None:
    # GIVEN a probe due in an hour, and an invocation with 1.5 s
    mixpanel = Mixpanel()
    mixpanel.down = True
    forwarder = container(mixpanel, retry_base=3600.0, retry_max=3600.0, max_attempts=1)
    forwarder.forward(kinesis, kinesis_invocation(*events(1)), lambda_context(remaining_ms=1_000))

    result = forwarder.forward(kinesis, kinesis_invocation(*events(2)), lambda_context(remaining_ms=1_500))

    # THEN it probes once before its time runs out, and reports what it could not send
    assert mixpanel.timeouts[-1] <= 0.5
    assert result.delivery.probes == 1
    assert reported(result) == ["100", "101"]
    assert all(reason.startswith("Mixpanel unavailable since") for reason in result.ledger.reasons())


# --- the state and the gate ------------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_probes_are_spaced_as_mixpanel_advises_retries() -> None:
    settings = make_settings(retry_base=2.0, retry_max=60.0, retry_jitter_min=1.0, retry_jitter_max=5.0)
    monotonic = Clock()
    availability = Availability(Backoff(settings, random.Random(7)), clock=lambda: NOW, monotonic=monotonic)
    assert availability.outage() is None

    availability.gave_up()
    outage = availability.outage()
    assert outage is not None
    assert (outage.since, outage.failures) == (NOW, 1)
    assert 2 + 1 <= outage.probe_at - monotonic.now <= 2 + 5
    availability.gave_up()  # already down: since and the schedule stay
    assert availability.outage() is outage

    waits = [availability.probe_failed().probe_at - monotonic.now for _ in range(7)]
    for wait, base in zip(waits, (4, 8, 16, 32, 60, 60, 60), strict=True):
        assert base + 1 <= wait <= base + 5
    monotonic.now += 100
    assert availability.until_probe() == 0.0

    availability.answered()
    assert availability.outage() is None


class Gated:
    """What a gate starts and refuses."""

    def __init__(self) -> None:
        self.started: list[tuple[int, bool]] = []
        self.refused: list[tuple[int, str]] = []

    def start(self, batch: Batch, probe: bool) -> None:
        self.started.append((batch.indices[0], probe))

    def refuse(self, batch: Batch, failure: Failure) -> None:
        self.refused.append((batch.indices[0], failure.reason))


def batch(index: int) -> Batch:
    one = Batch(Kind.EVENT)
    one.add(index, b"{}")
    return one


def test_the_gate_holds_the_others_until_the_probe_is_answered() -> None:
    gated = Gated()
    gate = ProbeGate(Outage(NOW, 0.0, 1), gated.start, gated.refuse)
    for index in range(3):
        gate.submit(batch(index))
    assert gated.started == [(0, True)]
    assert not gate.decided.is_set()

    gate.open()
    gate.submit(batch(3))
    gate.close(Failure("too late"))  # only the first verdict counts

    assert gated.started == [(0, True), (1, False), (2, False), (3, False)]
    assert gated.refused == []


def test_a_closed_gate_refuses_the_held_batches_and_any_later_one() -> None:
    gated = Gated()
    outage = Outage(NOW, 0.0, 2)
    gate = ProbeGate(outage, gated.start, gated.refuse)
    for index in range(3):
        gate.submit(batch(index))

    gate.close(outage.failure("failed: Mixpanel answered 502"))
    gate.submit(batch(3))
    gate.open()

    reason = f"Mixpanel unavailable since {SINCE}: the probe failed: Mixpanel answered 502"
    assert gated.started == [(0, True)]
    assert gated.refused == [(1, reason), (2, reason), (3, reason)]
