"""The ride-through harness itself: moto on the scaled clock keeps SQS's and Kinesis's times on it (and SQS's own
semantics where moto departs from them), the function's real-time settings are scaled and none is forgotten, and
Lambda's on-failure destination writes what AWS documents. Each check compares with clock readings taken around the
call, never with how long something took."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest

from mixpanel_forwarder.settings import Settings
from tests.e2e.outage.clock import ScaledClock
from tests.e2e.outage.fleet import REAL_TIME_SETTINGS, scaled_environment, unclassified_time_settings
from tests.e2e.outage.moto_scaled import MotoScaled, scaled_moto
from tests.e2e.outage.on_failure import OnFailure
from tests.moto import AWS_TEST_ENV

SCALE = 10_000  # twelve hours in 4.3 s
STOP = threading.Event()  # never set: waits end when their time comes


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[MotoScaled, Any, Any, Any]]:
    for name, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(name, value)
    with scaled_moto(ScaledClock(SCALE)) as running:
        clients = [boto3.client(service, endpoint_url=running.url) for service in ("sqs", "kinesis", "s3")]
        yield running, *clients
        for client in clients:
            client.close()


def test_sqs_and_kinesis_times_follow_the_scaled_clock(moto: tuple[MotoScaled, Any, Any, Any]) -> None:
    running, sqs, kinesis, _ = moto
    clock = running.clock
    url = sqs.create_queue(QueueName="times", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    before = clock.now()
    sqs.send_message(QueueUrl=url, MessageBody="m")
    (message,) = sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["All"])["Messages"]
    after = clock.now()
    sent = int(message["Attributes"]["SentTimestamp"]) / 1000
    first = int(message["Attributes"]["ApproximateFirstReceiveTimestamp"]) / 1000
    assert before - 0.001 <= sent <= first <= after + 0.001  # moto's times are milliseconds, truncated
    changed = clock.now()
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=30)
    while not sqs.receive_message(QueueUrl=url).get("Messages"):
        STOP.wait(0.001)
    assert clock.now() >= changed + 30  # visible again only once 30 s of the scaled clock had passed

    kinesis.create_stream(StreamName="times", ShardCount=1)
    before = clock.now()
    kinesis.put_record(StreamName="times", Data=b"r", PartitionKey="k")
    after = clock.now()
    shard = kinesis.list_shards(StreamName="times")["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName="times", ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    (record,) = kinesis.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    assert before - 0.001 <= record["ApproximateArrivalTimestamp"].timestamp() <= after + 0.001


def test_sqs_deletes_what_outlives_retention_and_keeps_fifo_order(moto: tuple[MotoScaled, Any, Any, Any]) -> None:
    running, sqs, _, _ = moto
    clock = running.clock
    url = sqs.create_queue(QueueName="short", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    message_id = sqs.send_message(QueueUrl=url, MessageBody="m")["MessageId"]
    clock.wait_until(clock.now() + 61, STOP, poll_s=0.001)
    assert sqs.receive_message(QueueUrl=url).get("Messages") is None
    assert running.expired == [("short", message_id)]
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    assert counts == dict.fromkeys(names, "0")

    fifo = sqs.create_queue(QueueName="g.fifo", Attributes={"FifoQueue": "true", "VisibilityTimeout": "30"})
    for n in range(3):
        sqs.send_message(
            QueueUrl=fifo["QueueUrl"], MessageBody=str(n), MessageGroupId="g", MessageDeduplicationId=str(n)
        )
    received = sqs.receive_message(QueueUrl=fifo["QueueUrl"], MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in received] == ["0", "1", "2"]
    again: list[dict[str, Any]] = []
    while not again:  # none deleted: after the visibility timeout the group comes back whole, in order
        STOP.wait(0.001)
        again = sqs.receive_message(QueueUrl=fifo["QueueUrl"], MaxNumberOfMessages=10).get("Messages", [])
    assert [m["Body"] for m in again] == ["0", "1", "2"]


def test_the_twelve_hours_of_visibility_count_from_the_receive(moto: tuple[MotoScaled, Any, Any, Any]) -> None:
    running, sqs, _, _ = moto
    clock = running.clock
    url = sqs.create_queue(QueueName="old", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="m")
    clock.wait_until(clock.now() + 13 * 3600, STOP, poll_s=0.001)
    (message,) = sqs.receive_message(QueueUrl=url)["Messages"]
    handle = message["ReceiptHandle"]
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=1230)  # moto: refused
    entry = {"Id": "0", "ReceiptHandle": handle, "VisibilityTimeout": 43_200}
    (failed,) = sqs.change_message_visibility_batch(QueueUrl=url, Entries=[entry])["Failed"]
    assert failed["Code"] == "InvalidParameterValue"  # past 12 h from the receive: SQS refuses it too


def test_every_duration_the_function_reads_is_scaled_or_said_to_run_on_a_sources_clock() -> None:
    assert unclassified_time_settings() == []
    environment = {"MIXPANEL_API_URL": "http://127.0.0.1:9", "MIXPANEL_PROJECT_ID": "1"}
    environment |= {"MIXPANEL_SERVICE_ACCOUNT_USERNAME": "u", "MIXPANEL_SERVICE_ACCOUNT_SECRET": "s"}
    defaults = Settings.from_env(environment)
    scaled = Settings.from_env(scaled_environment(environment, 100))
    for field in REAL_TIME_SETTINGS.values():
        if hasattr(defaults, field):
            assert getattr(scaled, field) == pytest.approx(getattr(defaults, field) / 100, rel=0.01, abs=1), field


def test_an_s3_on_failure_destination_gets_the_invocation_record_and_notifies(
    moto: tuple[MotoScaled, Any, Any, Any],
) -> None:
    running, sqs, _, s3 = moto
    queue = sqs.create_queue(QueueName="notified")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.create_bucket(Bucket="failed")
    configuration = {"QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]}
    s3.put_bucket_notification_configuration(Bucket="failed", NotificationConfiguration=configuration)
    sqs.purge_queue(QueueUrl=queue)  # S3's s3:TestEvent
    records = [
        {"kinesis": {"sequenceNumber": str(n), "data": "eA==", "approximateArrivalTimestamp": 1.7e9 + n}}
        for n in range(2)
    ]
    on_failure = OnFailure(sqs, s3, "arn:aws:s3:::failed", "fn", running.clock)
    on_failure.hand_on("shardId-000000000000", "arn:aws:kinesis:us-east-1:1:stream/s", records, "Exhausted", 3)
    (key,) = [item["Key"] for item in s3.list_objects_v2(Bucket="failed")["Contents"]]
    pattern = (
        r"aws/lambda/[0-9a-f-]{36}/shardId-000000000000/\d{4}/\d\d/\d\d/\d{4}-\d\d-\d\dT\d\d\.\d\d\.\d\d-[0-9a-f-]{36}"
    )
    assert re.fullmatch(pattern, key)
    document = json.loads(s3.get_object(Bucket="failed", Key=key)["Body"].read())
    assert json.loads(document["payload"]) == {"Records": records}
    assert document["KinesisBatchInfo"]["batchSize"] == 2
    assert document["requestContext"]["condition"] == "Exhausted"
    (message,) = sqs.receive_message(QueueUrl=queue)["Messages"]
    assert unquote_plus(json.loads(message["Body"])["Records"][0]["s3"]["object"]["key"]) == key  # S3 URL-encodes it
