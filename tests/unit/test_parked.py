"""The parked document: every failure can be written, and a shared document reads back as its events."""

from __future__ import annotations

import base64
import json
from typing import Any

from mixpanel_forwarder.deadletter import _documents
from mixpanel_forwarder.parked import Parked, failures

REASON = {"reason": "the event name must be a non-empty string", "field": "event"}
SQS_RECORD = {"messageId": "m1", "body": '{"properties":{}}', "eventSource": "aws:sqs"}


def deep(levels: int) -> Any:
    value: Any = []
    for _ in range(levels):
        value = [value]
    return value


def event_failure(payload: Any, record: dict[str, Any] | None = SQS_RECORD, n: int = 0, group: int = 0) -> Parked:
    source = {"messageId": "m1", "item": f"sqs:m1:{n}", "defaultTimeMs": 1_764_000_000_000}
    return Parked(REASON, source, "event", payload, record, group)


def test_an_event_too_deep_to_encode_is_replaced_by_the_record_it_came_from() -> None:
    document = json.loads(event_failure({"properties": {"x": deep(400)}}).document())

    assert document["record"] == SQS_RECORD
    assert document["source"]["item"] == "sqs:m1:0"
    assert "event" not in document


def test_a_record_with_a_lone_surrogate_is_kept_as_the_base64_of_its_exact_bytes() -> None:
    record = {**SQS_RECORD, "body": '{"event":"\ud800"}'}
    document = json.loads(Parked(REASON, {"messageId": "m1"}, "record", record).document())

    assert base64.b64decode(document["record"]["base64"]) == record["body"].encode("utf-8", "surrogatepass")


def test_an_event_whose_record_cannot_be_encoded_either_keeps_the_records_bytes() -> None:
    record = {**SQS_RECORD, "body": '{"event":"\udfff"}'}
    document = json.loads(event_failure({"name": "\udfff"}, record).document())

    assert base64.b64decode(document["record"]["base64"]) == record["body"].encode("utf-8", "surrogatepass")


def test_a_kinesis_record_falls_back_to_its_decoded_data() -> None:
    data = b"\xf3\x89\x9a\xc2 not json \xff"
    record = {"kinesis": {"data": base64.b64encode(data).decode()}, "recursive": deep(400)}
    document = json.loads(Parked(REASON, {"sequenceNumber": "1"}, "record", record).document())

    assert base64.b64decode(document["record"]["base64"]) == data


def test_bytes_are_kept_as_base64() -> None:
    document = json.loads(event_failure(b"\xff\xfe line").document())

    assert base64.b64decode(document["event"]["base64"]) == b"\xff\xfe line"


def test_events_of_one_record_share_documents_within_the_message_limit() -> None:
    parked = [event_failure({"properties": {"n": n}}, n=n) for n in range(500)]

    documents = list(_documents(parked, 16 * 1024))

    assert all(len(document) <= 16 * 1024 for document, _, _ in documents)
    assert 1 < len(documents) < 20
    assert sorted(owner for _, owners, _ in documents for owner in owners) == list(range(500))
    read_back = [one for document, _, _ in documents for one in failures(json.loads(document))]
    assert [one["event"]["properties"]["n"] for one in read_back] == list(range(500))
    assert read_back[7] == json.loads(parked[7].document())  # a shared entry reads back as its own document


def test_events_of_different_records_and_unencodable_ones_get_documents_of_their_own() -> None:
    parked = [
        event_failure({"properties": {"n": 0}}, n=0, group=0),
        event_failure({"properties": {"x": deep(400)}}, n=1, group=0),
        event_failure({"properties": {"n": 2}}, n=2, group=0),
        event_failure({"properties": {"n": 3}}, n=3, group=1),
    ]

    documents = list(_documents(parked, 256 * 1024))

    owners = sorted(tuple(owners) for _, owners, _ in documents)
    assert owners == [(0, 2), (1,), (3,)]
    [(alone, _, _)] = [d for d in documents if d[1] == [1]]
    assert json.loads(alone)["record"] == SQS_RECORD
