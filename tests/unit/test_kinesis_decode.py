from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

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
    return [kinesis.item_for(record, decoded)] if isinstance(decoded, dict) else decoded


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


def test_kpl_checksum_mismatch_falls_back_to_a_plain_record() -> None:
    aggregate = bytearray(kpl_aggregate(encoded(sample_event(1))))
    aggregate[-1] ^= 0xFF
    assert not kpl.is_aggregated(bytes(aggregate))
    with pytest.raises(DecodeError):  # not aggregated, and not JSON either
        decode(bytes(aggregate))


def test_kpl_malformed_protobuf_with_valid_checksum_is_a_decode_error() -> None:
    import hashlib

    body = b"\x1a\xff\xff\xff\x0f"  # field 3, length far past the end
    with pytest.raises(DecodeError):
        decode(kpl.MAGIC + body + hashlib.md5(body).digest())


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


def test_lone_event_comes_back_bare_with_lazy_identifier_and_origin() -> None:
    _, [source] = kinesis.source_records(
        kinesis_event([kinesis_record(json.dumps(sample_event(3)).encode(), sequence_number="42")])
    )
    assert kinesis.decode(source) == sample_event(3)
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
