"""The real SQS handler when the dead-letter queue turns hostile or the input cannot be parked as it is.

The dead-letter queue is moto's server, or a loopback endpoint that closes every connection, never
answers, or passes calls on slowly. Whatever it does, the handler answers before its deadline, imports
what is valid, and reports what it could not park; and every invalid input can be parked.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from functions.sqs_forwarder.app import lambda_handler as sqs_handler
from localdev.eventgen import lambda_context, sample_event, sqs_event, sqs_record
from localdev.sink import MixpanelSink
from mixpanel_forwarder.deadline import CLOSING_SHARE
from mixpanel_forwarder.log import formatter, logger
from mixpanel_forwarder.parked import ParkedReader, failures
from tests.hostile import slow_proxy, tcp_endpoint

MARGIN_MS = 3000
BOUND_S = 1.5  # what the handler may take beyond (time left − margin)


def body_of(i: int, **overrides: Any) -> str:
    return json.dumps(sample_event(i, **overrides))


def reported(response: dict[str, Any]) -> list[str]:
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def parked_failures(dlq: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL"])  # moto, not a test's proxy
    reader = ParkedReader()
    found: list[dict[str, Any]] = []
    while messages := sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            document = reader.read(message["Body"])
            found.extend(failures(document) if document is not None else [])
            sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])
    assert reader.incomplete == []
    return found


@pytest.fixture
def dlq(aws: str) -> str:
    return str(boto3.client("sqs").create_queue(QueueName="parked-events")["QueueUrl"])


@pytest.fixture
def summary_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)


def one_valid_one_invalid() -> dict[str, Any]:
    return sqs_event(
        [
            sqs_record(body_of(0), message_id="good"),
            sqs_record(json.dumps({"properties": {"distinct_id": "u1"}}), message_id="nameless"),
        ]
    )


@pytest.mark.parametrize("behaviour", ["close", "hang"])
def test_hostile_dead_letter_queue_reports_the_invalid_record_and_answers_in_time(
    sink: MixpanelSink, forwarder_env: Any, aws: str, behaviour: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with tcp_endpoint(behaviour) as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", endpoint)
        forwarder_env(DEAD_LETTER_QUEUE_URL=f"{endpoint}/123456789012/parked-events", DEADLINE_MARGIN_MS=str(MARGIN_MS))
        started = time.monotonic()

        response = sqs_handler(one_valid_one_invalid(), lambda_context(remaining_ms=10_000))

        took = time.monotonic() - started
    assert reported(response) == ["nameless"]  # parking failed: reported, never acknowledged
    assert len(sink.events) == 1  # the valid event was imported all the same
    # Telling SQS when to deliver it again (the same hostile endpoint) may use a third of the margin.
    assert took < (10_000 - MARGIN_MS * (1 - CLOSING_SHARE)) / 1000 + BOUND_S


def test_many_refused_events_of_one_record_share_few_messages_and_keep_the_deadline(
    sink: MixpanelSink, forwarder_env: Any, dlq: str, monkeypatch: pytest.MonkeyPatch, aws: str
) -> None:
    nameless = [{"properties": {"n": i}} for i in range(3000)]
    body = json.dumps(nameless, separators=(",", ":"))
    assert len(body) < 100_000
    with slow_proxy(aws, delay=0.02) as (proxy_url, proxy):
        monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", proxy_url)
        forwarder_env(DEAD_LETTER_QUEUE_URL=dlq, DEADLINE_MARGIN_MS=str(MARGIN_MS))
        started = time.monotonic()

        response = sqs_handler(sqs_event([sqs_record(body, message_id="m1")]), lambda_context(remaining_ms=6_000))

        took = time.monotonic() - started
    assert response == {"batchItemFailures": []}
    assert proxy.calls["SendMessageBatch"] == 1  # 3,000 parked events in one call, not 300
    assert took < (6_000 - MARGIN_MS) / 1000 + BOUND_S
    parked = parked_failures(dlq)
    assert sorted(document["event"]["properties"]["n"] for document in parked) == list(range(3000))
    assert {document["field"] for document in parked} == {"event"}
    assert {document["source"]["messageId"] for document in parked} == {"m1"}


def test_parking_stops_at_the_deadline_margin_and_reports_the_rest(
    sink: MixpanelSink, forwarder_env: Any, dlq: str, monkeypatch: pytest.MonkeyPatch, aws: str
) -> None:
    records = [sqs_record(json.dumps({"properties": {"n": i}}), message_id=f"m{i}") for i in range(60)]
    with slow_proxy(aws, delay=0.4) as (proxy_url, proxy):
        monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", proxy_url)
        forwarder_env(DEAD_LETTER_QUEUE_URL=dlq, DEADLINE_MARGIN_MS=str(MARGIN_MS))
        started = time.monotonic()

        response = sqs_handler(sqs_event(records), lambda_context(remaining_ms=4_000))

        took = time.monotonic() - started
    assert took < (4_000 - MARGIN_MS) / 1000 + BOUND_S
    parked = {document["source"]["messageId"] for document in parked_failures(dlq)}
    assert 0 < len(parked) < 60  # some were parked before the margin, not all
    assert proxy.calls["SendMessageBatch"] < 6  # parking stopped: six calls would take them all
    # The rest reported, none lost. The call abandoned at the margin may still land later (while SQS is told when to
    # deliver the reported ones again): its records are parked and reported, once more later, never lost.
    assert set(reported(response)) >= {f"m{i}" for i in range(60)} - parked
    assert len(set(reported(response)) & parked) <= 10


def test_payloads_that_cannot_be_reencoded_are_parked_exactly(sink: MixpanelSink, forwarder_env: Any, dlq: str) -> None:
    forwarder_env(DEAD_LETTER_QUEUE_URL=dlq)
    deep = '{"event":"Deep","properties":{"distinct_id":"u1","time":1764000000,"x":' + "[" * 600 + "]" * 600 + "}}"
    surrogate = sqs_record(body_of(1), message_id="surrogate")
    surrogate["body"] = '{"event":"Bad","properties":{"name":"\ud800"}}'
    event = sqs_event([sqs_record(deep, message_id="deep"), surrogate])

    response = sqs_handler(event, lambda_context(remaining_ms=60_000))

    assert response == {"batchItemFailures": []}
    parked = {document["source"]["messageId"]: document for document in parked_failures(dlq)}
    assert parked["deep"]["record"]["body"] == deep  # the record it came from, holding its exact text
    assert parked["deep"]["source"]["item"] == "sqs:deep:0"
    assert "nests deeper" in parked["deep"]["reason"]
    exact = base64.b64decode(parked["surrogate"]["record"]["base64"])
    assert exact == surrogate["body"].encode("utf-8", "surrogatepass")


def test_long_values_stay_out_of_reasons_and_the_summary_line(
    sink: MixpanelSink, forwarder_env: Any, dlq: str, summary_lines: io.StringIO
) -> None:
    forwarder_env(DEAD_LETTER_QUEUE_URL=dlq)
    secret_ish = "alice@example.com" + "x" * 300_000
    body = json.dumps({"event": "Signed Up", "properties": {"distinct_id": "u1", "time": secret_ish}})

    response = sqs_handler(sqs_event([sqs_record(body, message_id="m1")]), lambda_context(remaining_ms=60_000))

    assert response == {"batchItemFailures": []}
    [document] = parked_failures(dlq)
    assert document["event"]["properties"]["time"] == secret_ish  # the payload is parked whole
    assert len(document["reason"]) < 200
    assert "alice@example.com" + "x" * 40 not in document["reason"]
    [summary] = [line for line in summary_lines.getvalue().splitlines() if "invocation summary" in line]
    assert len(summary) < 4_000
    assert "x" * 100 not in summary


def test_oversized_event_on_the_common_path_is_parked_as_it_arrived(
    sink: MixpanelSink, forwarder_env: Any, dlq: str
) -> None:
    forwarder_env(DEAD_LETTER_QUEUE_URL=dlq)
    arrived = sample_event(3)
    arrived["properties"]["blob"] = "z" * (1024 * 1024)
    arrived["properties"].pop("ip", None)

    response = sqs_handler(
        sqs_event([sqs_record(json.dumps(arrived), message_id="big")]), lambda_context(remaining_ms=60_000)
    )

    assert response == {"batchItemFailures": []}
    [document] = parked_failures(dlq)
    assert document["event"] == arrived  # time as it was sent, no ip added
