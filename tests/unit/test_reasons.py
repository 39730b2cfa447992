"""Reasons are short and never carry the payload: they go to logs, summaries and parked messages."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

from localdev.eventgen import kinesis_event, kinesis_record
from mixpanel_forwarder.errors import DecodeError, Invalid
from mixpanel_forwarder.model import EXCERPT_CHARS, Item, excerpt
from mixpanel_forwarder.normalize import normalize
from mixpanel_forwarder.sources import kinesis, sqs

NOW_MS = 1_764_000_100_000
T = 1_764_000_000
SECRET = "alice@example.com"
HUGE = SECRET * 20_000  # 340 KB
MAX_REASON = 160  # field and message together: the rule, a short excerpt at most


def refusal(payload: Any) -> Invalid:
    with pytest.raises(Invalid) as raised:
        normalize(Item(payload, "sqs:m1:0", None), NOW_MS)
    return raised.value


@pytest.mark.parametrize(
    "payload",
    [
        {"event": "A", "properties": {"time": HUGE}},
        {"event": "A", "properties": {"time": SECRET}},
        {"event": "A", "properties": {"time": [HUGE]}},
        {"event": "A", "properties": {"time": 1e300}},
        {"event": "A", "properties": {"time": -1e300}},
        {"event": "A", "properties": {"time": 10**4000}},
        {"event": "A", "properties": {"time": T, "distinct_id": {"email": SECRET}}},
        {"event": "A", "properties": {"time": T, "$insert_id": HUGE}},
        {"event": "A", HUGE: 1, "properties": {"time": T, HUGE: 2}},
        {"event": "A", "properties": {"time": T, HUGE: {"a": {"b": {"c": {"d": 1}}}}}},
        {"event": "A", "properties": {"time": T, "p": {HUGE: {"b": {"c": {"d": 1}}}}}},
        {"event": "A", "properties": {"time": T, HUGE: list(range(300))}},
        [SECRET],
        HUGE,
    ],
)
def test_normalize_reasons_are_short_and_quote_no_payload(payload: Any) -> None:
    refused = refusal(payload)
    assert len(refused.field) + len(refused.message) <= MAX_REASON
    assert SECRET not in refused.message


def test_big_integer_refusal_names_a_clipped_path() -> None:
    with pytest.raises(Invalid) as raised:
        normalize(Item({"event": "A", "properties": {"time": T, HUGE: [10**30]}}, "k", None), NOW_MS, exact=True)
    assert len(raised.value.field) + len(raised.value.message) <= MAX_REASON


def test_a_clipped_key_names_the_field() -> None:
    refused = refusal({"event": "A", "properties": {"time": T, HUGE: list(range(300))}})
    assert refused.field.startswith("properties.alice@example.com")
    assert refused.field.endswith("…")
    assert len(refused.field) <= len("properties.") + EXCERPT_CHARS


def test_time_refusal_says_what_was_found_not_what_it_was() -> None:
    refused = refusal({"event": "A", "properties": {"time": HUGE}})
    assert refused.field == "properties.time"
    assert refused.message.endswith("got a string")


def test_placeholder_ids_are_quoted_they_are_few_and_short() -> None:
    refused = refusal({"event": "A", "properties": {"time": T, "distinct_id": "undefined"}})
    assert refused.message == "'undefined' is a placeholder Mixpanel refuses"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("short", "'short'"),
        ("x" * 100, "'" + "x" * (EXCERPT_CHARS - 2) + "…"),
        ("\x00" * 100, "'" + "\\x00" * 9 + "\\x…"),
        (12, "12"),
        (1.5, "1.5"),
        (None, "None"),
        (10**400, "an integer of 1329 bits"),
        ({"email": SECRET}, "a dict"),
        ([SECRET], "a list"),
    ],
)
def test_excerpt_is_at_most_forty_characters_and_never_a_container(value: Any, expected: str) -> None:
    assert excerpt(value) == expected
    assert len(excerpt(value)) <= EXCERPT_CHARS


def sqs_items(body: str) -> list[Item]:
    _, [record] = sqs.source_records({"Records": [{"messageId": "m1", "body": body}]})
    decoded = sqs.decode(record)
    return decoded


def kinesis_items(data: bytes) -> list[Item]:
    _, [record] = kinesis.source_records(kinesis_event([kinesis_record(data)]))
    decoded = kinesis.decode(record)
    return decoded


@pytest.mark.parametrize(
    "decode",
    [
        lambda: sqs_items(HUGE),
        lambda: sqs_items('{"event": "' + HUGE),
        lambda: sqs_items("[" + HUGE + "]\n{" + HUGE),
        lambda: kinesis_items(HUGE.encode()),
        lambda: kinesis_items(gzip.compress(HUGE.encode())[:-9] + b"xxxxxxxxx"),
        lambda: kinesis_items(b"\xf3\x89\x9a\xc2" + HUGE.encode()),
    ],
)
def test_decode_errors_are_short_and_quote_no_payload(decode: Any) -> None:
    with pytest.raises(DecodeError) as raised:
        decode()
    assert len(str(raised.value)) <= MAX_REASON
    assert SECRET not in str(raised.value)


def test_kinesis_data_that_is_not_base64_says_so_briefly() -> None:
    record = kinesis_record(b"{}")
    record["kinesis"]["data"] = HUGE
    _, [source] = kinesis.source_records(kinesis_event([record]))
    with pytest.raises(DecodeError) as raised:
        kinesis.decode(source)
    assert len(str(raised.value)) <= MAX_REASON
    assert SECRET not in str(raised.value)


@pytest.mark.parametrize(
    "items",
    [
        lambda: sqs_items("\n".join([json.dumps({"event": "A", "properties": {}}), "{" + HUGE])),
        lambda: sqs_items(json.dumps({"Type": "Notification", "TopicArn": "t", "Message": "{" + HUGE})),
        lambda: kinesis_items(b'{"event": "A"}\n{' + HUGE.encode()),
    ],
)
def test_errors_of_items_that_could_not_be_decoded_are_short(items: Any) -> None:
    failed = [item for item in items() if item.error is not None]
    assert failed
    for item in failed:
        assert len(item.error) <= MAX_REASON
        assert SECRET not in item.error
