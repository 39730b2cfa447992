"""SQS records into items: lone events, arrays, NDJSON, SNS and EventBridge envelopes, FIFO queues, and what cannot be
decoded."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mixpanel_forwarder.errors import DecodeError, InvocationError
from mixpanel_forwarder.model import SourceKind
from mixpanel_forwarder.sources import sqs

EVENT = {"event": "Signup", "properties": {"time": 1_764_000_000, "distinct_id": "u1"}}


def record(body: Any, message_id: str = "m-1", arn: str = "arn:aws:sqs:us-east-1:1:q") -> dict[str, Any]:
    return {
        "messageId": message_id,
        "body": body,
        "attributes": {"SentTimestamp": "1764000000500"},
        "eventSourceARN": arn,
    }


def decode(body: Any) -> list[Any]:
    """Items, as the forwarder sees them (a lone event comes back bare, for its fast path)."""
    _, records = sqs.source_records({"Records": [record(body)]})
    decoded = sqs.decode(records[0])
    return decoded


def test_sqs_lone_event_is_one_item_with_lazy_key_time_identifier_and_origin() -> None:
    _, [source] = sqs.source_records({"Records": [record(json.dumps(EVENT))]})
    [item] = sqs.decode(source)
    assert item.payload == EVENT
    assert item.key == "sqs:m-1:0"
    assert item.default_time_ms == 1_764_000_000_500
    assert source.identifier == "m-1"
    assert source.origin == {"eventSourceARN": "arn:aws:sqs:us-east-1:1:q", "messageId": "m-1"}


def test_sqs_single_object_is_one_item_keyed_by_message_id() -> None:
    [item] = decode(json.dumps(EVENT))
    assert item.payload == EVENT
    assert item.key == "sqs:m-1:0"
    assert item.default_time_ms == 1_764_000_000_500
    assert item.error is None


def test_sqs_array_is_one_item_per_element_in_order() -> None:
    items = decode(json.dumps([EVENT, {**EVENT, "event": "Second"}]))
    assert [i.payload["event"] for i in items] == ["Signup", "Second"]
    assert [i.key for i in items] == ["sqs:m-1:0", "sqs:m-1:1"]


def test_sqs_ndjson_is_one_item_per_line_and_a_bad_line_is_an_item_with_an_error() -> None:
    body = "\n".join([json.dumps(EVENT), "{not json", "", json.dumps({**EVENT, "event": "Third"})])
    items = decode(body)
    assert [i.error is None for i in items] == [True, False, True]
    assert items[1].payload == "{not json"
    assert "line 2" in (items[1].error or "")
    assert items[2].payload["event"] == "Third"


def test_sqs_ndjson_lines_end_at_newline_only_not_at_unicode_line_separators() -> None:
    # U+2028 and U+0085 may stand unescaped in a JSON string; str.splitlines() would cut the line there.
    first = {**EVENT, "properties": {**EVENT["properties"], "note": "a\u2028b\x85c"}}
    body = json.dumps(first, ensure_ascii=False) + "\r\n" + json.dumps({**EVENT, "event": "Second"}) + "\r\n"
    items = decode(body)
    assert [i.error for i in items] == [None, None]
    assert items[0].payload == first
    assert [i.key for i in items] == ["sqs:m-1:0:0", "sqs:m-1:1:0"]


def test_sqs_sns_envelope_is_unwrapped_and_keyed_by_the_sns_message_id() -> None:
    envelope = {
        "Type": "Notification",
        "MessageId": "sns-42",
        "TopicArn": "arn:aws:sns:us-east-1:1:events",
        "Message": json.dumps([EVENT, EVENT]),
        "Timestamp": "2025-11-24T16:00:01.000Z",
    }
    items = decode(json.dumps(envelope))
    assert [i.payload for i in items] == [EVENT, EVENT]
    assert [i.key for i in items] == ["sns:sns-42:0", "sns:sns-42:1"]
    assert items[0].default_time_ms == 1_764_000_001_000


def test_sqs_eventbridge_event_yields_its_detail() -> None:
    envelope = {
        "version": "0",
        "id": "eb-7",
        "detail-type": "Product Event",
        "source": "com.example",
        "time": "2025-11-24T16:00:02Z",
        "detail": EVENT,
    }
    [item] = decode(json.dumps(envelope))
    assert item.payload == EVENT
    assert item.key == "eb:eb-7:0"
    assert item.default_time_ms == 1_764_000_002_000


def test_sqs_sns_carrying_eventbridge_unwraps_both() -> None:
    inner = {"id": "eb-9", "detail-type": "x", "source": "s", "detail": EVENT}
    envelope = {"Type": "Notification", "MessageId": "sns-1", "TopicArn": "t", "Message": json.dumps(inner)}
    [item] = decode(json.dumps(envelope))
    assert item.payload == EVENT
    assert item.key == "eb:eb-9:0"
    assert item.default_time_ms == 1_764_000_000_500  # neither envelope has a time: the queue's


@pytest.mark.parametrize(("sns_time", "expected"), [("2025-11-24T16:00:01.000Z", 1_764_000_001_000), ("soon", None)])
def test_an_envelope_time_is_read_when_asked_else_the_time_around_it(sns_time: str, expected: int | None) -> None:
    inner = {"id": "eb-9", "detail-type": "x", "source": "s", "time": "not a time", "detail": [EVENT, EVENT]}
    envelope = {"Type": "Notification", "MessageId": "sns-1", "TopicArn": "t", "Message": json.dumps(inner)}
    envelope["Timestamp"] = sns_time
    items = decode(json.dumps(envelope))
    # EventBridge's time is unreadable: SNS's, else the queue's SentTimestamp.
    assert [item.default_time_ms for item in items] == [expected or 1_764_000_000_500] * 2


def test_sqs_sns_message_that_is_not_json_is_an_item_with_an_error() -> None:
    envelope = {"Type": "Notification", "MessageId": "sns-1", "TopicArn": "t", "Message": "hello"}
    [item] = decode(json.dumps(envelope))
    assert item.error is not None
    assert item.payload == "hello"


@pytest.mark.parametrize("body", ["", "   ", "not json", '{"event": ', None, 17])
def test_sqs_undecodable_body_raises_decode_error(body: Any) -> None:
    with pytest.raises(DecodeError):
        decode(body)


def test_sqs_fifo_queue_is_detected_from_the_arn() -> None:
    kind, _ = sqs.source_records({"Records": [record("{}", arn="arn:aws:sqs:us-east-1:1:q.fifo")]})
    assert kind is SourceKind.SQS_FIFO
    kind, _ = sqs.source_records({"Records": [record("{}")]})
    assert kind is SourceKind.SQS


def test_sqs_record_without_message_id_has_no_identifier_and_cannot_decode() -> None:
    raw = record("{}")
    del raw["messageId"]
    _, [source] = sqs.source_records({"Records": [raw]})
    assert source.identifier is None
    with pytest.raises(DecodeError):
        sqs.decode(source)


@pytest.mark.parametrize("event", [{}, {"Records": "x"}, [], None])
def test_sqs_invocation_without_records_is_an_invocation_error(event: Any) -> None:
    with pytest.raises(InvocationError):
        sqs.source_records(event)
