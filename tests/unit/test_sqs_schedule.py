"""The SQS backoff schedule, the receives it explains, the crash rule at its edges, retention, URLs from ARNs, and the
envelope a moved record travels in."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mixpanel_forwarder.errors import DecodeError
from mixpanel_forwarder.sources import sqs
from mixpanel_forwarder.sqs_schedule import (
    MAX_VISIBILITY_SECONDS,
    UNREAD,
    Schedule,
    crash_returns,
    is_queue,
    near_retention_end,
    queue_url,
)

DEFAULT = Schedule(30, 1230)
SENT_MS = 1_764_000_000_500


def test_each_delay_doubles_from_the_base_up_to_the_cap() -> None:
    assert [DEFAULT.delay(n) for n in range(1, 10)] == [30, 60, 120, 240, 480, 960, 1230, 1230, 1230]
    assert DEFAULT.delay(1000) == DEFAULT.delay(10**6) == 1230
    assert DEFAULT.delay(0) == 30  # an unreadable count is taken as the first receive


def test_a_base_above_the_cap_is_the_cap_from_the_first_receive() -> None:
    assert [Schedule(60, 40).delay(n) for n in (1, 2, 3)] == [40, 40, 40]


@given(st.integers(1, 1200), st.integers(0, 2**32))
def test_the_timeout_is_the_delay_and_at_most_a_tenth_more_in_whole_seconds(receives: int, seed: int) -> None:
    delay = DEFAULT.delay(receives)

    timeout = DEFAULT.timeout(receives, random.Random(seed))

    assert type(timeout) is int
    assert delay <= timeout <= delay + delay // 10


def test_the_longest_timeout_a_setting_allows_is_within_sqs_12_hours() -> None:
    longest = Schedule(36_000, 36_000)
    assert max(longest.timeout(5, random.Random(seed)) for seed in range(200)) <= MAX_VISIBILITY_SECONDS - 900


def test_the_default_schedule_spans_what_the_design_computes() -> None:
    # 30 + 60 + 120 + 240 + 480 + 960 + 994 x 1230
    assert DEFAULT.span(1000) == 1_224_510
    assert DEFAULT.span(6) == 1890
    assert DEFAULT.span(0) == 0


def test_the_receives_to_span_a_retention_are_the_fewest_that_do() -> None:
    receives = DEFAULT.receives_to_span(UNREAD.retention)

    assert DEFAULT.span(receives) >= UNREAD.retention > DEFAULT.span(receives - 1)
    assert receives == 286


@pytest.mark.parametrize(
    ("elapsed", "receives"),
    [(-5, 1), (0, 1), (29.9, 1), (30, 2), (89.9, 2), (90, 3), (1889, 6), (1890, 7), (3119, 7), (3120, 8)],
)
def test_the_receives_a_span_explains(elapsed: float, receives: int) -> None:
    assert DEFAULT.explained(elapsed) == receives


@given(st.integers(1, 600), st.integers(1, 3000), st.integers(1, 400))
def test_each_receive_is_explained_from_the_span_of_the_delays_before_it_and_not_sooner(
    base: int, cap: int, receives: int
) -> None:
    schedule = Schedule(base, cap)
    before = schedule.span(receives - 1)  # the least time from the first receive to this one

    assert schedule.explained(before) == receives
    assert schedule.explained(before - 0.001) == receives - 1 or receives == 1


@pytest.mark.parametrize(
    ("receives", "elapsed_s", "beyond"),
    [
        (6, 0, 5),  # six receives at once: five more than the first explains
        (5, 0, 4),
        (6, 30, 4),  # the second receive was explained by then
        (20, 12_540, 5),  # every 660 s (the template's visibility timeout at a 60 s function): the 20th is the first
        (19, 11_880, 4),
        (1000, DEFAULT.span(999), 0),  # backed off every time: nothing beyond
    ],
)
def test_the_returns_beyond_the_schedule(receives: int, elapsed_s: int, beyond: int) -> None:
    assert crash_returns(DEFAULT, receives, SENT_MS, SENT_MS + elapsed_s * 1000) == beyond


@pytest.mark.parametrize("visibility", [1230, 2100, 5700])
def test_a_crash_loop_no_faster_than_the_longest_delay_is_never_told_by_the_schedule(visibility: int) -> None:
    # Back after each visibility timeout and a run: never faster than backoff, so records received again near their
    # retention end are parked whole (crash_loops.py) rather than left to expire.
    assert max(crash_returns(DEFAULT, n, 0, (n - 1) * (visibility + 60) * 1000) for n in range(2, 1001)) < 5


def test_a_record_nears_its_retention_end_two_caps_before_it() -> None:
    retention = 4 * 24 * 3600
    edge_ms = SENT_MS + (retention - 2 * 1230) * 1000

    assert not near_retention_end(DEFAULT, SENT_MS, retention, edge_ms - 1)
    assert near_retention_end(DEFAULT, SENT_MS, retention, edge_ms)


@pytest.mark.parametrize(
    ("arn", "url"),
    [
        (
            "arn:aws:sqs:us-east-1:123456789012:product-events",
            "https://sqs.us-east-1.amazonaws.com/123456789012/product-events",
        ),
        (
            "arn:aws:sqs:eu-west-1:123456789012:orders.fifo",
            "https://sqs.eu-west-1.amazonaws.com/123456789012/orders.fifo",
        ),
        ("arn:aws-cn:sqs:cn-north-1:123456789012:q", "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q"),
        ("arn:aws-us-gov:sqs:us-gov-west-1:123456789012:q", "https://sqs.us-gov-west-1.amazonaws.com/123456789012/q"),
    ],
)
def test_the_queue_url_of_an_arn(arn: str, url: str) -> None:
    assert queue_url(arn) == url


@pytest.mark.parametrize(
    "arn",
    [None, 7, "", "arn:aws:kinesis:us-east-1:123456789012:stream/s", "arn:aws:sqs:us-east-1:123456789012", "q"],
)
def test_what_is_not_an_sqs_arn_has_no_queue_url(arn: Any) -> None:
    assert queue_url(arn) is None


@pytest.mark.parametrize(
    "url",
    [
        "https://sqs.us-east-1.amazonaws.com/123456789012/product-events-dlq",
        "https://queue.amazonaws.com/123456789012/product-events-dlq",  # SQS's legacy form
        "http://localhost:5000/123456789012/product-events-dlq/",  # an endpoint of the tests' (moto)
    ],
)
def test_a_queue_url_names_the_queue_of_an_arn_by_account_and_name(url: str) -> None:
    assert is_queue("arn:aws:sqs:us-east-1:123456789012:product-events-dlq", url)


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:sqs:us-east-1:123456789012:kinesis-retry-dlq",  # another queue of the account
        "arn:aws:sqs:us-east-1:210987654321:product-events-dlq",  # another account's of that name
        "arn:aws:sqs:us-east-1:123456789012:product-events",  # its source queue
        None,  # a queue without a dead-letter queue, or whose policy could not be read
        "product-events-dlq",
    ],
)
def test_a_queue_url_does_not_name_another_queue(arn: Any) -> None:
    assert not is_queue(arn, "https://sqs.us-east-1.amazonaws.com/123456789012/product-events-dlq")


# --- the envelope of a moved record --------------------------------------------------------------------------------


def lambda_record(body: str, message_id: str, sent_ms: int, receives: int = 1) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": f"handle-{message_id}",
        "body": body,
        "attributes": {"ApproximateReceiveCount": str(receives), "SentTimestamp": str(sent_ms)},
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:product-events",
    }


def items(raw: dict[str, Any]) -> list[tuple[str, int | None, Any]]:
    _, [record] = sqs.source_records({"Records": [raw]})
    return [(item.key, item.default_time_ms, item.payload) for item in sqs.decode(record)]


BODIES = [
    json.dumps({"event": "Signup", "properties": {"distinct_id": "u1"}}),  # the lone event's fast path
    json.dumps([{"event": "A", "properties": {"distinct_id": "u1"}}, {"event": "B", "properties": {}}]),
    '{"event": "A", "properties": {}}\n{"event": "B", "properties": {}}',  # NDJSON: no JSON document
    json.dumps({"Type": "Notification", "MessageId": "sns-1", "Message": json.dumps({"event": "C", "properties": {}})}),
]


@pytest.mark.parametrize("body", BODIES, ids=["lone", "array", "ndjson", "sns"])
def test_a_moved_record_redriven_decodes_to_the_items_of_its_first_delivery(body: str) -> None:
    first = lambda_record(body, "first-id", SENT_MS, receives=9)
    moved = sqs.moved_body(first, 9, "crash loop")
    assert moved is not None

    redriven = lambda_record(moved, "new-id-after-redrive", SENT_MS + 86_400_000)

    assert items(redriven) == items(first)
    assert json.loads(moved)[sqs.MOVED] == {
        "messageId": "first-id",
        "sentTimestamp": SENT_MS,
        "receiveCount": 9,
        "reason": "crash loop",
    }


def test_a_record_moved_twice_keeps_the_coordinates_of_its_first_delivery() -> None:
    body = BODIES[1]
    first = lambda_record(body, "first-id", SENT_MS)
    once = lambda_record(sqs.moved_body(first, 7, "crash loop") or "", "second-id", SENT_MS + 1000)

    twice = sqs.moved_body(once, 8, "crash loop again")

    assert twice is not None
    envelope = json.loads(twice)
    assert envelope["body"] == body  # never an envelope in an envelope
    assert (envelope[sqs.MOVED]["messageId"], envelope[sqs.MOVED]["sentTimestamp"]) == ("first-id", SENT_MS)
    assert items(lambda_record(twice, "third-id", SENT_MS + 2000)) == items(first)


def test_an_envelope_is_read_through_once_only() -> None:
    inner = json.dumps({sqs.MOVED: {"messageId": "inner", "sentTimestamp": 1}, "body": BODIES[0]})
    outer = json.dumps({sqs.MOVED: {"messageId": "outer", "sentTimestamp": SENT_MS}, "body": inner})

    [(key, _, payload)] = items(lambda_record(outer, "new", SENT_MS + 5))

    assert key == "sqs:outer:0"
    assert sqs.MOVED in payload  # the inner envelope is the message: refused later as no event, never a loop


@pytest.mark.parametrize(
    "envelope",
    [
        {sqs.MOVED: {"sentTimestamp": SENT_MS}, "body": BODIES[0]},
        {sqs.MOVED: {"messageId": "m", "sentTimestamp": SENT_MS}},
        {sqs.MOVED: "not an object", "body": BODIES[0]},
    ],
    ids=["no-message-id", "no-body", "not-an-object"],
)
def test_an_envelope_without_its_coordinates_is_undecodable(envelope: dict[str, Any]) -> None:
    with pytest.raises(DecodeError, match=sqs.MOVED):
        items(lambda_record(json.dumps(envelope), "m", SENT_MS))
