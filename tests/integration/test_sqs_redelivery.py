"""The SQS function riding through failures against real SQS APIs (moto's server) and the embedded sink: a reported
message stays hidden for its delay and comes back after it; a message it crashed on is moved to the source
dead-letter queue and, redriven, imports nothing twice; a message its queue would delete is parked whole and a replay
imports it.

Records are made from real receives (receipt handles, receive counts and timestamps as SQS gives them), the way
Lambda's poller makes them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from functions.sqs_forwarder.app import lambda_handler as sqs_handler
from localdev.eventgen import REGION, lambda_context
from localdev.sink import MixpanelSink
from mixpanel_forwarder import runtime
from mixpanel_forwarder.parked import ParkedReader
from mixpanel_forwarder.replay import replay
from mixpanel_forwarder.settings import Settings
from mixpanel_forwarder.sources import sqs as sqs_source
from tests.functional.conftest import FAST_RETRIES

# No $insert_id and no time of their own: both derive from the message (its id, its send time), as most do.
EVENTS = [{"event": "Signup", "properties": {"distinct_id": f"u{n}", "plan": "pro"}} for n in range(3)]
UNAVAILABLE = 503
WAIT_S = 30  # the most a condition is waited for; nothing here takes close to it


@pytest.fixture
def sink() -> Iterator[MixpanelSink]:
    with MixpanelSink() as running:
        yield running


@pytest.fixture
def forwarder(sink: MixpanelSink, aws: str, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Points the handler at the sink and moto; call it again with more settings (a new container each time)."""

    def apply(**settings: str) -> None:
        for name, value in {**sink.env(), **FAST_RETRIES, "MAX_ATTEMPTS": "1", **settings}.items():
            monkeypatch.setenv(name, value)
        runtime.reset()

    apply()
    return apply


def queue(name: str, **attributes: str) -> tuple[str, str]:
    sqs = boto3.client("sqs")
    url: str = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn: str = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def receive(url: str, arn: str, visibility: int | None = None) -> list[dict[str, Any]]:
    """What the queue hands out now, as Lambda's poller makes it into records."""
    extra = {} if visibility is None else {"VisibilityTimeout": visibility}
    answer = boto3.client("sqs").receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"], WaitTimeSeconds=0, **extra
    )
    return [
        {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message["Attributes"],
            "messageAttributes": {},
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": arn,
            "awsRegion": REGION,
        }
        for message in answer.get("Messages", [])
    ]


def invoke(records: list[dict[str, Any]]) -> list[str]:
    """The handler on these records: the ids it reports."""
    response = sqs_handler({"Records": records}, lambda_context(remaining_ms=30_000))
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def wait_for(condition: Callable[[], Any], seconds: float = WAIT_S) -> Any:
    """The condition's first true value, polled until `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        assert time.monotonic() < deadline, f"not within {seconds} s"
        time.sleep(0.05)
    return value


def send(url: str, *bodies: str) -> None:
    for body in bodies:
        boto3.client("sqs").send_message(QueueUrl=url, MessageBody=body)


def test_a_reported_message_stays_hidden_for_its_delay_and_comes_back_after_it(
    sink: MixpanelSink, forwarder: Callable[..., None]
) -> None:
    # Without the function's delay it would stay hidden ten minutes, the queue's own timeout.
    url, arn = queue("product-events", VisibilityTimeout="600")
    forwarder(SQS_RETRY_BASE_SECONDS="2", SQS_RETRY_MAX_SECONDS="2")
    send(url, json.dumps(EVENTS[0]))
    sink.fail_next(UNAVAILABLE)
    [record] = receive(url, arn)
    started = time.monotonic()

    assert invoke([record]) == [record["messageId"]]

    assert receive(url, arn) == []  # hidden: neither at once (0) nor after the queue's 600 s
    [again] = wait_for(lambda: receive(url, arn))
    assert time.monotonic() - started >= 2  # d(1): 2 s, and a tenth of it as jitter at most (0 in whole seconds)
    assert (again["messageId"], again["attributes"]["ApproximateReceiveCount"]) == (record["messageId"], "2")
    assert invoke([again]) == []  # Mixpanel is back: imported
    assert [event["properties"]["distinct_id"] for event in sink.events] == ["u0"]


def test_each_return_is_hidden_longer(sink: MixpanelSink, forwarder: Callable[..., None]) -> None:
    url, arn = queue("product-events", VisibilityTimeout="600")
    forwarder(SQS_RETRY_BASE_SECONDS="1", SQS_RETRY_MAX_SECONDS="4")
    send(url, json.dumps(EVENTS[0]))
    hidden_for = []
    records = receive(url, arn)
    for _ in range(3):  # d(1), d(2), d(3): 1, 2 and 4 s
        sink.fail_next(UNAVAILABLE)
        started = time.monotonic()
        assert len(invoke(records)) == 1
        records = wait_for(lambda: receive(url, arn))
        hidden_for.append(time.monotonic() - started)

    assert [round(seconds) >= least for seconds, least in zip(hidden_for, (1, 2, 4), strict=True)] == [True] * 3
    assert hidden_for[0] < hidden_for[1] < hidden_for[2]
    assert records[0]["attributes"]["ApproximateReceiveCount"] == "4"


def crash_loop(url: str, arn: str, times: int) -> list[dict[str, Any]]:
    """The queue's messages received `times` times in a row without an answer (the function crashing on them, each
    back at once here), the last as the records of the invocation that follows."""
    for _ in range(times - 1):
        assert wait_for(lambda: receive(url, arn, visibility=0))
    records: list[dict[str, Any]] = wait_for(lambda: receive(url, arn))
    return records


def test_a_crash_looping_message_moved_to_the_dlq_and_redriven_imports_nothing_twice(
    sink: MixpanelSink, forwarder: Callable[..., None]
) -> None:
    dlq_url, dlq_arn = queue("product-events-dlq")
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1000"})  # its own DLQ, as created
    url, arn = queue("product-events", VisibilityTimeout="600", RedrivePolicy=redrive)
    parked_url, _ = queue("parked-events")
    forwarder(SOURCE_DEAD_LETTER_QUEUE_URL=dlq_url, DEAD_LETTER_QUEUE_URL=parked_url)
    send(url, json.dumps(EVENTS))  # three events in one message
    [first] = receive(url, arn, visibility=0)
    assert invoke([first]) == []  # imported; say the function then crashed before answering: it comes back
    imported = [dict(event) for event in sink.events]

    [looping] = crash_loop(url, arn, times=7)  # 7 receives within seconds: 6 more than the backoff explains

    assert looping["attributes"]["ApproximateReceiveCount"] == "8"
    assert invoke([looping]) == []  # moved: acknowledged
    assert (len(sink.events), sink.duplicates) == (3, 0)  # not processed
    [moved] = receive(dlq_url, arn)
    envelope = json.loads(moved["body"])
    assert envelope["body"] == first["body"]
    assert envelope[sqs_source.MOVED]["messageId"] == first["messageId"]
    assert envelope[sqs_source.MOVED]["reason"].startswith("crash loop: received 8 times")

    send(url, moved["body"])  # the operator's redrive: a new message, a new id and send time
    [redriven] = receive(url, arn)
    assert redriven["messageId"] != first["messageId"]
    assert redriven["attributes"]["SentTimestamp"] != first["attributes"]["SentTimestamp"]
    assert invoke([redriven]) == []

    assert sink.events == imported  # the same $insert_id and time: Mixpanel keeps them once
    assert sink.duplicates == 3
    assert receive(parked_url, arn) == []


def test_a_message_its_queue_would_delete_is_parked_whole_and_a_replay_imports_it(
    sink: MixpanelSink, forwarder: Callable[..., None]
) -> None:
    # Kept a minute (SQS's least): two longest delays of 30 s reach back to its send time, so it is near its end now.
    url, arn = queue("product-events", MessageRetentionPeriod="60", VisibilityTimeout="600")
    kept_url, kept_arn = queue("kept-events", VisibilityTimeout="600")  # 4 days: this one is reported
    parked_url, _ = queue("parked-events")
    forwarder(DEAD_LETTER_QUEUE_URL=parked_url, SQS_RETRY_MAX_SECONDS="30")
    send(url, json.dumps(EVENTS[1]))
    send(kept_url, json.dumps(EVENTS[2]))
    [expiring], [kept] = receive(url, arn), receive(kept_url, kept_arn)
    sink.fail_next(UNAVAILABLE)

    assert invoke([expiring]) == []  # parked: acknowledged
    sink.fail_next(UNAVAILABLE)
    assert invoke([kept]) == [kept["messageId"]]

    sqs = boto3.client("sqs")
    [message] = sqs.receive_message(QueueUrl=parked_url, VisibilityTimeout=0)["Messages"]
    document = ParkedReader().read(message["Body"])
    assert document is not None
    assert document["record"] == expiring
    assert document["reason"].startswith("transient failures outlasted the source queue's retention (")
    assert sink.events == []

    report = replay(Settings.from_env(), parked_url)

    assert (report.documents, report.imported_events, report.kept_documents) == (1, 1, 0)
    [event] = sink.events
    assert event["properties"]["distinct_id"] == "u1"
    assert event["properties"]["time"] == int(expiring["attributes"]["SentTimestamp"])  # the send time, in ms
    assert event["properties"]["$insert_id"]  # derived from its message id: a resend would be kept once


def test_a_message_received_again_near_its_queues_retention_end_is_parked_before_it_is_processed(
    sink: MixpanelSink, forwarder: Callable[..., None]
) -> None:
    # Kept a minute, hidden ten: should the function crash on it now, SQS would delete it before it came back.
    url, arn = queue("product-events", MessageRetentionPeriod="60", VisibilityTimeout="600")
    parked_url, _ = queue("parked-events")
    forwarder(DEAD_LETTER_QUEUE_URL=parked_url)
    send(url, json.dumps(EVENTS[0]))
    [returned] = crash_loop(url, arn, times=2)

    assert invoke([returned]) == []

    assert sink.events == []  # not processed
    [message] = boto3.client("sqs").receive_message(QueueUrl=parked_url)["Messages"]
    document = ParkedReader().read(message["Body"])
    assert document is not None
    assert document["record"] == returned
    assert document["reason"] == "received again (2 times) near the end of the source queue's retention"
