"""The source queue's calls through a stand-in SQS client (moto's real answers are in tests/integration): batches of
ten, each entry's outcome by its Id, nothing raised."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mixpanel_forwarder.sqs_queue import KnownQueues, SqsSourceQueue
from mixpanel_forwarder.sqs_schedule import UNREAD, QueueFacts
from tests.conftest import FakeSourceQueue

URL = "https://sqs.us-east-1.amazonaws.com/123456789012/product-events"


class StubSqs:
    """Answers each batch call with every entry done, but those whose receipt handle or body says "refuse"."""

    def __init__(self, error: Exception | None = None, redrive_policy: str | None = None) -> None:
        self.error = error
        self.redrive_policy = redrive_policy
        self.calls: list[tuple[str, str, list[dict[str, Any]]]] = []
        self._lock = threading.Lock()

    def _answer(self, operation: str, queue_url: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
        with self._lock:
            self.calls.append((operation, queue_url, entries))
        if self.error is not None:
            raise self.error
        refused = [entry for entry in entries if "refuse" in str(entry.get("ReceiptHandle", entry.get("MessageBody")))]
        return {
            "Successful": [{"Id": entry["Id"]} for entry in entries if entry not in refused],
            "Failed": [{"Id": entry["Id"], "Code": "ReceiptHandleIsInvalid", "SenderFault": True} for entry in refused],
        }

    def change_message_visibility_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        return self._answer("change", QueueUrl, Entries)

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        return self._answer("send", QueueUrl, Entries)

    def get_queue_attributes(self, QueueUrl: str, AttributeNames: list[str]) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        self.calls.append(("attributes", QueueUrl, [dict.fromkeys(AttributeNames)]))
        attributes = {"MessageRetentionPeriod": "1209600", "VisibilityTimeout": "660"}
        if self.redrive_policy is not None:  # SQS leaves out the attribute of a queue without one
            attributes["RedrivePolicy"] = self.redrive_policy
        return {"Attributes": attributes}


def forever() -> float:
    return float("inf")


def test_visibility_changes_go_ten_at_a_time_and_each_entry_says_whether_it_was_done() -> None:
    sqs = StubSqs()
    entries = [(f"handle-{n}" if n != 13 else "refuse", 30 + n) for n in range(25)]

    done = SqsSourceQueue(sqs).change_visibility(URL, entries, forever)

    assert done == [n != 13 for n in range(25)]
    assert sorted(len(batch) for _, _, batch in sqs.calls) == [5, 10, 10]
    sent = {entry["ReceiptHandle"]: entry["VisibilityTimeout"] for _, _, batch in sqs.calls for entry in batch}
    assert sent == dict(entries)
    assert {url for _, url, _ in sqs.calls} == {URL}


def test_a_refused_call_is_nothing_done_and_nothing_raised() -> None:
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "ChangeMessageVisibilityBatch")

    assert SqsSourceQueue(StubSqs(denied)).change_visibility(URL, [("h", 30)], forever) == [False]
    assert SqsSourceQueue(StubSqs(denied)).send(URL, ["body"], forever) == [False]
    assert SqsSourceQueue(StubSqs(denied)).attributes(URL, forever) is None


def test_sending_keeps_each_body_whole() -> None:
    sqs = StubSqs()
    bodies = ["a" * 300_000, "refuse", "c"]

    assert SqsSourceQueue(sqs).send(URL, bodies, forever) == [True, False, True]
    assert sorted(entry["MessageBody"] for _, _, batch in sqs.calls for entry in batch) == sorted(bodies)


def test_no_time_left_does_nothing() -> None:
    sqs = StubSqs()

    assert SqsSourceQueue(sqs).change_visibility(URL, [("h", 30)], lambda: 0.0) == [False]
    assert sqs.calls == []


def test_the_queues_facts_are_kept_once_read_and_read_again_after_a_failure() -> None:
    queue = FakeSourceQueue(retention=None, dead_letters={})
    known = KnownQueues(queue)

    assert known.of(URL, forever) == UNREAD
    queue.retention = 3600
    assert known.of(URL, forever) == QueueFacts(3600, 660)
    queue.retention = 60
    assert known.of(URL, forever) == QueueFacts(3600, 660)
    assert queue.retention_reads == [URL, URL]
    assert SqsSourceQueue(StubSqs()).attributes(URL, forever) == QueueFacts(1_209_600, 660)


DLQ_ARN = "arn:aws:sqs:us-east-1:123456789012:product-events-dlq"


@pytest.mark.parametrize(
    ("policy", "dead_letter"),
    [
        (json.dumps({"deadLetterTargetArn": DLQ_ARN, "maxReceiveCount": 1000}), DLQ_ARN),
        (json.dumps({"deadLetterTargetArn": DLQ_ARN, "maxReceiveCount": "1000"}), DLQ_ARN),  # as SQS writes it
        (None, None),  # no dead-letter queue
        ("not json", None),
        (json.dumps({"maxReceiveCount": 5}), None),
        (json.dumps(["deadLetterTargetArn"]), None),
    ],
)
def test_the_queues_dead_letter_queue_is_read_with_its_retention_in_one_call(
    policy: str | None, dead_letter: str | None
) -> None:
    sqs = StubSqs(redrive_policy=policy)

    facts = SqsSourceQueue(sqs).attributes(URL, forever)

    assert facts == QueueFacts(1_209_600, 660, dead_letter)
    [(operation, url, [names])] = sqs.calls
    assert (operation, url, sorted(names)) == (
        "attributes",
        URL,
        ["MessageRetentionPeriod", "RedrivePolicy", "VisibilityTimeout"],
    )
