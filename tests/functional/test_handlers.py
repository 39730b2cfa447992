"""Both handlers, end to end over loopback: every sample shape, every kind of answer Mixpanel gives."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest

from functions.kinesis_forwarder.app import lambda_handler as kinesis_handler
from functions.sqs_forwarder.app import lambda_handler as sqs_handler
from localdev.eventgen import (
    FIFO_QUEUE_ARN,
    lambda_context,
    sample_event,
    sqs_event,
    sqs_record,
)
from localdev.sink import MixpanelSink
from mixpanel_forwarder.errors import ConfigError
from mixpanel_forwarder.log import formatter, logger
from tests.functional.conftest import EVENTS, load_event

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
HANDLERS: dict[str, Handler] = {"sqs": sqs_handler, "kinesis": kinesis_handler}

# Events each valid sample holds (counted by hand from localdev.eventgen's write_samples).
VALID_SAMPLES = {
    "sqs-standard.json": 5,
    "sqs-batch-array.json": 6,
    "sqs-ndjson.json": 4,
    "sqs-fifo.json": 4,
    "sqs-sns.json": 3,
    "sqs-eventbridge.json": 3,
    "kinesis-plain.json": 4,
    "kinesis-gzip.json": 10,
    "kinesis-kpl.json": 6,
    "kinesis-cloudwatch-logs.json": 3,
}


def reported(response: dict[str, Any]) -> list[str]:
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def handler_for(name: str) -> Handler:
    return HANDLERS[name.split("-")[0]]


def test_every_sample_file_is_exercised() -> None:
    samples = {path.name for path in EVENTS.glob("*.json")}
    poison = {"sqs-poison.json", "kinesis-poison.json"}
    profiles = {"sqs-profiles.json", "kinesis-profiles.json"}  # in test_profiles.py
    vendors = {  # in test_vendor_segment.py and test_vendor_amplitude.py
        "sqs-segment.json",
        "sqs-segment-eventbridge.json",
        "kinesis-rudderstack.json",
        "kinesis-amplitude.json",
    }
    assert samples == set(VALID_SAMPLES) | poison | profiles | vendors


@pytest.mark.parametrize(("name", "count"), VALID_SAMPLES.items())
def test_sample_is_imported_whole_with_nothing_reported(
    name: str, count: int, sink: MixpanelSink, forwarder_env: Any, context: Any
) -> None:
    response = handler_for(name)(load_event(name), context)

    assert response == {"batchItemFailures": []}
    assert len(sink.events) == count
    for event in sink.events:
        properties = event["properties"]
        assert properties["time"] > 1_000_000_000_000  # milliseconds
        assert properties["ip"] == 0
        assert properties["$insert_id"]
    assert all(log.gzip for log in sink.requests)


@pytest.mark.parametrize("name", ["sqs-batch-array.json", "kinesis-kpl.json", "kinesis-cloudwatch-logs.json"])
def test_redelivery_is_deduplicated_by_the_derived_insert_id(
    name: str, sink: MixpanelSink, forwarder_env: Any, context: Any
) -> None:
    handler_for(name)(load_event(name), context)
    first = sink.events
    handler_for(name)(load_event(name), context)

    assert sink.events == first
    assert sink.duplicates == len(first)


def test_sqs_poison_records_are_reported_when_there_is_no_dead_letter_queue(
    sink: MixpanelSink, forwarder_env: Any, context: Any
) -> None:
    event = load_event("sqs-poison.json")
    ids = [record["messageId"] for record in event["Records"]]

    response = sqs_handler(event, context)

    assert reported(response) == ids[2:]
    assert len(sink.events) == 2


def test_kinesis_poison_records_report_their_sequence_numbers(
    sink: MixpanelSink, forwarder_env: Any, context: Any
) -> None:
    event = load_event("kinesis-poison.json")
    sequence_numbers = [record["kinesis"]["sequenceNumber"] for record in event["Records"]]

    response = kinesis_handler(event, context)

    assert reported(response) == sequence_numbers[2:]
    assert len(sink.events) == 2


def test_poison_records_are_parked_with_reasons_in_the_dead_letter_queue(
    sink: MixpanelSink, forwarder_env: Any, context: Any, aws: str
) -> None:
    sqs = boto3.client("sqs")
    dlq = sqs.create_queue(QueueName="parked-events")["QueueUrl"]
    forwarder_env(DEAD_LETTER_QUEUE_URL=dlq)

    response = sqs_handler(load_event("sqs-poison.json"), context)

    assert response == {"batchItemFailures": []}
    assert len(sink.events) == 2
    messages = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    parked = sorted((json.loads(m["Body"]) for m in messages), key=lambda body: body["source"]["messageId"])
    assert len(parked) == 4
    assert {body.get("field") for body in parked} == {"record", "event", "properties.time", "properties.distinct_id"}
    assert all(body["reason"] for body in parked)
    assert "record" in parked[0] or "event" in parked[0]


def test_dead_letter_queue_that_refuses_leaves_the_records_reported(
    sink: MixpanelSink, forwarder_env: Any, context: Any, aws: str
) -> None:
    forwarder_env(DEAD_LETTER_QUEUE_URL=f"{aws}/123456789012/no-such-queue")
    event = load_event("sqs-poison.json")

    response = sqs_handler(event, context)

    assert reported(response) == [record["messageId"] for record in event["Records"][2:]]


def test_strict_400_imports_the_rest_and_reports_only_the_refused_record(
    sink: MixpanelSink, forwarder_env: Any, context: Any
) -> None:
    event = load_event("sqs-standard.json")
    sink.reject_next()

    response = sqs_handler(event, context)

    assert reported(response) == [event["Records"][0]["messageId"]]
    assert len(sink.events) == 4
    assert [log.status for log in sink.requests] == [400]  # never resent


def test_fifo_refusal_reports_that_record_and_every_later_one(
    sink: MixpanelSink, forwarder_env: Any, context: Any
) -> None:
    records = [
        sqs_record(json.dumps(sample_event(i)), index=i, queue_arn=FIFO_QUEUE_ARN, group_id=f"g{i % 2}")
        for i in range(4)
    ]
    records[1]["body"] = json.dumps({"event": "x", "properties": {"time": 1_764_000_000, "distinct_id": "nil"}})

    response = sqs_handler(sqs_event(records), context)

    assert reported(response) == [record["messageId"] for record in records[1:]]


def test_413_splits_the_request_and_imports_everything(forwarder_env: Any, context: Any) -> None:
    with MixpanelSink(max_bytes=3_000) as small:
        forwarder_env(**small.env())
        response = sqs_handler(load_event("sqs-batch-array.json"), context)

        assert response == {"batchItemFailures": []}
        assert len(small.events) == 6
        statuses = [log.status for log in small.requests]
        assert statuses[0] == 413
        assert statuses.count(200) >= 2


@pytest.mark.parametrize(
    "fault",
    [
        lambda sink: sink.fail_next(503, 2),
        lambda sink: sink.fail_next(429, retry_after="0"),
        lambda sink: sink.fail_next(502, body=b"<html>Bad Gateway</html>"),
        lambda sink: sink.reset_next(),
    ],
    ids=["503-twice", "429-retry-after", "502-html", "connection-reset"],
)
def test_transient_failures_are_retried_until_imported(
    fault: Callable[[MixpanelSink], None], sink: MixpanelSink, forwarder_env: Any, context: Any
) -> None:
    fault(sink)

    response = kinesis_handler(load_event("kinesis-plain.json"), context)

    assert response == {"batchItemFailures": []}
    assert len(sink.events) == 4
    assert sink.requests[-1].status == 200
    assert len(sink.requests) >= 2


def test_hung_request_is_abandoned_and_retried_within_the_invocation(sink: MixpanelSink, forwarder_env: Any) -> None:
    forwarder_env(REQUEST_TIMEOUT_SECONDS="0.5")
    sink.hang_next(30)
    context = lambda_context(remaining_ms=8_000)  # far less than the hang: only a timeout can save it

    response = sqs_handler(load_event("sqs-standard.json"), context)

    assert response == {"batchItemFailures": []}
    assert len(sink.events) == 5
    assert context.get_remaining_time_in_millis() > 0


def test_outage_until_the_deadline_reports_everything_and_answers_in_time(
    sink: MixpanelSink, forwarder_env: Any
) -> None:
    forwarder_env(DEADLINE_MARGIN_MS="1000", MAX_ATTEMPTS="100")
    sink.fail_next(503, count=10_000)
    context = lambda_context(remaining_ms=3_000)
    event = load_event("sqs-standard.json")

    response = sqs_handler(event, context)

    assert reported(response) == [record["messageId"] for record in event["Records"]]
    assert sink.events == []
    assert len(sink.requests) > 1  # it did retry
    assert context.get_remaining_time_in_millis() > 0  # and answered before Lambda's deadline


def test_bad_credentials_send_once_and_acknowledge_nothing(
    sink: MixpanelSink, forwarder_env: Any, context: Any
) -> None:
    forwarder_env(MIXPANEL_SERVICE_ACCOUNT_SECRET="wrong", BATCH_MAX_EVENTS="1", MAX_CONCURRENT_REQUESTS="1")
    event = load_event("sqs-standard.json")

    response = sqs_handler(event, context)

    assert reported(response) == [record["messageId"] for record in event["Records"]]
    assert [log.status for log in sink.requests] == [401]


def test_project_token_auth_imports(sink: MixpanelSink, forwarder_env: Any, context: Any) -> None:
    forwarder_env(
        MIXPANEL_SERVICE_ACCOUNT_USERNAME=None,
        MIXPANEL_SERVICE_ACCOUNT_SECRET=None,
        MIXPANEL_PROJECT_ID=None,
        MIXPANEL_PROJECT_TOKEN="sink-token",
    )
    assert sqs_handler(load_event("sqs-sns.json"), context) == {"batchItemFailures": []}
    assert len(sink.events) == 3


def test_missing_setting_fails_the_invocation_naming_the_variable(forwarder_env: Any, context: Any) -> None:
    forwarder_env(MIXPANEL_PROJECT_ID=None)
    with pytest.raises(ConfigError, match="MIXPANEL_PROJECT_ID"):
        sqs_handler(load_event("sqs-standard.json"), context)


@contextmanager
def warnings_logged() -> Iterator[list[dict[str, Any]]]:
    """The forwarder's WARNING log lines while the block runs, as the JSON documents Lambda would receive."""
    stream, found = io.StringIO(), []
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger.addHandler(handler)
    try:
        yield found
    finally:
        logger.removeHandler(handler)
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        found.extend(line for line in lines if line["level"] == "WARNING")


def test_a_misspelt_setting_is_logged_naming_the_setting_it_nearly_is(
    sink: MixpanelSink, forwarder_env: Any, context: Any
) -> None:
    forwarder_env(MIXPANEL_REGOIN="EU")  # the sink's URL is set: the region would be unused anyway

    with warnings_logged() as warnings:
        response = sqs_handler(load_event("sqs-standard.json"), context)

    assert response == {"batchItemFailures": []}  # a warning only: the invocation runs
    assert [(warning["variable"], warning["did_you_mean"]) for warning in warnings] == [
        ("MIXPANEL_REGOIN", "MIXPANEL_REGION")
    ]


def test_a_misspelt_required_setting_is_logged_before_it_fails_the_invocation(forwarder_env: Any, context: Any) -> None:
    forwarder_env(MIXPANEL_PROJECT_ID=None, MIXPANEL_PROJECTID="4242")

    with warnings_logged() as warnings, pytest.raises(ConfigError, match="MIXPANEL_PROJECT_ID"):
        sqs_handler(load_event("sqs-standard.json"), context)

    assert [warning["did_you_mean"] for warning in warnings] == ["MIXPANEL_PROJECT_ID"]


def test_logs_carry_the_summary_but_never_the_secret_or_payloads(
    sink: MixpanelSink, forwarder_env: Any, context: Any
) -> None:
    forwarder_env(MIXPANEL_SERVICE_ACCOUNT_SECRET="s3cr3t-value")  # refused by the sink: the 401 path logs too
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)  # the same JSON lines Lambda would receive
    logger.addHandler(handler)
    try:
        sqs_handler(load_event("sqs-poison.json"), context)
    finally:
        logger.removeHandler(handler)

    output = stream.getvalue()
    assert "invocation summary" in output
    assert "s3cr3t-value" not in output
    assert "user-" not in output  # sample distinct_ids
    assert "shop.example.com" not in output  # a sample property value
