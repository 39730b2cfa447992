"""The container's limit of /import requests in flight: its AIMD arithmetic, its bound under threads, its deadline,
and the forwarder keeping it across invocations."""

from __future__ import annotations

import json
import threading
from typing import Any

from localdev.eventgen import lambda_context
from mixpanel_forwarder.forwarder import Forwarder
from mixpanel_forwarder.in_flight import InFlightLimit, Slot
from mixpanel_forwarder.sources import sqs
from mixpanel_forwarder.transport import Response
from tests.conftest import FakeSender, make_settings

RATE_LIMITED = Response(429, b'{"code": 429, "error": "Project exceeded rate limits.", "status": "Too Many Requests"}')


def forever() -> float:
    return 60.0


def throttled(limit: InFlightLimit, slot: Slot) -> None:
    limit.release(slot, throttled=True)


def accepted(limit: InFlightLimit, times: int) -> None:
    for _ in range(times):
        slot = limit.acquire(forever)
        assert slot is not None
        limit.release(slot, accepted=True)


# --- the arithmetic -------------------------------------------------------------------------------------------------


def test_starts_at_the_maximum_and_a_429_halves_it_once_per_congestion_epoch() -> None:
    limit = InFlightLimit(8)
    early = [slot for slot in (limit.acquire(forever) for _ in range(3)) if slot is not None]  # before any decrease
    assert limit.limit == 8
    assert len(early) == 3

    throttled(limit, early[0])
    assert limit.limit == 4
    throttled(limit, early[1])  # sent before the decrease: already acted on
    assert limit.limit == 4
    later = limit.acquire(forever)
    assert later is not None
    throttled(limit, later)  # sent after it: a new epoch's congestion
    assert limit.limit == 2
    limit.release(early[2])  # any other answer changes nothing
    assert limit.limit == 2


def test_never_below_one() -> None:
    limit = InFlightLimit(2)
    for _ in range(5):
        slot = limit.acquire(forever)
        assert slot is not None
        throttled(limit, slot)
    assert limit.limit == 1


def test_limit_accepted_requests_in_a_row_raise_it_by_one_up_to_the_maximum() -> None:
    limit = InFlightLimit(5)
    for _ in range(3):  # 5 → 2 → 1 → 1
        slot = limit.acquire(forever)
        assert slot is not None
        throttled(limit, slot)
    assert limit.limit == 1

    accepted(limit, 1)
    assert limit.limit == 2
    accepted(limit, 1)
    assert limit.limit == 2  # 2 in a row are needed now
    accepted(limit, 1)
    assert limit.limit == 3
    accepted(limit, 3 + 4)
    assert limit.limit == 5
    accepted(limit, 50)
    assert limit.limit == 5


def test_a_429_breaks_the_run_of_accepted_requests() -> None:
    limit = InFlightLimit(8)
    old = limit.acquire(forever)  # sent before the decrease below: its 429 does not halve, but breaks the run
    slot = limit.acquire(forever)
    assert old is not None
    assert slot is not None
    throttled(limit, slot)
    assert limit.limit == 4

    accepted(limit, 3)
    throttled(limit, old)
    accepted(limit, 3)
    assert limit.limit == 4  # 3 and 3, never 4 in a row
    accepted(limit, 1)
    assert limit.limit == 5


def test_low_is_the_lowest_limit_since_mark() -> None:
    limit = InFlightLimit(8)
    slot = limit.acquire(forever)
    assert slot is not None
    throttled(limit, slot)
    accepted(limit, 4)
    assert (limit.low, limit.limit) == (4, 5)
    limit.mark()
    assert limit.low == 5


# --- the bound, under threads ---------------------------------------------------------------------------------------


def test_threads_never_hold_more_places_than_the_limit() -> None:
    limit = InFlightLimit(6)
    slot = limit.acquire(forever)
    assert slot is not None
    throttled(limit, slot)  # 3
    lock = threading.Condition()
    held = peak = 0
    go = threading.Event()

    def request() -> None:
        nonlocal held, peak
        place = limit.acquire(forever)
        assert place is not None
        with lock:
            held += 1
            peak = max(peak, held)
            lock.notify_all()
        go.wait(30)
        with lock:
            held -= 1
        limit.release(place, accepted=True)

    threads = [threading.Thread(target=request) for _ in range(12)]
    for thread in threads:
        thread.start()
    with lock:  # the first three hold their places until the others have had every chance to pass
        assert lock.wait_for(lambda: held == 3, 30)
    go.set()
    for thread in threads:
        thread.join(30)

    assert peak == 3
    assert limit.in_flight == 0
    assert limit.limit == 6  # 12 accepted: 3 in a row → 4, 4 more → 5, 5 more → 6


def test_a_request_waiting_for_a_place_gives_up_when_the_time_runs_out() -> None:
    limit = InFlightLimit(1)
    holder = limit.acquire(forever)
    assert holder is not None
    left = iter([0.01, 0.0])

    assert limit.acquire(lambda: next(left)) is None
    assert limit.in_flight == 1
    limit.release(holder)
    waited = limit.acquire(forever)
    assert waited is not None
    assert not waited.waited


# --- in the forwarder -----------------------------------------------------------------------------------------------


def sqs_invocation(events: int) -> dict[str, Any]:
    body = [{"event": f"E{n}", "properties": {"time": 1_764_000_000, "distinct_id": f"u{n}"}} for n in range(events)]
    return {
        "Records": [
            {
                "messageId": "m0",
                "body": json.dumps(body),
                "attributes": {"SentTimestamp": "1764000000000"},
                "eventSourceARN": "arn:aws:sqs:us-east-1:1:q",
            }
        ]
    }


def test_the_limit_lowered_by_429s_holds_for_the_next_invocation() -> None:
    # GIVEN Mixpanel's 429 to the first request, then its 200s
    sender = FakeSender(RATE_LIMITED)
    forwarder = Forwarder(make_settings(max_concurrent_requests=8, batch_max_events=1), sender=sender)

    # WHEN an invocation sends one request, retried, and the next one another
    first = forwarder.forward(sqs, sqs_invocation(1), lambda_context(remaining_ms=60_000))
    second = forwarder.forward(sqs, sqs_invocation(1), lambda_context(remaining_ms=60_000))

    # THEN the first halved the limit (its accepted retry is one of the 4 in a row that raise it to 5), and the
    # second began where the first ended
    assert first.response == second.response == {"batchItemFailures": []}
    assert (first.delivery.in_flight_limit_min, first.delivery.in_flight_limit) == (4, 4)
    assert (second.delivery.in_flight_limit_min, second.delivery.in_flight_limit) == (4, 4)
    assert first.summary() | {"in_flight_limit_min": 4, "requests_delayed": 0} == first.summary()


def test_a_request_that_had_no_place_before_the_deadline_is_reported_unsent() -> None:
    # GIVEN a container whose one place in flight is held by a request of an earlier invocation
    sender = FakeSender()
    forwarder = Forwarder(make_settings(max_concurrent_requests=1), sender=sender)
    holder = forwarder._in_flight.acquire(forever)
    assert holder is not None

    # WHEN an invocation with little time has a request to send
    result = forwarder.forward(sqs, sqs_invocation(3), lambda_context(remaining_ms=200))

    # THEN it is never sent, and reported like one the time ran out for
    assert sender.requests == []
    assert result.response == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert dict(result.ledger.reasons()) == {"not sent: the function's time ran out": 3}
    forwarder._in_flight.release(holder)


def test_profile_requests_do_not_take_places_in_flight() -> None:
    # GIVEN a container whose one place in flight for /import is taken
    sender = FakeSender()
    settings = make_settings(max_concurrent_requests=1)
    assert settings.credentials is not None
    settings = settings._replace(credentials=settings.credentials._replace(token="project-token"))
    forwarder = Forwarder(settings, sender=sender)
    holder = forwarder._in_flight.acquire(forever)
    assert holder is not None
    invocation = sqs_invocation(0)
    invocation["Records"][0]["body"] = json.dumps({"$distinct_id": "u1", "$set": {"plan": "pro"}})

    # WHEN a profile update is sent
    result = forwarder.forward(sqs, invocation, lambda_context(remaining_ms=5_000))

    # THEN /engage takes it all the same: its requests go one at a time anyway
    assert result.response == {"batchItemFailures": []}
    assert len(sender.sent_to("/engage")) == 1
    forwarder._in_flight.release(holder)
