"""Kinesis batches Lambda gave up on, read again by the SQS source from S3's notification of the object Lambda wrote
(sources/kinesis_failures.py), with a fake store at the `objects.Store` seam."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from localdev.eventgen import (
    failed_batch_key,
    failed_batch_object,
    kinesis_event,
    kinesis_record,
    kpl_aggregate,
    s3_notification,
    s3_test_event,
    sample_event,
    sqs_event,
    sqs_record,
)
from mixpanel_forwarder import objects
from mixpanel_forwarder.errors import DecodeError, SourceUnavailable
from mixpanel_forwarder.forwarder import Forwarder, Result
from mixpanel_forwarder.model import Item, SourceRecord
from mixpanel_forwarder.objects import S3Store, TimeLeft
from mixpanel_forwarder.sources import kinesis, sqs
from mixpanel_forwarder.transport import Response
from tests.conftest import FakeParker, FakeSender, FakeSourceQueue, make_settings, timeout_error

BUCKET = "mixpanel-forwarder-1c2fa620-982a-11e3-aff7-50e2416294e0"
SOURCE_QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:product-events"
NOW = 1_764_000_100.0


class FakeStore:
    """A bucket in memory; a key it lacks is unreadable, as S3 answers a missing object to a role without
    s3:ListBucket. Counts the reads."""

    def __init__(self, objects: dict[str, bytes] | None = None, bucket: str = BUCKET) -> None:
        self.bucket = bucket
        self.objects = dict(objects or {})
        self.reads: list[str] = []

    def read(self, key: str, time_left: TimeLeft) -> bytes:
        self.reads.append(key)
        if key not in self.objects:
            raise SourceUnavailable(f"cannot read s3://{self.bucket}/{key} (AccessDenied)")
        return self.objects[key]


def kinesis_records() -> list[dict[str, Any]]:
    """A batch with each shape the Kinesis source reads: a lone event, a KPL aggregate, gzip, an array, an event
    without its own time or $insert_id (keyed and timed by the record), and one a different shard."""
    bare = {"event": "No time", "properties": {"distinct_id": "u9"}}
    return [
        kinesis_record(json.dumps(sample_event(0)).encode(), index=0),
        kinesis_record(kpl_aggregate([json.dumps(sample_event(i)).encode() for i in (1, 2, 3)]), index=1),
        kinesis_record(gzip.compress(json.dumps([sample_event(4), sample_event(5)]).encode()), index=2),
        kinesis_record(json.dumps(bare).encode(), index=3),
        kinesis_record(json.dumps(sample_event(6)).encode(), index=4, shard_id="shardId-000000000007"),
    ]


def as_kinesis_decodes(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What the Kinesis source makes of the same records, item by item."""
    _, decoded = kinesis.source_records(kinesis_event(records))
    return [fields(item) for record in decoded for item in kinesis.decode(record)]


def fields(item: Item) -> tuple[Any, ...]:
    return item.key, item.payload, item.default_time_ms, item.error


def notification_record(body: str, index: int = 0) -> SourceRecord:
    _, [record] = sqs.source_records(sqs_event([sqs_record(body, index=index)]))
    return record


@pytest.fixture
def store() -> Iterator[FakeStore]:
    store = FakeStore({failed_batch_key(): failed_batch_object(kinesis_event(kinesis_records()))})
    with objects.bound(store, lambda: 30.0):
        yield store


# --- the notification and what it names -----------------------------------------------------------------------


def test_a_notification_of_the_bucket_is_the_batch_decoded_as_the_kinesis_source_decodes_it(store: FakeStore) -> None:
    items = sqs.decode(notification_record(s3_notification(BUCKET, failed_batch_key())))

    assert [fields(item) for item in items] == as_kinesis_decodes(kinesis_records())
    assert [item.key for item in items][:2] == [
        f"kin:shardId-000000000000:{kinesis_records()[0]['kinesis']['sequenceNumber']}:0",
        f"kin:shardId-000000000000:{kinesis_records()[1]['kinesis']['sequenceNumber']}:0:0",
    ]
    assert store.reads == [failed_batch_key()]


@pytest.mark.parametrize("payload_as_string", [True, False], ids=["payload-a-json-string", "payload-an-object"])
def test_the_payload_is_read_as_a_json_string_as_aws_writes_it_or_as_an_object(payload_as_string: bool) -> None:
    key = failed_batch_key()
    store = FakeStore({key: failed_batch_object(kinesis_event(kinesis_records()), payload_as_string=payload_as_string)})

    with objects.bound(store, lambda: 30.0):
        items = sqs.decode(notification_record(s3_notification(BUCKET, key)))

    assert [fields(item) for item in items] == as_kinesis_decodes(kinesis_records())


@pytest.mark.parametrize(
    ("key", "written"),
    [
        ("aws/lambda/a b/c=d+e.json", "aws/lambda/a+b/c%3Dd%2Be.json"),  # S3's URL-encoding: a space as "+"
        ("aws/lambda/x/y", "aws%2Flambda%2Fx%2Fy"),  # every "/" encoded, as moto writes it
    ],
)
def test_the_object_key_is_url_decoded_before_it_is_read(key: str, written: str) -> None:
    store = FakeStore({key: failed_batch_object(kinesis_event(kinesis_records()[:1]))})
    body = json.loads(s3_notification(BUCKET, "placeholder"))
    body["Records"][0]["s3"]["object"]["key"] = written

    with objects.bound(store, lambda: 30.0):
        items = sqs.decode(notification_record(json.dumps(body)))

    assert store.reads == [key]
    assert [fields(item) for item in items] == as_kinesis_decodes(kinesis_records()[:1])


def test_s3s_test_event_for_the_bucket_is_filtered_not_a_failure(store: FakeStore) -> None:
    assert sqs.decode(notification_record(s3_test_event(BUCKET))) == []
    assert store.reads == []


def test_an_event_other_than_object_created_names_no_batch(store: FakeStore) -> None:
    body = s3_notification(BUCKET, failed_batch_key(), event_name="ObjectRemoved:Delete")

    assert sqs.decode(notification_record(body)) == []
    assert store.reads == []


@pytest.mark.parametrize(
    "body",
    [
        s3_notification("someone-elses-bucket", failed_batch_key()),
        s3_test_event("someone-elses-bucket"),
        json.dumps({"Records": [{"eventSource": "aws:kinesis", "kinesis": {}}]}),
    ],
    ids=["another-buckets-notification", "another-buckets-test-event", "records-not-from-s3"],
)
def test_a_body_that_is_not_the_buckets_notification_is_decoded_as_any_other(store: FakeStore, body: str) -> None:
    [item] = sqs.decode(notification_record(body))

    assert item.payload == json.loads(body)
    assert item.key == f"sqs:{notification_record(body).identifier}:0"
    assert store.reads == []


def test_without_a_bucket_bound_a_notification_is_decoded_as_any_other_body() -> None:
    body = s3_notification(BUCKET, failed_batch_key())

    [item] = sqs.decode(notification_record(body))

    assert item.payload == json.loads(body)


def test_an_object_that_cannot_be_read_now_is_unavailable_not_undecodable(store: FakeStore) -> None:
    body = s3_notification(BUCKET, "aws/lambda/gone")

    with pytest.raises(SourceUnavailable, match="AccessDenied"):
        sqs.decode(notification_record(body))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\x00\x01 not json", "not JSON"),
        (json.dumps({"requestContext": {}}).encode(), "no payload with a Records list"),
        (json.dumps({"payload": "{not json"}).encode(), "its payload is not JSON"),
        (json.dumps({"payload": json.dumps({"Records": "many"})}).encode(), "no payload with a Records list"),
        (json.dumps([1, 2]).encode(), "no payload with a Records list"),
    ],
)
def test_an_object_that_is_not_an_invocation_record_is_undecodable_with_the_reason(content: bytes, reason: str) -> None:
    key = "aws/lambda/not-a-record"
    with objects.bound(FakeStore({key: content}), lambda: 30.0), pytest.raises(DecodeError) as raised:
        sqs.decode(notification_record(s3_notification(BUCKET, key)))

    assert str(raised.value).startswith(f"s3://{BUCKET}/{key} is not a Lambda invocation record")
    assert reason in str(raised.value)


def test_a_notification_without_an_object_key_is_undecodable(store: FakeStore) -> None:
    body = json.loads(s3_notification(BUCKET, failed_batch_key()))
    del body["Records"][0]["s3"]["object"]["key"]

    with pytest.raises(DecodeError, match="names no object key"):
        sqs.decode(notification_record(json.dumps(body)))


def test_a_kinesis_record_that_cannot_be_decoded_is_one_refused_item_and_the_others_go_on() -> None:
    good = kinesis_record(json.dumps(sample_event(1)).encode(), index=1)
    bad = kinesis_record(b"\xff not json at all", index=2)
    bad_as_kinesis = kinesis.KinesisRecord(bad)
    key = failed_batch_key()
    store = FakeStore({key: failed_batch_object(kinesis_event([good, {"not": "kinesis"}, bad]))})

    with objects.bound(store, lambda: 30.0):
        first, stranger, refused = sqs.decode(notification_record(s3_notification(BUCKET, key)))

    assert fields(first) == as_kinesis_decodes([good])[0]
    with pytest.raises(DecodeError) as as_kinesis_refuses:
        kinesis.decode(bad_as_kinesis)
    assert refused.payload == bad  # the whole Kinesis record, its coordinates and data
    assert refused.key == f"{kinesis.record_key(bad_as_kinesis)}:0"
    assert refused.error == f"Kinesis record {kinesis.record_key(bad_as_kinesis)}: {as_kinesis_refuses.value}"
    assert stranger.payload == {"not": "kinesis"}
    assert stranger.error == "the failed batch holds a record that is not a Kinesis record"
    assert stranger.key == f"s3://{BUCKET}/{key}:1:0"


def test_read_again_exactly_the_record_gives_the_same_items_and_reads_the_object_once(store: FakeStore) -> None:
    record = notification_record(s3_notification(BUCKET, failed_batch_key()))

    first = sqs.decode(record)
    again = record.exact_items()

    assert [fields(item) for item in again] == [fields(item) for item in first]
    assert store.reads == [failed_batch_key()]


def test_the_store_is_read_within_the_time_the_invocation_has_left() -> None:
    times: list[float] = []

    class Timed(FakeStore):
        def read(self, key: str, time_left: TimeLeft) -> bytes:
            times.append(time_left())
            return super().read(key, time_left)

    store = Timed({failed_batch_key(): failed_batch_object(kinesis_event(kinesis_records()))})
    with objects.bound(store, lambda: 12.5):
        sqs.decode(notification_record(s3_notification(BUCKET, failed_batch_key())))

    assert times == [12.5]
    assert objects.current() is None  # the binding ends with its block


# --- through the forwarder: what the ledger makes of it ----------------------------------------------------------


# The queue S3 notifies (the template's KinesisRetryQueue), which the SQS function reads beside its source queue.
RETRY_QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:kinesis-retry"
RETRY_QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/kinesis-retry"


def container(
    store: FakeStore, sender: FakeSender, parker: FakeParker, queue: FakeSourceQueue | None = None, **settings: Any
) -> Forwarder:
    return Forwarder(
        make_settings(**settings),
        sender=sender,
        parker=parker,
        clock=lambda: NOW,
        objects=store,
        source_queue=queue or FakeSourceQueue(),
    )


def notifications(*bodies: str, **attributes: str) -> dict[str, Any]:
    """The retry queue's records of these bodies, with `attributes` over their own."""
    records = [sqs_record(body, index=i, queue_arn=RETRY_QUEUE_ARN) for i, body in enumerate(bodies)]
    for record in records:
        record["attributes"].update(attributes)
    return sqs_event(records)


def forward_notifications(
    store: FakeStore, *bodies: str, sender: FakeSender, parker: FakeParker, queue: FakeSourceQueue | None = None
) -> Result:
    return container(store, sender, parker, queue).forward(sqs, notifications(*bodies), None)


def test_the_retry_sends_every_event_as_the_kinesis_function_sent_it() -> None:
    records = kinesis_records()
    first_attempt = FakeSender(timeout_error(), timeout_error(), timeout_error(), timeout_error(), timeout_error())
    kinesis_result = Forwarder(make_settings(max_attempts=5), sender=first_attempt, clock=lambda: NOW).forward(
        kinesis, kinesis_event(records), None
    )
    assert kinesis_result.ledger.counts()["retry"] == 8  # every event reported: Lambda gives up on the batch
    store = FakeStore({failed_batch_key(): failed_batch_object(kinesis_event(records))})
    retry = FakeSender()

    result = forward_notifications(
        store, s3_notification(BUCKET, failed_batch_key()), s3_test_event(BUCKET), sender=retry, parker=FakeParker()
    )

    assert result.response == {"batchItemFailures": []}
    assert result.ledger.counts()["imported"] == 8
    assert retry.sent_events == first_attempt.requests[0]  # the same $insert_id and time for every event


def test_an_object_that_cannot_be_read_reports_its_message_and_parks_nothing() -> None:
    parker = FakeParker()
    queue = FakeSourceQueue()

    result = forward_notifications(
        FakeStore(), s3_notification(BUCKET, "aws/lambda/missing"), sender=FakeSender(), parker=parker, queue=queue
    )

    assert result.response == {"batchItemFailures": [{"itemIdentifier": result_message_id(0)}]}
    assert parker.messages == []
    assert result.ledger.reasons() == {
        f"record: cannot read s3://{BUCKET}/aws/lambda/missing (AccessDenied)": 1,
    }
    # Reported, it comes back later each time, as a source queue's record does: hidden on the retry queue.
    [(url, handle, seconds)] = queue.hidden
    assert (url, handle) == (RETRY_QUEUE_URL, notifications("")["Records"][0]["receiptHandle"])
    assert 30 <= seconds <= 33


def test_a_notification_reported_while_mixpanel_is_down_is_hidden_longer_at_each_return() -> None:
    store = FakeStore({failed_batch_key(): failed_batch_object(kinesis_event(kinesis_records()))})
    queue = FakeSourceQueue()
    forwarder = container(store, FakeSender(*[Response(503, b"down")] * 100), FakeParker(), queue, max_attempts=1)
    body = s3_notification(BUCKET, failed_batch_key())

    for receives in ("1", "2", "3"):
        result = forwarder.forward(sqs, notifications(body, ApproximateReceiveCount=receives), None)
        assert result.response == {"batchItemFailures": [{"itemIdentifier": result_message_id(0)}]}

    # d(n) = 30 s doubling, plus a jitter of up to a tenth of it (sqs_schedule.py)
    assert [url for url, _, _ in queue.hidden] == [RETRY_QUEUE_URL] * 3
    hidden = [seconds for _, _, seconds in queue.hidden]
    assert [least <= seconds <= least * 1.1 for least, seconds in zip((30, 60, 120), hidden, strict=True)] == [True] * 3


def test_a_crash_looping_notification_is_parked_whole_never_moved_to_the_source_queues_dead_letter_queue() -> None:
    # The function moves a crash loop to SOURCE_DEAD_LETTER_QUEUE_URL only for the queue whose dead-letter queue that
    # is: a redrive from there goes to the source queue, not to the retry queue this notification came from.
    source_queue = "https://sqs.us-east-1.amazonaws.com/123456789012/product-events"
    queue = FakeSourceQueue(
        dead_letters={
            source_queue: "arn:aws:sqs:us-east-1:123456789012:product-events-dlq",
            RETRY_QUEUE_URL: "arn:aws:sqs:us-east-1:123456789012:kinesis-retry-dlq",
        }
    )
    store = FakeStore({failed_batch_key(): failed_batch_object(kinesis_event(kinesis_records()))})
    parker = FakeParker()
    forwarder = container(store, FakeSender(), parker, queue, source_dead_letter_queue_url=source_queue + "-dlq")
    looping = notifications(s3_notification(BUCKET, failed_batch_key()), ApproximateReceiveCount="9")

    result = forwarder.forward(sqs, looping, None)

    assert result.response == {"batchItemFailures": []}
    assert queue.sent == []
    [document] = parker.messages
    assert document["record"] == looping["Records"][0]
    assert document["reason"].startswith("crash loop: received 9 times")
    assert store.reads == []  # not processed
    assert (result.redelivery.moved_crash_loop, result.counts()["parked_crash_loop"]) == (0, 1)
    # The same container moves a crash-looping record of its source queue, as before.
    source = sqs_event([sqs_record("{}", index=1, queue_arn=SOURCE_QUEUE_ARN)])
    source["Records"][0]["attributes"]["ApproximateReceiveCount"] = "9"
    assert forwarder.forward(sqs, source, None).redelivery.moved_crash_loop == 1
    assert [url for url, _ in queue.sent] == [source_queue + "-dlq"]


def test_a_moved_envelope_holding_a_notification_decodes_to_the_batch_it_names(store: FakeStore) -> None:
    first = notifications(s3_notification(BUCKET, failed_batch_key()))["Records"][0]
    envelope = sqs.moved_body(first, 9, "crash loop")
    assert envelope is not None

    redriven = sqs.decode(notification_record(envelope, index=3))

    assert [fields(item) for item in redriven] == as_kinesis_decodes(kinesis_records())
    assert store.reads == [failed_batch_key()]


def test_an_object_that_is_not_an_invocation_record_parks_its_message_whole_with_the_reason() -> None:
    parker = FakeParker()
    body = s3_notification(BUCKET, "aws/lambda/odd")

    result = forward_notifications(FakeStore({"aws/lambda/odd": b"{}"}), body, sender=FakeSender(), parker=parker)

    assert result.response == {"batchItemFailures": []}
    [document] = parker.messages
    assert (
        document["reason"]
        == f"s3://{BUCKET}/aws/lambda/odd is not a Lambda invocation record: no payload with a Records list"
    )
    assert document["record"]["body"] == body
    assert document["source"]["messageId"] == result_message_id(0)


def test_a_refused_kinesis_record_is_parked_with_its_coordinates() -> None:
    bad = kinesis_record(b"\xff not json at all", index=5)
    store = FakeStore({failed_batch_key(): failed_batch_object(kinesis_event([bad]))})
    parker = FakeParker()

    result = forward_notifications(
        store, s3_notification(BUCKET, failed_batch_key()), sender=FakeSender(), parker=parker
    )

    assert result.response == {"batchItemFailures": []}
    [document] = parker.messages
    assert document["event"] == bad
    assert document["source"]["item"] == f"kin:shardId-000000000000:{bad['kinesis']['sequenceNumber']}:0"


def result_message_id(index: int) -> str:
    return str(sqs_record("", index=index)["messageId"])


# --- the S3 store: botocore's errors translated, the read bounded -------------------------------------------------


class FakeS3:
    """The one call S3Store makes, answering from a script."""

    def __init__(self, answer: bytes | Exception) -> None:
        self.answer = answer
        self.calls: list[dict[str, str]] = []

    def get_object(self, **call: str) -> dict[str, Any]:
        self.calls.append(call)
        if isinstance(self.answer, Exception):
            raise self.answer
        return {"Body": io.BytesIO(self.answer)}


def test_the_s3_store_reads_the_object_of_its_bucket() -> None:
    s3 = FakeS3(b"batch")

    assert S3Store(BUCKET, client=s3).read("aws/lambda/k", lambda: 5.0) == b"batch"
    assert s3.calls == [{"Bucket": BUCKET, "Key": "aws/lambda/k"}]


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (ClientError({"Error": {"Code": "NoSuchKey", "Message": "gone"}}, "GetObject"), "NoSuchKey"),
        (ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetObject"), "AccessDenied"),
        (ReadTimeoutError(endpoint_url="https://s3.amazonaws.com"), "ReadTimeoutError: Read timeout"),
    ],
    ids=["missing", "denied", "timeout"],
)
def test_the_s3_store_says_why_an_object_cannot_be_read_now(answer: Exception, why: str) -> None:
    with pytest.raises(SourceUnavailable) as raised:
        S3Store(BUCKET, client=FakeS3(answer)).read("aws/lambda/k", lambda: 5.0)

    assert str(raised.value).startswith(f"cannot read s3://{BUCKET}/aws/lambda/k ({why}")


def test_the_s3_store_does_not_call_without_time_left() -> None:
    s3 = FakeS3(b"batch")

    with pytest.raises(SourceUnavailable, match="no time left"):
        S3Store(BUCKET, client=s3).read("aws/lambda/k", lambda: 0.0)
    assert s3.calls == []
