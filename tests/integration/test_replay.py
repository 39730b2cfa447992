"""Replay against a real SQS dead-letter queue (moto) and the embedded sink: only what imports is deleted."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from functions.sqs_forwarder.app import lambda_handler as sqs_handler
from localdev.eventgen import lambda_context
from localdev.sink import MixpanelSink
from mixpanel_forwarder import runtime
from mixpanel_forwarder.deadletter import SqsParker
from mixpanel_forwarder.parked import Parked
from mixpanel_forwarder.replay import main, replay
from mixpanel_forwarder.settings import Settings
from tests.functional.conftest import FAST_RETRIES, load_event


@pytest.fixture
def sink() -> Any:
    with MixpanelSink() as running:
        yield running


def park_poison(sink: MixpanelSink, dlq: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The SQS poison sample through the real handler, parking its 4 bad records in `dlq`."""
    for name, value in {**sink.env(), **FAST_RETRIES, "DEAD_LETTER_QUEUE_URL": dlq}.items():
        monkeypatch.setenv(name, value)
    event = load_event("sqs-poison.json")
    assert sqs_handler(event, lambda_context()) == {"batchItemFailures": []}
    runtime.reset()
    return event


def visible(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_replay_imports_what_now_passes_and_leaves_the_rest_parked(
    sink: MixpanelSink, aws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqs = boto3.client("sqs")
    dlq = sqs.create_queue(QueueName="parked")["QueueUrl"]
    park_poison(sink, dlq, monkeypatch)
    assert visible(sqs, dlq) == 4
    # "The cause is fixed": here, a parked event whose only fault was a placeholder distinct_id is corrected
    # in place, the way an operator would after fixing the producer.
    fixed = Parked(
        {"reason": "fixed by hand"},
        {"messageId": "m-fixed", "item": "sqs:m-fixed:0"},
        "event",
        {"event": "Fixed", "properties": {"time": 1_764_000_000, "distinct_id": "u-fixed"}},
    )
    assert SqsParker(dlq).park([fixed]) == [True]

    report = replay(Settings.from_env(), dlq)

    assert report.documents == 5
    assert report.imported_events == 1
    assert report.deleted_messages == 1
    assert report.kept_documents == 4
    assert [event["event"] for event in sink.events if event["event"] == "Fixed"] == ["Fixed"]
    assert visible(sqs, dlq) == 4  # the 4 still-bad records stay parked


def test_replay_is_idempotent_with_the_original_insert_id(
    sink: MixpanelSink, aws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqs = boto3.client("sqs")
    dlq = sqs.create_queue(QueueName="parked")["QueueUrl"]
    item = {"event": "Late", "properties": {"distinct_id": "u1"}}  # no time: the envelope's is kept
    parked = Parked({"reason": "x"}, {"item": "sqs:m9:0", "defaultTimeMs": 1_764_000_000_000}, "event", item)
    monkeypatch.setenv("MIXPANEL_API_URL", sink.url)
    for name, value in sink.env().items():
        monkeypatch.setenv(name, value)
    SqsParker(dlq).park([parked])
    SqsParker(dlq).park([parked])  # parked twice (e.g. a redelivery)

    replay(Settings.from_env(), dlq)

    assert len(sink.events) == 1
    assert sink.duplicates == 1
    assert sink.events[0]["properties"]["time"] == 1_764_000_000_000
    assert visible(sqs, dlq) == 0


def test_dry_run_sends_nothing_deletes_nothing_and_shows_the_events(
    sink: MixpanelSink, aws: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sqs = boto3.client("sqs")
    dlq = sqs.create_queue(QueueName="parked")["QueueUrl"]
    for name, value in sink.env().items():
        monkeypatch.setenv(name, value)
    good = Parked(
        {"reason": "x"},
        {"item": "sqs:m1:0"},
        "event",
        {"event": "Dry", "properties": {"time": 1_764_000_000, "distinct_id": "u1"}},
    )
    SqsParker(dlq).park([good])

    assert main(["--queue-url", dlq, "--dry-run"]) == 0

    output = capsys.readouterr().out
    assert "would import 1 events" in output
    assert json.loads(output.strip().splitlines()[-1])["event"] == "Dry"
    assert sink.requests == []
    assert visible(sqs, dlq) == 1


def test_replay_of_a_document_parked_in_parts(sink: MixpanelSink, aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    sqs = boto3.client("sqs")
    dlq = sqs.create_queue(QueueName="parked", Attributes={"MaximumMessageSize": "8192"})["QueueUrl"]
    for name, value in sink.env().items():
        monkeypatch.setenv(name, value)
    big = {"event": "Big", "properties": {"time": 1_764_000_000, "distinct_id": "u1", "note": "n" * 30_000}}
    assert SqsParker(dlq).park([Parked({"reason": "x"}, {"item": "sqs:big:0"}, "event", big)]) == [True]
    assert visible(sqs, dlq) > 3

    report = replay(Settings.from_env(), dlq)

    assert report.imported_events == 1
    assert report.incomplete_parts == 0
    assert sink.events[0]["properties"]["note"] == "n" * 30_000
    assert visible(sqs, dlq) == 0


def test_replay_reads_events_that_were_parked_together(
    sink: MixpanelSink, aws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqs = boto3.client("sqs")
    dlq = sqs.create_queue(QueueName="parked")["QueueUrl"]
    for name, value in {**sink.env(), **FAST_RETRIES}.items():
        monkeypatch.setenv(name, value)
    # Three events of one record, parked in one shared document; since then "fixed" (they are valid now).
    together = [
        Parked(
            {"reason": "was refused"},
            {"messageId": "m1", "item": f"sqs:m1:{n}"},
            "event",
            {"event": "Fixed", "properties": {"time": 1_764_000_000, "distinct_id": f"u{n}"}},
            group=0,
        )
        for n in range(3)
    ]
    assert SqsParker(dlq).park(together) == [True, True, True]
    assert visible(sqs, dlq) == 1

    report = replay(Settings.from_env(), dlq)

    assert (report.documents, report.imported_events, report.deleted_messages) == (1, 3, 1)
    assert sorted(event["properties"]["distinct_id"] for event in sink.events) == ["u0", "u1", "u2"]
    assert visible(sqs, dlq) == 0


def test_a_parked_profile_update_goes_back_to_its_endpoint(
    sink: MixpanelSink, aws: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a user update parked because the function had no project token, and the token now set
    sqs = boto3.client("sqs")
    dlq = sqs.create_queue(QueueName="parked")["QueueUrl"]
    for name, value in {**sink.env(), "MIXPANEL_PROJECT_TOKEN": str(sink.token)}.items():
        monkeypatch.setenv(name, value)
    update = {"$distinct_id": "u-7", "$set": {"plan": "pro"}}
    reason = {"reason": "no project token", "field": "$token", "kind": "user"}
    SqsParker(dlq).park([Parked(reason, {"messageId": "m7", "item": "sqs:m7:0"}, "event", update)])

    # WHEN it is looked at, then replayed
    assert main(["--queue-url", dlq, "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["$distinct_id"] == "u-7"
    assert sink.requests == []
    report = replay(Settings.from_env(), dlq)

    # THEN /engage applied it, with the token and no geolocation, and the queue let it go
    assert report.imported_events == 1
    assert sink.users["u-7"].properties == {"plan": "pro"}
    assert sink.users["u-7"].ip == "0"
    assert visible(sqs, dlq) == 0
