"""The real handlers riding through an outage and a rate limit of the sink, both on the sink's clock, which the tests
move by hand: what is asserted is what the sink saw (requests, events, requests in flight) and what the handler
reported (records and reasons), never how long anything took."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from functions.kinesis_forwarder.app import lambda_handler as kinesis_handler
from functions.sqs_forwarder.app import lambda_handler as sqs_handler
from localdev.eventgen import kinesis_event, kinesis_record, lambda_context, sample_event, sqs_event, sqs_record
from localdev.eventgen.common import T0_S
from localdev.sink import MixpanelSink
from localdev.sink.outages import OutageMode
from mixpanel_forwarder import runtime
from mixpanel_forwarder.result import Result
from tests.manual_clock import ManualClock

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
UNAVAILABLE = "Mixpanel unavailable since "


@pytest.fixture
def clock() -> ManualClock:
    """The sink's clock: an hour after the sample events' time, moved on by the test."""
    return ManualClock(T0_S + 3600)


@pytest.fixture
def sink(clock: ManualClock) -> Iterator[MixpanelSink]:
    with MixpanelSink(clock=clock) as running:
        yield running


def sqs_records(count: int, per_record: int = 1) -> dict[str, Any]:
    bodies = [[sample_event(n * per_record + i) for i in range(per_record)] for n in range(count)]
    return sqs_event([sqs_record(json.dumps(body), index=n) for n, body in enumerate(bodies)])


def kinesis_records(count: int) -> dict[str, Any]:
    return kinesis_event([kinesis_record(json.dumps(sample_event(n)).encode(), index=n) for n in range(count)])


def reported(response: dict[str, Any]) -> list[str]:
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def identifier(record: dict[str, Any]) -> str:
    return str(record.get("messageId") or record["kinesis"]["sequenceNumber"])


def identifiers(event: dict[str, Any]) -> list[str]:
    return [identifier(record) for record in event["Records"]]


def only(event: dict[str, Any], records: list[str]) -> dict[str, Any]:
    """The invocation Lambda makes of the records reported (SQS: as they come back)."""
    kept = set(records)
    return {"Records": [record for record in event["Records"] if identifier(record) in kept]}


def last() -> Result:
    result = runtime.last_result()
    assert result is not None
    return result


def invoke(handler: Handler, event: dict[str, Any]) -> dict[str, Any]:
    return handler(event, lambda_context(remaining_ms=60_000))


# --- an outage ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["5xx", "reset", "hang"])
@pytest.mark.parametrize(
    ("handler", "records"), [(sqs_handler, sqs_records), (kinesis_handler, kinesis_records)], ids=["sqs", "kinesis"]
)
def test_during_an_outage_an_invocation_sends_one_probe_and_the_first_after_it_imports_everything(
    sink: MixpanelSink,
    clock: ManualClock,
    forwarder_env: Callable[..., None],
    handler: Handler,
    records: Callable[[int], dict[str, Any]],
    mode: OutageMode,
) -> None:
    # GIVEN Mixpanel down for an hour, and batches of 10 of 30 events
    forwarder_env(BATCH_MAX_EVENTS="10", MAX_ATTEMPTS="2", REQUEST_TIMEOUT_SECONDS="0.5", PROBE_TIMEOUT_SECONDS="0.5")
    sink.schedule_outage(clock.now, clock.now + 3600, mode)
    event = records(30)
    everything = identifiers(event)

    # WHEN the first invocation meets it: each batch tried twice, then reported (from a stream, the first batch only:
    # the records after a reported one come again, so theirs are not sent)
    first = invoke(handler, event)
    assert reported(first) == everything
    met = 2 if handler is kinesis_handler else 6
    assert len(sink.requests) == met
    assert last().summary()["mixpanel_unavailable"] == 0

    # AND the next one comes while it is still down
    second = invoke(handler, event)

    # THEN it sends one request, and reports everything, saying why
    assert len(sink.requests) == met + 1
    assert reported(second) == everything
    reasons = last().ledger.reasons()
    assert sum(reasons.values()) == 30
    assert all(reason.startswith(UNAVAILABLE) and ": the probe failed: " in reason for reason in reasons)
    summary = last().summary()
    assert summary | {"mixpanel_unavailable": 1, "probe": "failed"} == summary

    # WHEN Mixpanel is back, the first invocation imports everything
    clock.advance(3600)
    third = invoke(handler, event)
    assert reported(third) == []
    assert len(sink.events) == 30
    assert len(sink.requests) == met + 1 + 3
    assert last().summary()["probe"] == "answered"
    invoke(handler, event)  # and the next one finds it up
    assert last().summary()["mixpanel_unavailable"] == 0


def test_flapping_mixpanel_loses_nothing_and_probes_while_it_is_down(
    sink: MixpanelSink, clock: ManualClock, forwarder_env: Callable[..., None]
) -> None:
    # GIVEN Mixpanel down for 2 minutes and up for 1 in turn, and invocations a minute apart, each with what the
    # last one reported (as Lambda would deliver it again)
    forwarder_env(BATCH_MAX_EVENTS="5", MAX_ATTEMPTS="2")
    sink.schedule_flapping(clock.now, clock.now + 3600, down_s=120, up_s=60)
    event = sqs_records(20)
    pending = identifiers(event)
    probes_while_down = []

    # WHEN it runs until nothing is reported
    for _ in range(12):
        down = sink.is_down()
        before = len(sink.requests)
        pending = reported(invoke(sqs_handler, only(event, pending)))
        if down and last().summary()["mixpanel_unavailable"]:
            probes_while_down.append(len(sink.requests) - before)
        if not pending:
            break
        clock.advance(60)

    # THEN every event is imported once, and each invocation that found Mixpanel down in a down spell sent one request
    assert pending == []
    assert len(sink.events) == 20
    assert probes_while_down
    assert set(probes_while_down) == {1}


# --- a rate limit ------------------------------------------------------------------------------------------------


def test_under_a_rate_limit_fewer_requests_are_in_flight_and_everything_lands(
    sink: MixpanelSink, clock: ManualClock, forwarder_env: Callable[..., None]
) -> None:
    # GIVEN a project that may send 800 events a minute, and 24 requests of 100 events to send, 8 at a time
    forwarder_env(MAX_CONCURRENT_REQUESTS="8", BATCH_MAX_EVENTS="100", MAX_ATTEMPTS="3")
    sink.set_rate_limit(60, events=800)
    event = sqs_records(24, per_record=100)

    # WHEN the first invocation sends (the sink holds requests until 8 are in flight at once)
    sink.flight.pause()
    answer: dict[str, Any] = {}
    running = threading.Thread(target=lambda: answer.update(invoke(sqs_handler, event)))
    running.start()
    try:
        assert sink.flight.wait_for(8, "/import", timeout=30), "the first 8 requests were in flight together"
    finally:
        sink.flight.resume()
        running.join(60)

    # THEN 8 went, 429s lowered the limit of requests in flight, and what was not accepted was reported
    assert sink.flight.peak("/import") == 8
    first = last().summary()
    assert first["requests"]["429"] > 0
    assert first["in_flight_limit_min"] < 8
    pending = reported(answer)
    assert 0 < len(pending) < 24

    # WHEN Lambda delivers the rest again, a minute apart (requests slowed at the sink, so that any not held back
    # by the limit would be in flight together)
    sink.drip_next(0.001, count=10_000, endpoint="/import")
    peaks = []
    for _ in range(10):
        if not pending:
            break
        clock.advance(61)
        sink.flight.reset_peak()
        pending = reported(invoke(sqs_handler, only(event, pending)))
        peaks.append((sink.flight.peak("/import"), last().summary()["in_flight_limit"]))

    # THEN everything landed over several invocations, never more than 4 requests in flight at once (the limit, 1
    # after the first invocation, rises by one per that many accepted in a row, and the sink accepts 8 a minute)
    assert pending == []
    assert len(sink.events) == 2400
    assert len(peaks) >= 2
    assert max(peak for peak, _ in peaks) <= 4
