"""The event factories build what AWS delivers, and the committed samples are exactly what they generate."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from localdev import eventgen
from localdev.eventgen import (
    FIFO_QUEUE_ARN,
    QUEUE_ARN,
    STREAM_ARN,
    cloudwatch_logs_data,
    eventbridge_envelope,
    kinesis_event,
    kinesis_record,
    kpl_aggregate,
    lambda_context,
    sample_event,
    sns_envelope,
    sqs_event,
    sqs_record,
    write_samples,
)

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
UUID_LIKE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


# --- an independent protobuf reader, to check the KPL encoding without trusting the code under test -----


def read_varint(buffer: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buffer[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, position
        shift += 7


def read_message(buffer: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs; only varint and length-delimited wire types, as KPL uses."""
    fields: list[tuple[int, int | bytes]] = []
    position = 0
    while position < len(buffer):
        key, position = read_varint(buffer, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, position = read_varint(buffer, position)
            fields.append((number, value))
        elif wire_type == 2:
            length, position = read_varint(buffer, position)
            assert position + length <= len(buffer), "length-delimited field runs past the end"
            fields.append((number, buffer[position : position + length]))
            position += length
        else:
            pytest.fail(f"unexpected wire type {wire_type}")
    assert position == len(buffer)
    return fields


def read_kpl(data: bytes) -> list[tuple[str, bytes]]:
    """(partition key, data) of each user record, after checking magic and MD5."""
    assert data[:4] == b"\xf3\x89\x9a\xc2"
    protobuf, digest = data[4:-16], data[-16:]
    assert hashlib.md5(protobuf).digest() == digest
    keys: list[str] = []
    records: list[tuple[str, bytes]] = []
    for number, value in read_message(protobuf):
        assert isinstance(value, bytes)
        if number == 1:
            keys.append(value.decode())
        elif number == 3:
            record = dict(read_message(value))
            assert set(record) <= {1, 2, 3, 4}
            index, payload = record[1], record[3]
            assert isinstance(index, int)
            assert isinstance(payload, bytes)
            records.append((keys[index], payload))
        else:
            assert number == 2, f"unexpected AggregatedRecord field {number}"
    return records


def load_sample(name: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))
    return value


def kinesis_data(record: dict[str, Any]) -> bytes:
    return base64.b64decode(record["kinesis"]["data"], validate=True)


# --- sample_event -----------------------------------------------------------------------------------------


def test_sample_event_is_realistic_in_size_and_property_count() -> None:
    for i in range(300):
        event = sample_event(i)
        size = len(json.dumps(event, separators=(",", ":")))
        assert 400 <= size <= 700, (i, size)
        assert 13 <= len(event["properties"]) <= 17
        assert isinstance(event["event"], str)
        assert event["event"]
        assert isinstance(event["properties"]["items"], list)


def test_sample_event_core_properties_follow_the_index() -> None:
    event = sample_event(200, time_s=1_700_000_000)
    properties = event["properties"]
    assert properties["time"] == 1_700_000_200
    assert properties["distinct_id"] == "user-6"  # 200 % 97
    assert UUID_LIKE.fullmatch(properties["$insert_id"])
    assert sample_event(5, distinct_id="alice")["properties"]["distinct_id"] == "alice"
    assert "$insert_id" not in sample_event(5, insert_id=False)["properties"]


def test_sample_event_is_deterministic_and_insert_ids_are_unique() -> None:
    assert sample_event(42) == sample_event(42)
    insert_ids = {sample_event(i)["properties"]["$insert_id"] for i in range(2000)}
    assert len(insert_ids) == 2000


def test_sample_event_amount_is_the_sum_of_its_items() -> None:
    for i in range(20):
        properties = sample_event(i)["properties"]
        total = sum(item["price"] * item["quantity"] for item in properties["items"])
        assert properties["amount"] == pytest.approx(total)


# --- SQS --------------------------------------------------------------------------------------------------


def test_sqs_record_md5_of_body_is_the_md5_of_the_body() -> None:
    for body in ('{"event":"x"}', "not json", "café ☕ ünïcode"):
        record = sqs_record(body)
        assert record["md5OfBody"] == hashlib.md5(body.encode("utf-8")).hexdigest()
        assert record["body"] == body


def test_sqs_record_has_the_standard_queue_shape() -> None:
    record = sqs_record("{}", index=3, sent_timestamp_ms=1_764_000_123_456)
    assert set(record) == {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }
    assert UUID_LIKE.fullmatch(record["messageId"])
    assert record["messageId"] == sqs_record("other body", index=3)["messageId"]
    assert record["messageId"] != sqs_record("{}", index=4)["messageId"]
    assert record["attributes"] == {
        "ApproximateReceiveCount": "1",
        "SentTimestamp": "1764000123456",
        "SenderId": record["attributes"]["SenderId"],
        "ApproximateFirstReceiveTimestamp": record["attributes"]["ApproximateFirstReceiveTimestamp"],
    }
    assert int(record["attributes"]["ApproximateFirstReceiveTimestamp"]) >= 1_764_000_123_456
    assert record["messageAttributes"] == {}
    assert (record["eventSource"], record["eventSourceARN"], record["awsRegion"]) == (
        "aws:sqs",
        QUEUE_ARN,
        "us-east-1",
    )
    assert sqs_record("{}", message_id="m-1")["messageId"] == "m-1"


def test_sqs_record_on_a_fifo_queue_carries_group_dedup_and_sequence() -> None:
    first = sqs_record('{"a":1}', index=0, queue_arn=FIFO_QUEUE_ARN, group_id="g-1")
    second = sqs_record('{"a":2}', index=1, queue_arn=FIFO_QUEUE_ARN, group_id="g-2")
    for record, group, body in ((first, "g-1", '{"a":1}'), (second, "g-2", '{"a":2}')):
        attributes = record["attributes"]
        assert record["eventSourceARN"].endswith(".fifo")
        assert attributes["MessageGroupId"] == group
        assert attributes["MessageDeduplicationId"] == hashlib.sha256(body.encode()).hexdigest()
        assert attributes["SequenceNumber"].isdigit()
    assert int(second["attributes"]["SequenceNumber"]) > int(first["attributes"]["SequenceNumber"])
    assert "MessageGroupId" in sqs_record("{}", queue_arn=FIFO_QUEUE_ARN)["attributes"]  # FIFO always has one
    assert "SequenceNumber" not in sqs_record("{}")["attributes"]


def test_sqs_event_wraps_records() -> None:
    records = [sqs_record("{}", index=n) for n in range(3)]
    assert sqs_event(records) == {"Records": records}


# --- Kinesis ----------------------------------------------------------------------------------------------


def test_kinesis_record_has_the_lambda_shape_and_base64_data() -> None:
    data = b"\x00\x01binary\xff"
    record = kinesis_record(data, index=2, shard_id="shardId-000000000003", arrival_s=1_764_000_001.25)
    kinesis = record["kinesis"]
    assert kinesis_data(record) == data
    assert kinesis["kinesisSchemaVersion"] == "1.0"
    assert kinesis["approximateArrivalTimestamp"] == 1_764_000_001.25
    assert isinstance(kinesis["partitionKey"], str)
    assert kinesis["partitionKey"]
    assert record["eventID"] == f"shardId-000000000003:{kinesis['sequenceNumber']}"
    assert (record["eventSource"], record["eventVersion"], record["eventName"]) == (
        "aws:kinesis",
        "1.0",
        "aws:kinesis:record",
    )
    assert record["eventSourceARN"] == STREAM_ARN
    assert record["invokeIdentityArn"].startswith("arn:aws:iam::")
    assert kinesis_event([record]) == {"Records": [record]}


def test_kinesis_sequence_numbers_are_56_digits_and_grow_with_the_index() -> None:
    numbers = [kinesis_record(b"x", index=n)["kinesis"]["sequenceNumber"] for n in (0, 1, 2, 10, 1_000_000)]
    assert all(len(number) == 56 and number.isdigit() for number in numbers)
    assert [int(number) for number in numbers] == sorted({int(number) for number in numbers})
    explicit = kinesis_record(b"x", sequence_number="7", partition_key="pk")
    assert (explicit["kinesis"]["sequenceNumber"], explicit["eventID"]) == ("7", "shardId-000000000000:7")
    assert explicit["kinesis"]["partitionKey"] == "pk"


def test_kpl_aggregate_parses_back_with_md5_keys_and_data() -> None:
    records = [b'{"n":0}', b"x" * 200, b"y" * 20_000, b""]  # 200 and 20k bytes need 2- and 3-byte varints
    keys = ["alpha", "beta", "alpha", "gamma"]
    aggregate = kpl_aggregate(records, partition_keys=keys)
    assert read_kpl(aggregate) == list(zip(keys, records, strict=True))
    # Each distinct key is stored once in the table.
    table = [value for number, value in read_message(aggregate[4:-16]) if number == 1]
    assert table == [b"alpha", b"beta", b"gamma"]


def test_kpl_aggregate_default_keys_and_bad_arguments() -> None:
    records = [json.dumps(sample_event(i)).encode() for i in range(5)]
    assert read_kpl(kpl_aggregate(records)) == [(f"user-{i}", records[i]) for i in range(5)]
    with pytest.raises(ValueError, match="partition keys"):
        kpl_aggregate(records, partition_keys=["only-one"])
    with pytest.raises(ValueError, match="at least one"):
        kpl_aggregate([])


# --- CloudWatch Logs, SNS, EventBridge ---------------------------------------------------------------------


def test_cloudwatch_logs_data_gunzips_to_a_data_message() -> None:
    messages = [json.dumps(sample_event(i)) for i in range(3)]
    data = cloudwatch_logs_data(messages, log_group="/aws/lambda/cart", first_id=10, timestamp_ms=1_764_000_000_000)
    assert data[:2] == b"\x1f\x8b"
    document = json.loads(gzip.decompress(data))
    assert document["messageType"] == "DATA_MESSAGE"
    assert document["owner"] == "123456789012"
    assert document["logGroup"] == "/aws/lambda/cart"
    assert document["logStream"].startswith("2025/11/24/[$LATEST]")
    assert document["subscriptionFilters"]
    assert [log_event["message"] for log_event in document["logEvents"]] == messages
    ids = [log_event["id"] for log_event in document["logEvents"]]
    assert all(len(id_) == 56 and id_.isdigit() for id_ in ids)
    assert len(set(ids)) == 3
    assert ids != [e["id"] for e in json.loads(gzip.decompress(cloudwatch_logs_data(messages)))["logEvents"]]
    assert [log_event["timestamp"] for log_event in document["logEvents"]] == [1_764_000_000_000 + n for n in range(3)]


def test_cloudwatch_logs_control_message_is_the_health_probe() -> None:
    document = json.loads(gzip.decompress(cloudwatch_logs_data(["ignored"], control=True, timestamp_ms=5)))
    assert document == {
        "messageType": "CONTROL_MESSAGE",
        "owner": "CloudwatchLogs",
        "logGroup": "",
        "logStream": "",
        "subscriptionFilters": [],
        "logEvents": [
            {"id": "", "timestamp": 5, "message": "CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}
        ],
    }


def test_gzip_output_is_stable_between_calls() -> None:
    assert cloudwatch_logs_data(["a", "b"]) == cloudwatch_logs_data(["a", "b"])


def test_sns_envelope_is_a_json_notification_carrying_the_message() -> None:
    message = json.dumps(sample_event(1))
    notification = json.loads(sns_envelope(message, index=4))
    assert set(notification) == {
        "Type",
        "MessageId",
        "TopicArn",
        "Message",
        "Timestamp",
        "SignatureVersion",
        "Signature",
        "SigningCertURL",
        "UnsubscribeURL",
    }
    assert notification["Type"] == "Notification"
    assert notification["Message"] == message
    assert notification["TopicArn"].startswith("arn:aws:sns:us-east-1:")
    assert UUID_LIKE.fullmatch(notification["MessageId"])
    assert notification["Timestamp"].endswith("Z")
    assert datetime.fromisoformat(notification["Timestamp"]).year == 2025
    assert base64.b64decode(notification["Signature"], validate=True)
    assert notification["SigningCertURL"].startswith("https://sns.us-east-1.amazonaws.com/")
    assert json.loads(sns_envelope("m", message_id="fixed"))["MessageId"] == "fixed"
    assert json.loads(sns_envelope("m", index=1))["MessageId"] != json.loads(sns_envelope("m", index=2))["MessageId"]


def test_eventbridge_envelope_carries_the_event_in_detail() -> None:
    detail = sample_event(2)
    envelope = json.loads(eventbridge_envelope(detail, index=7, detail_type="Checkout"))
    assert list(envelope) == [
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    ]
    assert envelope["version"] == "0"
    assert envelope["detail-type"] == "Checkout"
    assert envelope["source"] == "com.example.product"
    assert envelope["detail"] == detail
    assert envelope["resources"] == []
    assert UUID_LIKE.fullmatch(envelope["id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", envelope["time"])
    assert json.loads(eventbridge_envelope({}, event_id="e-1"))["id"] == "e-1"


# --- Lambda context ---------------------------------------------------------------------------------------


def test_lambda_context_counts_down_in_real_time() -> None:
    context = lambda_context(remaining_ms=5_000)
    first = context.get_remaining_time_in_millis()
    assert 4_500 <= first <= 5_000
    time.sleep(0.05)
    second = context.get_remaining_time_in_millis()
    assert second <= first - 40
    assert lambda_context(remaining_ms=0).get_remaining_time_in_millis() == 0


def test_lambda_context_has_what_powertools_reads() -> None:
    context = lambda_context(function_name="fwd")
    assert context.function_name == "fwd"
    assert context.function_version == "$LATEST"
    assert context.memory_limit_in_mb == 256
    assert context.invoked_function_arn == "arn:aws:lambda:us-east-1:123456789012:function:fwd"
    assert UUID_LIKE.fullmatch(context.aws_request_id)
    assert context.aws_request_id != lambda_context().aws_request_id
    assert context.log_group_name == "/aws/lambda/fwd"
    assert context.log_stream_name


# --- sample files -----------------------------------------------------------------------------------------


def _gunzipped(sample: bytes) -> Any:
    """A sample file with its gzip-compressed Kinesis data (base64 "H4sI…") decompressed: zlib's bytes differ
    from one Python (and zlib) version to another, what they hold does not."""
    event = json.loads(sample)
    for record in event.get("Records", []):
        data = base64.b64decode(record.get("kinesis", {}).get("data", ""))
        if data[:2] == b"\x1f\x8b":
            record["kinesis"]["data"] = gzip.decompress(data).decode("utf-8", "backslashreplace")
    return event


def test_committed_samples_are_exactly_what_write_samples_produces(tmp_path: Path) -> None:
    paths = write_samples(tmp_path / "events")
    assert {path.name for path in paths} == {path.name for path in EVENTS_DIR.glob("*.json")}
    for path in paths:
        committed = (EVENTS_DIR / path.name).read_bytes()
        produced = path.read_bytes()
        same = committed == produced or (b'"H4sI' in committed and _gunzipped(committed) == _gunzipped(produced))
        assert same, f"events/{path.name} drifted: run python -m localdev.eventgen"
    readme = (EVENTS_DIR / "README.md").read_text(encoding="utf-8")
    assert readme == eventgen.samples_readme(), "events/README.md drifted: run python -m localdev.eventgen"


def test_cli_writes_samples_and_readme(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert eventgen.main(["--out", str(tmp_path)]) == 0
    written = sorted(path.name for path in tmp_path.iterdir())
    assert written == sorted([*(path.name for path in EVENTS_DIR.glob("*.json")), "README.md"])
    assert "README.md" in capsys.readouterr().out


def test_every_sample_is_pretty_printed_small_and_listed_in_the_readme() -> None:
    readme = (EVENTS_DIR / "README.md").read_text(encoding="utf-8")
    for path in EVENTS_DIR.glob("*.json"):
        text = path.read_text(encoding="utf-8")
        assert text == json.dumps(json.loads(text), indent=2) + "\n"
        assert len(text.encode()) < 30_000
        assert f"`{path.name}`" in readme


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("sqs-standard.json", 5),
        ("sqs-batch-array.json", 2),
        ("sqs-ndjson.json", 1),
        ("sqs-fifo.json", 4),
        ("sqs-sns.json", 3),
        ("sqs-eventbridge.json", 3),
        ("sqs-poison.json", 6),
        ("kinesis-plain.json", 4),
        ("kinesis-gzip.json", 2),
        ("kinesis-kpl.json", 2),
        ("kinesis-cloudwatch-logs.json", 2),
        ("kinesis-poison.json", 4),
    ],
)
def test_sample_has_its_record_count_and_a_consistent_shape(name: str, count: int) -> None:
    records = load_sample(name)["Records"]
    assert len(records) == count
    if name.startswith("sqs"):
        ids = [record["messageId"] for record in records]
        assert len(set(ids)) == count
        for record in records:
            assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()
    else:
        numbers = [int(record["kinesis"]["sequenceNumber"]) for record in records]
        assert numbers == sorted(set(numbers))  # one shard, in order


def test_sample_sqs_bodies_hold_the_documented_payloads() -> None:
    arrays = [json.loads(r["body"]) for r in load_sample("sqs-batch-array.json")["Records"]]
    assert [len(array) for array in arrays] == [3, 3]
    [ndjson] = load_sample("sqs-ndjson.json")["Records"]
    lines = ndjson["body"].splitlines()
    assert len(lines) == 4
    assert all(json.loads(line)["event"] for line in lines)
    fifo = load_sample("sqs-fifo.json")["Records"]
    assert all(r["eventSourceARN"] == FIFO_QUEUE_ARN for r in fifo)
    assert len({r["attributes"]["MessageGroupId"] for r in fifo}) == 2
    for record in load_sample("sqs-sns.json")["Records"]:
        notification = json.loads(record["body"])
        assert notification["Type"] == "Notification"
        assert "event" in json.loads(notification["Message"])
    for record in load_sample("sqs-eventbridge.json")["Records"]:
        assert "event" in json.loads(record["body"])["detail"]


def test_sample_sqs_poison_has_one_of_each_defect() -> None:
    bodies = [r["body"] for r in load_sample("sqs-poison.json")["Records"]]
    valid = [json.loads(body) for body in bodies[:2]]
    assert all(event["event"] and event["properties"]["time"] > 1_700_000_000 for event in valid)
    with pytest.raises(json.JSONDecodeError):
        json.loads(bodies[2])
    nameless, old, undefined = (json.loads(body) for body in bodies[3:])
    assert "event" not in nameless
    assert datetime.fromtimestamp(old["properties"]["time"], UTC).year == 1960
    assert undefined["properties"]["distinct_id"] == "undefined"


def test_sample_kinesis_payloads_decode_as_documented() -> None:
    gzip_records = load_sample("kinesis-gzip.json")["Records"]
    assert all(len(json.loads(gzip.decompress(kinesis_data(r)))) == 5 for r in gzip_records)

    aggregate, plain = load_sample("kinesis-kpl.json")["Records"]
    user_records = read_kpl(kinesis_data(aggregate))
    assert len(user_records) == 5
    assert aggregate["kinesis"]["partitionKey"] == user_records[0][0]
    for key, data in user_records:
        assert json.loads(data)["properties"]["distinct_id"] == key
    assert "event" in json.loads(kinesis_data(plain))

    data_message, control = (
        json.loads(gzip.decompress(kinesis_data(r))) for r in load_sample("kinesis-cloudwatch-logs.json")["Records"]
    )
    assert data_message["messageType"] == "DATA_MESSAGE"
    assert ["event" in json.loads(e["message"]) for e in data_message["logEvents"]] == [True] * 3
    assert control["messageType"] == "CONTROL_MESSAGE"

    poison = [kinesis_data(r) for r in load_sample("kinesis-poison.json")["Records"]]
    garbage = poison[2]
    assert not garbage.startswith((b"\x1f\x8b", b"\xf3\x89\x9a\xc2"))
    with pytest.raises(UnicodeDecodeError):
        garbage.decode("utf-8")
    assert json.loads(poison[3])["properties"]["$insert_id"] == "null"
    assert all("$insert_id" in json.loads(data)["properties"] for data in poison[:2])


def test_samples_use_distinct_insert_ids_across_files() -> None:
    """Each sample draws from its own index range, so a demo can send them all without dedup collisions."""
    seen: list[str] = []
    for path in sorted(EVENTS_DIR.glob("*.json")):
        texts = [path.read_text(encoding="utf-8")]
        for record in json.loads(texts[0])["Records"]:
            if "kinesis" in record:
                data = kinesis_data(record)
                texts.append((gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).decode("latin-1"))
        for text in texts:
            seen.extend(re.findall(r'\$insert_id[\\"]*:[\\"]*([0-9a-f-]{36})', text))
    assert len(seen) == len(set(seen)) >= 40
