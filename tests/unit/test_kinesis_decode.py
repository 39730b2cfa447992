"""Kinesis records into items: plain JSON, KPL aggregates (checksums, bad sub-records), NDJSON, gzip and CloudWatch
Logs."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from localdev.eventgen import cloudwatch_logs_data, kinesis_event, kinesis_record, kpl_aggregate, sample_event
from mixpanel_forwarder.errors import DecodeError
from mixpanel_forwarder.forwarder import Forwarder
from mixpanel_forwarder.model import Item, SourceKind
from mixpanel_forwarder.sources import kinesis, kpl
from tests.conftest import FakeParker, FakeSender, make_settings

SEQUENCE = "49590338271490256608559692538361571095921575989136588898"


def decode(data: bytes, sequence_number: str = SEQUENCE) -> list[Item]:
    """Items, as the forwarder sees them (a lone event comes back bare, for its fast path)."""
    kind, [record] = kinesis.source_records(kinesis_event([kinesis_record(data, sequence_number=sequence_number)]))
    assert kind is SourceKind.KINESIS
    decoded = kinesis.decode(record)
    return decoded


def encoded(*events: dict[str, Any]) -> list[bytes]:
    return [json.dumps(event).encode() for event in events]


def test_plain_json_record_is_keyed_by_shard_and_sequence_number() -> None:
    [item] = decode(json.dumps(sample_event(1)).encode(), sequence_number="777")
    assert item.payload == sample_event(1)
    assert item.key == "kin:shardId-000000000000:777:0"
    assert item.default_time_ms == 1_764_000_000_500


def test_kpl_aggregate_is_deaggregated_in_sub_sequence_order() -> None:
    items = decode(kpl_aggregate(encoded(*(sample_event(i) for i in range(5)))), sequence_number="9")
    assert [item.payload for item in items] == [sample_event(i) for i in range(5)]
    assert [item.key for item in items] == [f"kin:shardId-000000000000:9:{i}:0" for i in range(5)]


def test_kpl_sub_record_that_is_not_json_is_an_item_with_an_error_and_the_others_survive() -> None:
    items = decode(kpl_aggregate([json.dumps(sample_event(1)).encode(), b"\xff\xfe garbage", b"[]"]))
    assert items[0].payload == sample_event(1)
    assert items[1].error is not None
    assert "sub-record 1" in items[1].error
    assert items[1].payload == b"\xff\xfe garbage"
    assert len(items) == 2  # an empty array holds no events


@pytest.mark.parametrize("damage", ["checksum", "body", "truncated"])
def test_kpl_aggregate_with_a_checksum_that_does_not_match_says_so(damage: str) -> None:
    aggregate = bytearray(kpl_aggregate(encoded(sample_event(1), sample_event(2))))
    if damage == "checksum":
        aggregate[-1] ^= 0xFF
    elif damage == "body":
        aggregate[30] ^= 0x01
    else:
        del aggregate[-40:]
    with pytest.raises(DecodeError) as raised:  # the magic byte 0xF3 begins no JSON: it is no plain record
        decode(bytes(aggregate))
    assert "KPL aggregate's MD5 checksum does not match" in str(raised.value)


@pytest.mark.parametrize("length", [4, 10, 19])
def test_kpl_aggregate_shorter_than_its_checksum_is_truncated(length: int) -> None:
    data = kpl_aggregate(encoded(sample_event(1)))[:length]
    with pytest.raises(DecodeError) as raised:
        decode(data)
    assert "KPL aggregate is shorter than its magic bytes and MD5 checksum" in str(raised.value)


def test_kpl_malformed_protobuf_with_valid_checksum_is_a_decode_error() -> None:
    import hashlib

    body = b"\x1a\xff\xff\xff\x0f"  # field 3, length far past the end
    with pytest.raises(DecodeError):
        decode(kpl.MAGIC + body + hashlib.md5(body).digest())


def test_ndjson_line_that_is_not_utf8_keeps_its_exact_bytes() -> None:
    bad = b'{"event": "caf\xe9", "properties": {}}'  # Latin-1, not UTF-8
    data = b"\r\n".join([json.dumps(sample_event(1)).encode(), bad, json.dumps(sample_event(2)).encode()])

    items = decode(data)

    assert [item.error is None for item in items] == [True, False, True]
    assert items[1].payload == bad  # not "caf\ufffd": the original bytes, for the parked message
    assert "line 2" in (items[1].error or "")
    assert [items[0].payload, items[2].payload] == [sample_event(1), sample_event(2)]
    key = f"kin:shardId-000000000000:{SEQUENCE}"
    assert [item.key for item in items] == [f"{key}:0:0", f"{key}:1", f"{key}:2:0"]  # as before: dedup holds


def test_ndjson_line_that_is_not_json_is_parked_as_its_exact_bytes() -> None:
    bad = b"\xff\xfe not json"
    data = json.dumps(sample_event(1)).encode() + b"\n" + bad + b"\n"
    parker = FakeParker()
    forwarder = Forwarder(make_settings(), sender=FakeSender(), parker=parker, clock=lambda: 1_764_000_100.0)

    forwarder.forward(kinesis, kinesis_event([kinesis_record(data, sequence_number="7")]), None)

    [parked] = parker.messages
    assert parked["source"]["item"] == "kin:shardId-000000000000:7:1"
    assert base64.b64decode(parked["event"]["base64"]) == bad


def test_gzip_json_array_is_decompressed() -> None:
    items = decode(gzip.compress(json.dumps([sample_event(1), sample_event(2)]).encode()))
    assert [item.payload for item in items] == [sample_event(1), sample_event(2)]


def test_corrupt_gzip_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        decode(gzip.compress(b'{"event":"x"}')[:12])


def test_cloudwatch_logs_data_message_is_one_item_per_log_event_keyed_by_log_event_id() -> None:
    data = cloudwatch_logs_data([json.dumps(sample_event(i)) for i in range(3)], timestamp_ms=1_764_000_001_000)
    document = json.loads(gzip.decompress(data))
    items = decode(data)
    assert [item.payload for item in items] == [sample_event(i) for i in range(3)]
    assert [item.key for item in items] == [f"cwl:{log['id']}:0" for log in document["logEvents"]]
    assert items[0].default_time_ms == document["logEvents"][0]["timestamp"]


def test_cloudwatch_logs_message_that_is_not_json_is_an_item_with_an_error() -> None:
    items = decode(cloudwatch_logs_data(["START RequestId: abc", json.dumps(sample_event(1))]))
    assert items[0].error is not None
    assert items[1].payload == sample_event(1)


def test_cloudwatch_logs_control_message_has_no_items_and_is_not_a_failure() -> None:
    assert decode(cloudwatch_logs_data([], control=True)) == []
    sender = FakeSender()
    invocation = kinesis_event([kinesis_record(cloudwatch_logs_data([], control=True))])
    result = Forwarder(make_settings(), sender=sender, clock=lambda: 1_764_000_100.0).forward(kinesis, invocation, None)
    assert result.response == {"batchItemFailures": []}
    assert sender.requests == []


@pytest.mark.parametrize("data", [b"", b"   ", b"\x00\x01\x02"])
def test_empty_or_binary_data_is_a_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode(data)


def test_data_that_is_not_base64_is_a_decode_error() -> None:
    record = kinesis_record(b"{}")
    record["kinesis"]["data"] = "%%%not base64%%%"
    _, [source] = kinesis.source_records(kinesis_event([record]))
    with pytest.raises(DecodeError):
        kinesis.decode(source)


def test_lone_event_is_one_item_with_lazy_key_identifier_and_origin() -> None:
    _, [source] = kinesis.source_records(
        kinesis_event([kinesis_record(json.dumps(sample_event(3)).encode(), sequence_number="42")])
    )
    [item] = kinesis.decode(source)
    assert item.payload == sample_event(3)
    assert item.key == "kin:shardId-000000000000:42:0"
    assert item.error is None
    assert source.identifier == "42"
    assert source.origin["shardId"] == "shardId-000000000000"
    assert source.origin["sequenceNumber"] == "42"


def test_kpl_sub_record_failure_reports_the_parent_sequence_number() -> None:
    aggregate = kpl_aggregate([json.dumps(sample_event(1)).encode(), json.dumps({"event": ""}).encode()])
    invocation = kinesis_event(
        [
            kinesis_record(json.dumps(sample_event(0)).encode(), sequence_number="100", index=0),
            kinesis_record(aggregate, sequence_number="200", index=1),
            kinesis_record(json.dumps(sample_event(2)).encode(), sequence_number="300", index=2),
        ]
    )
    sender = FakeSender()
    forwarder = Forwarder(make_settings(), sender=sender, clock=lambda: 1_764_000_100.0)
    result = forwarder.forward(kinesis, invocation, None)

    assert result.response == {"batchItemFailures": [{"itemIdentifier": "200"}]}
    assert len(sender.sent_events) == 3


def test_kpl_sub_record_parked_carries_its_sub_sequence() -> None:
    aggregate = kpl_aggregate([json.dumps(sample_event(1)).encode(), b"not json"])
    invocation = kinesis_event([kinesis_record(aggregate, sequence_number="200")])
    parker = FakeParker()
    forwarder = Forwarder(make_settings(), sender=FakeSender(), parker=parker, clock=lambda: 1_764_000_100.0)
    result = forwarder.forward(kinesis, invocation, None)

    assert result.response == {"batchItemFailures": []}
    [parked] = parker.messages
    assert parked["source"]["sequenceNumber"] == "200"
    assert parked["source"]["item"] == "kin:shardId-000000000000:200:1:0"
    assert parked["event"] == {"base64": "bm90IGpzb24="}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([0, 1, 127, 128, 129, 16_383, 16_384, 20_000]), min_size=1, max_size=4))
def test_kpl_sub_records_of_every_length_class_come_back_exactly(sizes: list[int]) -> None:
    # Lengths of one, two and three varint bytes, at their boundaries.
    records = [bytes([65 + n % 26]) * size for n, size in enumerate(sizes)]
    assert kpl.deaggregate(kpl_aggregate(records)) == records


@pytest.mark.parametrize("body", [b"\x1a", b"\x1a\x80", b"\x1a\x81\x80", b"\x1a\x05ab"])
def test_kpl_protobuf_cut_inside_a_length_is_malformed(body: bytes) -> None:
    import hashlib

    with pytest.raises(ValueError, match="KPL aggregate is malformed"):
        kpl.deaggregate(kpl.MAGIC + body + hashlib.md5(body).digest())
