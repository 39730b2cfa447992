"""A Kinesis batch Lambda gave up on comes back by itself: written to an S3 bucket as Lambda writes it, notified by
moto's S3 to an SQS queue (moto sends S3's notifications, and its test event, to a queue in server mode), and forwarded
by the real SQS handler to the sink with the `$insert_id`s and times the real Kinesis handler gave its events."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from functions.kinesis_forwarder.app import lambda_handler as kinesis_handler
from functions.sqs_forwarder.app import lambda_handler as sqs_handler
from localdev.eventgen import (
    failed_batch_key,
    failed_batch_object,
    kinesis_event,
    kinesis_record,
    kpl_aggregate,
    lambda_context,
    sample_event,
    sqs_event,
    sqs_record,
)
from localdev.sink import MixpanelSink
from mixpanel_forwarder import runtime
from mixpanel_forwarder.parked import ParkedReader
from mixpanel_forwarder.replay import replay
from mixpanel_forwarder.settings import Settings
from tests.functional.conftest import FAST_RETRIES

BUCKET = "mixpanel-forwarder-1c2fa620-982a-11e3-aff7-50e2416294e0"
MAX_ATTEMPTS = 3


@pytest.fixture
def sink() -> Iterator[MixpanelSink]:
    with MixpanelSink() as running:
        yield running


def batch() -> tuple[list[dict[str, Any]], int]:
    """Kinesis records in each shape the Kinesis source reads, and how many events they hold. Several events have
    neither `$insert_id` nor `time`: those are derived from the record (sequence number, arrival), and are what a
    second delivery must derive alike."""
    bare = [sample_event(i, insert_id=False) for i in range(6, 9)]
    for event in bare[1:]:
        del event["properties"]["time"]
    records = [
        kinesis_record(json.dumps(sample_event(0)).encode(), index=0),
        kinesis_record(kpl_aggregate([json.dumps(sample_event(i)).encode() for i in (1, 2, 3)]), index=1),
        kinesis_record(json.dumps([sample_event(4, insert_id=False), sample_event(5)]).encode(), index=2),
        kinesis_record(kpl_aggregate([json.dumps(event).encode() for event in bare]), index=3),
        kinesis_record(json.dumps(bare[2]).encode(), index=4),
    ]
    return records, 10


def run_as(function: str, monkeypatch: pytest.MonkeyPatch, sink: MixpanelSink, **variables: str) -> None:
    """A new container of `function`: the sink, fast retries, two events a request sent one at a time (so which
    request meets a fault is fixed), and `variables`."""
    runtime.reset()
    environment = {**sink.env(), **FAST_RETRIES, "BATCH_MAX_EVENTS": "2", "MAX_CONCURRENT_REQUESTS": "1"}
    for name, value in {**environment, "MAX_ATTEMPTS": str(MAX_ATTEMPTS), **variables}.items():
        monkeypatch.setenv(name, value)
    if "DEAD_LETTER_QUEUE_URL" not in variables:
        monkeypatch.delenv("DEAD_LETTER_QUEUE_URL", raising=False)
    if function == "kinesis":
        monkeypatch.delenv("KINESIS_FAILED_BATCHES_BUCKET", raising=False)


def queue(name: str, **attributes: str) -> tuple[str, str]:
    sqs = boto3.client("sqs")
    url: str = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn: str = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def with_dead_letter_queue(name: str) -> tuple[str, str]:
    """A queue with its own dead-letter queue (`<name>-dlq`), as the template makes the source and retry queues."""
    _, dlq_arn = queue(f"{name}-dlq")
    return queue(name, RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1000"}))


def retry_queue() -> tuple[str, str]:
    """The bucket Lambda writes failed batches to, notifying a queue of every object created, as the template sets
    them up (the queue with its own dead-letter queue); the queue's URL and ARN."""
    url, arn = with_dead_letter_queue("kinesis-retry")
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET,
        NotificationConfiguration={"QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]},
    )
    return url, arn


def received(url: str) -> list[dict[str, Any]]:
    """The queue's messages as Lambda's SQS records (a new receipt each), removed from it."""
    sqs = boto3.client("sqs")
    records = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            records.append(message)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return records


def test_a_batch_lambda_gave_up_on_is_forwarded_with_the_insert_ids_the_kinesis_function_gave_it(
    aws: str, sink: MixpanelSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    records, events = batch()
    queue_url, queue_arn = retry_queue()
    context = lambda_context(remaining_ms=60_000)

    # The Kinesis function's first two requests are imported (answered slowly), then Mixpanel fails the third (the
    # third record's events) on every attempt: it reports from that record, and sends nothing for the records after
    # it (they come again with it). Lambda retries until the record age, then gives the batch up (not played here).
    run_as("kinesis", monkeypatch, sink)
    sink.drip_next(0.0001, count=2)
    sink.fail_next(503, count=MAX_ATTEMPTS)
    first = kinesis_handler(kinesis_event(records), context)
    reported = [failure["itemIdentifier"] for failure in first["batchItemFailures"]]
    assert min(reported, key=int) == records[2]["kinesis"]["sequenceNumber"]  # Lambda resumes from the lowest
    imported_first = len(sink.events)
    assert imported_first == 4  # the first record's event and the second's three

    # Lambda writes the batch whole to the bucket; S3 notifies the queue (after its test event, sent when the
    # notification was set up).
    boto3.client("s3").put_object(
        Bucket=BUCKET, Key=failed_batch_key(), Body=failed_batch_object(kinesis_event(records))
    )
    messages = received(queue_url)
    assert [json.loads(message["Body"]).get("Event") for message in messages] == ["s3:TestEvent", None]

    # The SQS function reads the queue: the test event is filtered, the batch forwarded.
    run_as("sqs", monkeypatch, sink, KINESIS_FAILED_BATCHES_BUCKET=BUCKET)
    bodies = [message["Body"] for message in messages]
    retry = sqs_handler(
        sqs_event([sqs_record(body, index=i, queue_arn=queue_arn) for i, body in enumerate(bodies)]), context
    )

    assert retry == {"batchItemFailures": []}
    summary = runtime.last_result()
    assert summary is not None
    assert (summary.records, summary.counts()["events"], summary.counts()["imported"]) == (2, events, events)
    assert len(sink.events) == events
    # What the Kinesis function imported before is the same events again: Mixpanel keeps them once.
    assert sink.duplicates == imported_first

    # Had Lambda delivered the batch to the Kinesis function once more, it would have sent the very same events.
    run_as("kinesis", monkeypatch, sink)
    assert kinesis_handler(kinesis_event(records), context) == {"batchItemFailures": []}
    assert len(sink.events) == events
    assert sink.duplicates == imported_first + events


def test_a_notification_the_function_keeps_crashing_on_is_parked_not_moved_and_a_replay_forwards_its_batch(
    aws: str, sink: MixpanelSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    records, events = batch()
    queue_url, queue_arn = retry_queue()
    source_url, _ = with_dead_letter_queue("product-events")
    parked_url, _ = queue("parked-events")
    boto3.client("s3").put_object(
        Bucket=BUCKET, Key=failed_batch_key(), Body=failed_batch_object(kinesis_event(records))
    )
    [notification] = [message for message in received(queue_url) if "Records" in json.loads(message["Body"])]
    # Received 9 times within a second of the first: a crash loop (the function never answered for it).
    record = sqs_record(notification["Body"], queue_arn=queue_arn, sent_timestamp_ms=int(time.time() * 1000))
    record["attributes"]["ApproximateReceiveCount"] = "9"
    run_as(
        "sqs",
        monkeypatch,
        sink,
        KINESIS_FAILED_BATCHES_BUCKET=BUCKET,
        SOURCE_DEAD_LETTER_QUEUE_URL=f"{source_url}-dlq",
        DEAD_LETTER_QUEUE_URL=parked_url,
    )

    assert sqs_handler(sqs_event([record]), lambda_context(remaining_ms=60_000)) == {"batchItemFailures": []}

    # Not moved to the source queue's dead-letter queue: a redrive from there would bring it to the source queue.
    assert received(f"{source_url}-dlq") == []
    assert sink.events == []
    [message] = received(parked_url)
    document = ParkedReader().read(message["Body"])
    assert document is not None
    assert document["record"] == record
    assert document["reason"].startswith("crash loop: received 9 times")

    # Replayed with the bucket set, the batch is forwarded with the $insert_ids the Kinesis function gives its events.
    boto3.client("sqs").send_message(QueueUrl=parked_url, MessageBody=message["Body"])
    report = replay(Settings.from_env(), parked_url)
    assert (report.documents, report.imported_events, report.kept_documents) == (1, events, 0)
    run_as("kinesis", monkeypatch, sink)
    assert kinesis_handler(kinesis_event(records), lambda_context(remaining_ms=60_000)) == {"batchItemFailures": []}
    assert (len(sink.events), sink.duplicates) == (events, events)
