"""What an SQS invocation tells SQS beside its answer, through a fake source queue: reported records hidden for their
delay, records near their queue's retention end parked whole, crash-looping records moved on; and nothing of it for
an invocation that reports nothing, nor for Kinesis."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from mixpanel_forwarder.forwarder import Forwarder, Result
from mixpanel_forwarder.model import SourceKind
from mixpanel_forwarder.sources import kinesis, sqs
from mixpanel_forwarder.sqs_schedule import Schedule
from mixpanel_forwarder.transport import Response
from tests.conftest import FakeParker, FakeSender, FakeSourceQueue, make_settings
from tests.unit.test_forwarder import Context, event, reported

NOW_MS = 1_800_000_000_000  # the forwarder's clock, which SQS's timestamps are compared with
ARN = "arn:aws:sqs:us-east-1:123456789012:product-events"
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/product-events"
SOURCE_DLQ = "https://sqs.us-east-1.amazonaws.com/123456789012/product-events-dlq"
DAY_MS = 86_400_000
UNAVAILABLE = Response(503, b"unavailable")


def record(
    n: int, receives: int = 1, *, age_ms: int = 60_000, first_receive_ago_ms: int = 50_000, fifo: bool = False
) -> dict[str, Any]:
    return {
        "messageId": f"m{n}",
        "receiptHandle": f"handle-{n}-{receives}",
        "body": json.dumps(event(n)),
        "attributes": {
            "ApproximateReceiveCount": str(receives),
            "SentTimestamp": str(NOW_MS - age_ms),
            "ApproximateFirstReceiveTimestamp": str(NOW_MS - first_receive_ago_ms),
        },
        "eventSourceARN": ARN + (".fifo" if fifo else ""),
    }


class Run:
    """A container: one forwarder, its fakes, and the invocations it forwards."""

    def __init__(
        self,
        queue: FakeSourceQueue | None = None,
        parker: FakeParker | None = None,
        sender: FakeSender | None = None,
        **settings: Any,
    ) -> None:
        self.queue = queue or FakeSourceQueue()
        self.parker = parker
        self.sender = sender or FakeSender()
        self.forwarder = Forwarder(
            make_settings(**settings),
            sender=self.sender,
            parker=parker,
            clock=lambda: NOW_MS / 1000,
            source_queue=self.queue,
        )

    def forward(self, *records: dict[str, Any], context: Any = None) -> Result:
        return self.forwarder.forward(sqs, {"Records": list(records)}, context)


def failing(count: int) -> FakeSender:
    return FakeSender(*[UNAVAILABLE] * count)


# --- D1: reported records come back later each time ----------------------------------------------------------------


def test_nothing_reported_nor_received_again_calls_nothing_of_the_queue() -> None:
    run = Run(parker=FakeParker())

    result = run.forward(record(0), record(1))

    assert reported(result) == []
    assert (run.queue.retention_reads, run.queue.hidden, run.queue.sent) == ([], [], [])
    assert (result.redelivery.backed_off, result.redelivery.backoff_failures) == (0, 0)


def test_each_reported_record_is_hidden_for_the_delay_of_its_receive_count() -> None:
    run = Run(sender=failing(1), max_attempts=1, max_concurrent_requests=1, batch_max_events=1)

    result = run.forward(record(0, receives=1), record(1, receives=4), record(2, receives=40))

    assert reported(result) == ["m0"]  # the first request failed; the others went through
    [(url, handle, seconds)] = run.queue.hidden
    assert (url, handle) == (QUEUE_URL, "handle-0-1")
    assert 30 <= seconds <= 33
    assert (result.redelivery.backed_off, result.redelivery.backoff_failures) == (1, 0)
    assert result.summary()["records_backed_off"] == 1


def test_the_delays_grow_with_the_receives_and_stop_at_the_cap() -> None:
    run = Run(sender=failing(100), max_attempts=1)
    receives = [1, 2, 3, 7, 40, 999]

    result = run.forward(*[record(n, receives=count) for n, count in enumerate(receives)])

    assert len(reported(result)) == len(receives)
    delays = {handle: seconds for _, handle, seconds in run.queue.hidden}
    for n, count in enumerate(receives):
        least = Schedule(30, 1230).delay(count)
        assert least <= delays[f"handle-{n}-{count}"] <= least + least // 10


def test_the_schedule_follows_its_settings() -> None:
    run = Run(sender=failing(100), max_attempts=1, sqs_retry_base=1, sqs_retry_max=8)

    run.forward(*[record(n, receives=n + 1) for n in range(6)])

    assert sorted(seconds for _, _, seconds in run.queue.hidden) == [1, 2, 4, 8, 8, 8]


def test_fifo_hides_every_record_it_reports_the_first_failed_and_all_after_it() -> None:
    run = Run(sender=FakeSender(UNAVAILABLE), max_attempts=1, max_concurrent_requests=1, batch_max_events=1)

    result = run.forward(*[record(n, fifo=True) for n in range(3)])

    assert result.kind is SourceKind.SQS_FIFO
    assert reported(result) == ["m0", "m1", "m2"]
    assert sorted(handle for _, handle, _ in run.queue.hidden) == ["handle-0-1", "handle-1-1", "handle-2-1"]
    assert {url for url, _, _ in run.queue.hidden} == {QUEUE_URL + ".fifo"}


def test_a_change_sqs_refuses_is_counted_and_the_records_still_reported() -> None:
    run = Run(queue=FakeSourceQueue(refuse=True), sender=failing(10), max_attempts=1)

    result = run.forward(record(0), record(1))

    assert reported(result) == ["m0", "m1"]
    assert (result.redelivery.backed_off, result.redelivery.backoff_failures) == (0, 2)
    assert result.summary()["backoff_failures"] == 2


def test_a_reported_record_sqs_cannot_be_told_about_is_a_backoff_failure() -> None:
    without_handle = {key: value for key, value in record(0).items() if key != "receiptHandle"}
    run = Run(sender=failing(10), max_attempts=1)

    result = run.forward(without_handle)

    assert reported(result) == ["m0"]
    assert run.queue.hidden == []
    assert (result.redelivery.backed_off, result.redelivery.backoff_failures) == (0, 1)


def test_kinesis_tells_no_queue_anything() -> None:
    queue = FakeSourceQueue()
    forwarder = Forwarder(
        make_settings(max_attempts=1), sender=failing(10), clock=lambda: NOW_MS / 1000, source_queue=queue
    )
    data = base64.b64encode(json.dumps(event(0)).encode()).decode()
    invocation = {
        "Records": [
            {
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/s",
                "kinesis": {"sequenceNumber": "1", "data": data, "approximateArrivalTimestamp": 1_764_000_000.0},
            }
        ]
    }

    result = forwarder.forward(kinesis, invocation, None)

    assert reported(result) == ["1"]
    assert (queue.retention_reads, queue.hidden, queue.sent) == ([], [], [])


def test_hiding_gets_a_third_of_the_margin_even_when_sending_used_all_the_time_before_it() -> None:
    run = Run(sender=failing(10), deadline_margin_ms=400)
    seen: list[float] = []
    change = run.queue.change_visibility

    def timed(url: str, entries: list[tuple[str, int]], time_left: Any) -> list[bool]:
        seen.append(time_left())
        return change(url, entries, time_left)

    run.queue.change_visibility = timed  # type: ignore[method-assign]

    result = run.forward(record(0), context=Context(remaining_ms=400))  # no time to send at all

    assert reported(result) == ["m0"]
    assert len(run.sender.requests) == 0
    [left] = seen
    assert 0 < left <= 0.4 / 3  # into the margin, never past its third: the answer is still on time


# --- D1: near the queue's retention end, parked whole instead -------------------------------------------------------


def test_a_record_near_its_queues_retention_end_is_parked_whole_with_the_last_reason() -> None:
    parker = FakeParker()
    run = Run(queue=FakeSourceQueue(retention=4 * 24 * 3600), parker=parker, sender=failing(10), max_attempts=1)
    old = 4 * DAY_MS - 2 * 1230 * 1000  # exactly two longest delays from its end
    young = old - 1000

    result = run.forward(record(0, age_ms=old), record(1, age_ms=young))

    assert reported(result) == ["m1"]
    [document] = parker.messages
    assert document["record"] == record(0, age_ms=old)  # the Lambda record whole: replay reads it as it came
    assert document["source"] == {"eventSourceARN": ARN, "messageId": "m0"}
    assert document["reason"].startswith("transient failures outlasted the source queue's retention (")
    assert "503" in document["reason"]
    assert [handle for _, handle, _ in run.queue.hidden] == ["handle-1-1"]  # only what is reported is hidden
    counts = result.counts()
    assert (counts["parked_retention"], counts["records_parked"], counts["parked"], counts["retry"]) == (1, 1, 1, 1)
    assert result.summary()["reasons"]  # says why


def test_the_retention_is_read_once_per_container_and_defaults_to_four_days_when_unreadable() -> None:
    run = Run(queue=FakeSourceQueue(retention=None), parker=FakeParker(), sender=failing(100), max_attempts=1)
    five_days = 5 * DAY_MS

    first = run.forward(record(0, age_ms=5 * DAY_MS))  # within a 14-day queue's, past a 4-day one's

    assert reported(first) == []
    assert len(run.parker.messages) == 1  # type: ignore[union-attr]
    run.queue.retention = 14 * 24 * 3600
    second = run.forward(record(1, age_ms=five_days))
    third = run.forward(record(2, age_ms=five_days))
    assert (reported(second), reported(third)) == (["m1"], ["m2"])
    assert run.queue.retention_reads == [QUEUE_URL] * 2  # read again after it failed, then kept


def test_without_a_dead_letter_queue_a_record_near_its_retention_end_is_reported() -> None:
    run = Run(queue=FakeSourceQueue(retention=3600), sender=failing(10), max_attempts=1)

    result = run.forward(record(0, age_ms=3_000_000))

    assert reported(result) == ["m0"]
    assert run.queue.retention_reads == []


def test_a_record_parked_for_its_retention_that_the_queue_does_not_take_is_reported() -> None:
    run = Run(queue=FakeSourceQueue(retention=3600), parker=FakeParker(refuse=True), sender=failing(10), max_attempts=1)

    result = run.forward(record(0, age_ms=3_000_000))

    assert reported(result) == ["m0"]
    assert result.counts()["park_failures"] == 1
    assert [handle for _, handle, _ in run.queue.hidden] == ["handle-0-1"]


def test_a_record_parked_whole_for_its_retention_takes_its_refused_events_along() -> None:
    body = json.dumps([event(0), {"properties": {"distinct_id": "u"}}])  # the second has no name: refused
    raw = {**record(0, age_ms=3_000_000), "body": body}
    parker = FakeParker(refuse=True)
    run = Run(queue=FakeSourceQueue(retention=3600), parker=parker, sender=failing(10), max_attempts=1)
    run.forward(raw)  # the event document is refused: reported with its record
    parker.refuse = False

    result = run.forward(raw)

    [document] = parker.messages  # one document, the record: not the refused event apart as well
    assert document["record"] == raw
    assert reported(result) == []


# --- D2: records the function never answered for -------------------------------------------------------------------


def looping(n: int, *, fifo: bool = False) -> dict[str, Any]:
    """Received six times within a minute: five more than the schedule explains (the second is due after 30 s)."""
    return record(n, receives=6, first_receive_ago_ms=29_000, fifo=fifo)


def test_a_crash_looping_record_is_moved_to_the_source_dlq_and_not_processed() -> None:
    run = Run(parker=FakeParker(), source_dead_letter_queue_url=SOURCE_DLQ)

    result = run.forward(record(0), looping(1), record(2, receives=6, first_receive_ago_ms=30_000))

    assert reported(result) == []
    assert [sent["properties"]["distinct_id"] for sent in run.sender.sent_events] == ["u0", "u2"]
    [(url, body)] = run.queue.sent
    assert url == SOURCE_DLQ
    envelope = json.loads(body)
    assert envelope["body"] == looping(1)["body"]
    moved = envelope[sqs.MOVED]
    assert (moved["messageId"], moved["sentTimestamp"], moved["receiveCount"]) == ("m1", NOW_MS - 60_000, 6)
    assert moved["reason"].startswith("crash loop: received 6 times in 29 s, 5 more than its backoff explains")
    assert result.redelivery.moved_crash_loop == 1
    assert result.summary()["records_moved_crash_loop"] == 1
    assert result.counts()["events"] == 2  # the moved record's event never entered the ledger


def test_a_record_one_return_short_of_the_rule_is_processed() -> None:
    run = Run(parker=FakeParker(), source_dead_letter_queue_url=SOURCE_DLQ, sqs_crash_returns=6)

    result = run.forward(looping(0))

    assert run.queue.sent == []
    assert len(run.sender.sent_events) == 1
    assert result.redelivery.moved_crash_loop == 0


def test_a_crash_looping_record_the_source_dlq_does_not_take_is_reported_unprocessed() -> None:
    run = Run(queue=FakeSourceQueue(refuse=True), parker=FakeParker(), source_dead_letter_queue_url=SOURCE_DLQ)

    result = run.forward(looping(0), record(1))

    assert reported(result) == ["m0"]
    assert [sent["properties"]["distinct_id"] for sent in run.sender.sent_events] == ["u1"]
    assert result.redelivery.moved_crash_loop == 0
    assert "the source dead-letter queue did not take it" in " ".join(result.summary()["reasons"])
    assert result.counts()["records_undecodable"] == 0


def test_a_crash_looping_fifo_record_is_parked_whole() -> None:
    parker = FakeParker()
    run = Run(parker=parker, source_dead_letter_queue_url=SOURCE_DLQ)

    result = run.forward(looping(0, fifo=True), record(1, fifo=True))

    assert reported(result) == []
    assert run.queue.sent == []  # a FIFO dead-letter queue would need a group and a deduplication id
    [document] = parker.messages
    assert document["record"] == looping(0, fifo=True)
    assert document["reason"].startswith("crash loop: received 6 times")
    assert result.counts()["parked_crash_loop"] == 1
    assert len(run.sender.sent_events) == 1


def test_without_a_source_dlq_a_crash_looping_record_is_parked_whole() -> None:
    parker = FakeParker()
    run = Run(parker=parker)

    result = run.forward(looping(0))

    assert reported(result) == []
    assert [document["source"]["messageId"] for document in parker.messages] == ["m0"]
    assert run.sender.sent_events == []


def test_with_nowhere_to_move_it_a_crash_looping_record_is_processed_as_usual() -> None:
    run = Run()

    result = run.forward(looping(0))

    assert reported(result) == []
    assert len(run.sender.sent_events) == 1


@pytest.mark.parametrize(
    "dead_letter",
    ["arn:aws:sqs:us-east-1:123456789012:kinesis-retry-dlq", None],
    ids=["another-dead-letter-queue", "none"],
)
def test_a_crash_looping_record_of_a_queue_whose_dead_letter_queue_is_not_the_source_dlq_is_parked(
    dead_letter: str | None,
) -> None:
    # The SQS function reads the Kinesis retry queue too: a redrive of the source DLQ would send its records to the
    # source queue, so only the queue whose RedrivePolicy names SOURCE_DEAD_LETTER_QUEUE_URL has them moved there.
    parker = FakeParker()
    queue = FakeSourceQueue(dead_letters={QUEUE_URL: dead_letter})
    run = Run(queue=queue, parker=parker, source_dead_letter_queue_url=SOURCE_DLQ)

    result = run.forward(looping(0), record(1))

    assert reported(result) == []
    assert run.queue.sent == []
    assert [document["source"]["messageId"] for document in parker.messages] == ["m0"]
    assert parker.messages[0]["reason"].startswith("crash loop: received 6 times")
    assert (result.redelivery.moved_crash_loop, result.counts()["parked_crash_loop"]) == (0, 1)
    assert queue.retention_reads == [QUEUE_URL]  # its dead-letter queue is read with its retention


def test_a_crash_looping_record_whose_queue_cannot_be_read_is_parked_not_moved() -> None:
    parker = FakeParker()
    run = Run(queue=FakeSourceQueue(retention=None), parker=parker, source_dead_letter_queue_url=SOURCE_DLQ)

    result = run.forward(looping(0))

    assert run.queue.sent == []
    assert [document["source"]["messageId"] for document in parker.messages] == ["m0"]
    assert result.redelivery.moved_crash_loop == 0


def test_a_crash_looping_record_of_another_queue_with_nowhere_to_park_it_is_processed_as_usual() -> None:
    queue = FakeSourceQueue(dead_letters={QUEUE_URL: "arn:aws:sqs:us-east-1:123456789012:kinesis-retry-dlq"})
    run = Run(queue=queue, source_dead_letter_queue_url=SOURCE_DLQ)

    result = run.forward(looping(0))

    assert reported(result) == []
    assert run.queue.sent == []
    assert len(run.sender.sent_events) == 1


def test_the_crash_rule_compares_with_the_forwarders_clock() -> None:
    # Six receives over a day: explained by the backoff, whatever this machine's clock says.
    run = Run(parker=FakeParker(), source_dead_letter_queue_url=SOURCE_DLQ)
    assert abs(time.time() * 1000 - NOW_MS) > DAY_MS

    run.forward(record(0, receives=6, first_receive_ago_ms=DAY_MS))

    assert run.queue.sent == []


@pytest.mark.parametrize("attributes", [{}, {"ApproximateReceiveCount": "9"}, {"ApproximateReceiveCount": "x"}])
def test_a_record_without_readable_receive_attributes_is_processed(attributes: dict[str, str]) -> None:
    run = Run(parker=FakeParker(), source_dead_letter_queue_url=SOURCE_DLQ)

    run.forward({**record(0), "attributes": attributes})

    assert run.queue.sent == []
    assert len(run.sender.sent_events) == 1


# --- received again near the end of the queue's retention: parked whole before a crash could hide it ----------------

FOURTEEN_DAYS_MS = 14 * DAY_MS


def returning(n: int, age_ms: int) -> dict[str, Any]:
    """Received for the third time, its first receive long ago: no crash loop the schedule can tell."""
    return record(n, receives=3, age_ms=age_ms, first_receive_ago_ms=age_ms - 7)


def test_a_record_received_again_near_its_retention_end_is_parked_whole_not_processed() -> None:
    # Closer to its end than a visibility timeout (2100 s), the longest run (900 s) and two longest delays (2 x 1230 s).
    edge_ms = FOURTEEN_DAYS_MS - (2100 + 900 + 2 * 1230) * 1000
    parker = FakeParker()
    run = Run(queue=FakeSourceQueue(visibility=2100), parker=parker)

    result = run.forward(returning(0, edge_ms), returning(1, edge_ms - 1000), record(2, age_ms=edge_ms))

    assert reported(result) == []
    [document] = parker.messages
    assert document["record"] == returning(0, edge_ms)
    assert document["reason"] == "received again (3 times) near the end of the source queue's retention"
    assert sorted(sent["properties"]["distinct_id"] for sent in run.sender.sent_events) == ["u1", "u2"]
    assert result.counts()["parked_retention"] == 1
    assert run.queue.retention_reads == [QUEUE_URL]


def test_without_a_dead_letter_queue_a_record_received_again_near_its_end_is_processed() -> None:
    run = Run(queue=FakeSourceQueue(visibility=2100))

    result = run.forward(returning(0, FOURTEEN_DAYS_MS - 60_000))

    assert reported(result) == []
    assert len(run.sender.sent_events) == 1
    assert run.queue.retention_reads == []


def test_the_queues_facts_are_read_once_per_container_for_records_received_again() -> None:
    run = Run(parker=FakeParker())

    run.forward(returning(0, DAY_MS))
    run.forward(returning(1, DAY_MS))

    assert run.queue.retention_reads == [QUEUE_URL]
    assert len(run.sender.sent_events) == 2


def test_the_sqs_sources_name_is_the_one_redelivery_serves() -> None:
    from mixpanel_forwarder.redelivery import SQS_SOURCE

    assert sqs.NAME == SQS_SOURCE
