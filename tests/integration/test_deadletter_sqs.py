"""The dead-letter parker against a real SQS API (moto server on loopback)."""

from __future__ import annotations

import base64
import json
from typing import Any

import boto3

from mixpanel_forwarder.deadletter import SqsParker, parked_message


def receive_all(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []
    while True:
        answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = answer.get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def test_parker_stores_every_message_in_batches_of_ten(aws: str) -> None:
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="forwarder-dlq")["QueueUrl"]
    messages = [
        parked_message({"reason": "too old", "field": "properties.time"}, {"messageId": f"m{i}"}, "event", {"n": i})
        for i in range(23)
    ]

    stored = SqsParker(queue_url).park(messages)

    assert stored == [True] * 23
    bodies = receive_all(sqs, queue_url)
    assert sorted(body["event"]["n"] for body in bodies) == list(range(23))
    assert all(body["reason"] == "too old" and body["field"] == "properties.time" for body in bodies)


def test_parker_reports_failure_when_the_queue_does_not_exist(aws: str) -> None:
    missing = f"{aws}/123456789012/no-such-queue"
    stored = SqsParker(missing).park([parked_message({"reason": "x"}, {}, "event", {})])
    assert stored == [False]


def test_parked_binary_payload_is_kept_whole_as_base64(aws: str) -> None:
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="forwarder-dlq")["QueueUrl"]
    raw = bytes(range(256))

    assert SqsParker(queue_url).park([parked_message({"reason": "not JSON"}, {}, "event", raw)]) == [True]

    [body] = receive_all(sqs, queue_url)
    assert base64.b64decode(body["event"]["base64"]) == raw
