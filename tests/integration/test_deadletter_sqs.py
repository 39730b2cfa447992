"""The dead-letter parker against real SQS and S3 APIs (moto server on loopback)."""

from __future__ import annotations

import base64
import json
from typing import Any

import boto3

from mixpanel_forwarder.deadletter import SqsParker
from mixpanel_forwarder.parked import Parked, ParkedReader


def receive_all(sqs: Any, queue_url: str) -> list[str]:
    bodies: list[str] = []
    while True:
        answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = answer.get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def read_back(bodies: list[str], reader: ParkedReader | None = None) -> list[dict[str, Any]]:
    reader = reader or ParkedReader()
    documents = [document for body in bodies if (document := reader.read(body)) is not None]
    assert reader.incomplete == []
    return documents


def parked(n: int, payload: Any = None) -> Parked:
    return Parked(
        {"reason": "too old", "field": "properties.time"}, {"messageId": f"m{n}"}, "event", payload or {"n": n}
    )


def test_parker_stores_every_message_in_batches_of_ten(aws: str) -> None:
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="forwarder-dlq")["QueueUrl"]

    stored = SqsParker(queue_url).park([parked(i) for i in range(23)])

    assert stored == [True] * 23
    documents = read_back(receive_all(sqs, queue_url))
    assert sorted(document["event"]["n"] for document in documents) == list(range(23))
    assert all(document["reason"] == "too old" and document["field"] == "properties.time" for document in documents)


def test_parker_reports_failure_when_the_queue_does_not_exist(aws: str) -> None:
    missing = f"{aws}/123456789012/no-such-queue"
    assert SqsParker(missing, max_message_bytes=262_144).park([parked(1)]) == [False]


def test_parked_binary_payload_is_kept_whole_as_base64(aws: str) -> None:
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="forwarder-dlq")["QueueUrl"]
    raw = bytes(range(256))

    assert SqsParker(queue_url).park([parked(1, raw)]) == [True]

    [document] = read_back(receive_all(sqs, queue_url))
    assert base64.b64decode(document["event"]["base64"]) == raw


def test_oversized_document_is_split_into_parts_that_read_back_whole(aws: str) -> None:
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="forwarder-dlq", Attributes={"MaximumMessageSize": "16384"})["QueueUrl"]
    big = {"blob": "x" * 70_000, "n": 7}

    assert SqsParker(queue_url).park([parked(7, big), parked(8)]) == [True, True]  # limit read from the queue

    bodies = receive_all(sqs, queue_url)
    assert len(bodies) > 5
    assert all(len(body.encode()) <= 16384 for body in bodies)
    assert all(json.loads(body)["reason"] == "too old" for body in bodies)  # every part says why
    documents = sorted(read_back(bodies), key=lambda document: document["source"]["messageId"])
    assert documents[0]["event"] == big
    assert documents[1]["event"] == {"n": 8}


def test_oversized_document_goes_to_s3_when_a_bucket_is_configured(aws: str) -> None:
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="forwarder-dlq", Attributes={"MaximumMessageSize": "262144"})["QueueUrl"]
    boto3.client("s3").create_bucket(Bucket="parked-events")
    big = {"blob": "y" * 400_000}

    assert SqsParker(queue_url, bucket="parked-events").park([parked(1, big)]) == [True]

    [body] = receive_all(sqs, queue_url)
    assert json.loads(body)["s3"]["bucket"] == "parked-events"
    assert read_back([body])[0]["event"] == big


def test_document_with_characters_sqs_refuses_is_stored_as_base64_parts(aws: str) -> None:
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="forwarder-dlq")["QueueUrl"]
    odd = {"text": "ok \ufffe not ok"}

    assert SqsParker(queue_url).park([parked(1, odd)]) == [True]

    assert read_back(receive_all(sqs, queue_url))[0]["event"] == odd


def test_s3_refusal_reports_only_that_item_unstored(aws: str) -> None:
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="forwarder-dlq", Attributes={"MaximumMessageSize": "262144"})["QueueUrl"]

    stored = SqsParker(queue_url, bucket="no-such-bucket").park([parked(1, {"blob": "z" * 300_000}), parked(2)])

    assert stored == [False, True]
