"""Factories for real-shaped Lambda invocation events (SQS, Kinesis, and the envelopes inside them), and the
sample files in `events/` built from them. Everything is deterministic: same arguments, same bytes.

Regenerate the samples with `python -m localdev.eventgen [--out events]`.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import json
import random
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:product-events"
FIFO_QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:product-events.fifo"
STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/product-events"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:product-events"
KPL_MAGIC = b"\xf3\x89\x9a\xc2"

# 2025-11-24T16:00:00Z: every generated id and timestamp is derived from this and an index.
_T0_S = 1_764_000_000
_T0_MS = _T0_S * 1000
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "eventgen.localdev.example.com")
_SENDER_ID = "AIDAIENQZJOLO23YVJ4VO"
_INVOKE_ROLE_ARN = "arn:aws:iam::123456789012:role/mixpanel-forwarder-role"
# Shaped like AWS's own: Kinesis sequence numbers and CloudWatch Logs event ids are 56-digit decimals.
_SEQUENCE_BASE = 49_667_004_192_835_417_200_330_891_847_526_731_045_562_370_000_000_000_000
_SEQUENCE_STEP = 2**64
_FIFO_SEQUENCE_BASE = 18_890_000_000_000_000_000
_LOG_EVENT_ID_BASE = 38_937_481_207_418_529_033_101_462_884_190_556_271_904_318_000_000_000_000
_CONTROL_MESSAGE = "CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."
_EPOCH_1960_S = -315_619_200  # 1960-01-01T00:00:00Z: Mixpanel refuses times before 1971

_EVENT_NAMES = ("Page Viewed", "Product Viewed", "Added To Cart", "Checkout Started", "Order Completed", "Signed Up")
_BROWSERS = (("Chrome", 131), ("Safari", 18), ("Firefox", 133), ("Edge", 131))
_OSES = ("Mac OS X", "Windows", "iOS", "Android", "Linux")
_PAGES = ("/", "/pricing", "/products/trail-runner-2", "/cart", "/checkout", "/signup")
_REFERRERS = ("https://www.google.com/", "https://news.ycombinator.com/", "https://t.co/", "$direct")
_PLANS = ("free", "starter", "growth", "enterprise")
_UTM = (("google", "black-friday-2025"), ("newsletter", "nov-digest"), ("twitter", "launch-week"), ("direct", ""))
_SKUS = ("SKU-1042", "SKU-2217", "SKU-3090", "SKU-4451", "SKU-5173")


def _uuid(kind: str, index: int) -> str:
    """A uuid-shaped id (36 characters) fixed by `kind` and `index`."""
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{index}"))


def _iso_ms(epoch_ms: int) -> str:
    return f"{datetime.fromtimestamp(epoch_ms // 1000, UTC):%Y-%m-%dT%H:%M:%S}.{epoch_ms % 1000:03d}Z"


def _iso_s(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _gzip(data: bytes) -> bytes:
    # mtime=0 keeps the bytes stable from run to run.
    return gzip.compress(data, compresslevel=6, mtime=0)


def sample_event(
    i: int, *, time_s: int = _T0_S, distinct_id: str | None = None, insert_id: bool = True
) -> dict[str, Any]:
    """A realistic Mixpanel event (15 properties, ~500 bytes of JSON), fixed by `i`."""
    browser, version = _BROWSERS[i % len(_BROWSERS)]
    page = _PAGES[i % len(_PAGES)]
    utm_source, utm_campaign = _UTM[i % len(_UTM)]
    lines = [(_SKUS[(i + n) % len(_SKUS)], 1 + (i + n) % 2, 999 + 500 * ((i + n) % 7)) for n in range(1 + i % 3)]
    items = [{"sku": sku, "quantity": quantity, "price": cents / 100} for sku, quantity, cents in lines]
    amount = sum(quantity * cents for _, quantity, cents in lines) / 100
    properties: dict[str, Any] = {
        "time": time_s + i,
        "distinct_id": distinct_id if distinct_id is not None else f"user-{i % 97}",
    }
    if insert_id:
        properties["$insert_id"] = _uuid("event", i)
    properties.update(
        {
            "$browser": browser,
            "$browser_version": version,
            "$os": _OSES[i % len(_OSES)],
            "$current_url": f"https://shop.example.com{page}?utm_source={utm_source}",
            "$referrer": _REFERRERS[i % len(_REFERRERS)],
            "$screen_width": (1440, 1920, 390, 412)[i % 4],
            "plan": _PLANS[i % len(_PLANS)],
            "amount": amount,
            "currency": "USD",
            "items": items,
            "utm_source": utm_source,
            "utm_campaign": utm_campaign,
        }
    )
    return {"event": _EVENT_NAMES[i % len(_EVENT_NAMES)], "properties": properties}


def sqs_record(
    body: str,
    *,
    message_id: str | None = None,
    index: int = 0,
    queue_arn: str = QUEUE_ARN,
    group_id: str | None = None,
    sent_timestamp_ms: int = _T0_MS,
) -> dict[str, Any]:
    """One SQS record as Lambda delivers it; FIFO attributes when `queue_arn` ends with `.fifo`."""
    message_id = message_id if message_id is not None else _uuid("sqs-message", index)
    fifo = queue_arn.endswith(".fifo")
    attributes = {"ApproximateReceiveCount": "1", "SentTimestamp": str(sent_timestamp_ms)}
    if fifo:
        attributes["SequenceNumber"] = str(_FIFO_SEQUENCE_BASE + index * 65_536)
    if fifo or group_id is not None:  # standard queues accept a group id too (fair queues)
        attributes["MessageGroupId"] = group_id if group_id is not None else "product-events"
    attributes["SenderId"] = _SENDER_ID
    if fifo:  # content-based deduplication: the SHA-256 of the body
        attributes["MessageDeduplicationId"] = hashlib.sha256(body.encode()).hexdigest()
    attributes["ApproximateFirstReceiveTimestamp"] = str(sent_timestamp_ms + 7)
    handle_seed = hashlib.sha256(message_id.encode()).digest()
    return {
        "messageId": message_id,
        "receiptHandle": "AQEB" + base64.b64encode(handle_seed * 3).decode(),
        "body": body,
        "attributes": attributes,
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def sqs_event(records: list[dict[str, Any]]) -> dict[str, Any]:
    """An SQS invocation event."""
    return {"Records": records}


def kinesis_record(
    data: bytes,
    *,
    sequence_number: str | None = None,
    index: int = 0,
    shard_id: str = "shardId-000000000000",
    partition_key: str | None = None,
    stream_arn: str = STREAM_ARN,
    arrival_s: float = _T0_S + 0.5,
) -> dict[str, Any]:
    """One Kinesis record as Lambda delivers it; sequence numbers grow with `index`."""
    sequence_number = sequence_number if sequence_number is not None else str(_SEQUENCE_BASE + index * _SEQUENCE_STEP)
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key if partition_key is not None else f"user-{index % 97}",
            "sequenceNumber": sequence_number,
            "data": base64.b64encode(data).decode(),
            "approximateArrivalTimestamp": arrival_s,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{sequence_number}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": _INVOKE_ROLE_ARN,
        "awsRegion": REGION,
        "eventSourceARN": stream_arn,
    }


def kinesis_event(records: list[dict[str, Any]]) -> dict[str, Any]:
    """A Kinesis invocation event."""
    return {"Records": records}


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _varint_field(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _bytes_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def kpl_aggregate(records: list[bytes], *, partition_keys: list[str] | None = None) -> bytes:
    """A KPL aggregated record: magic, protobuf `AggregatedRecord`, MD5 of the protobuf.

    Partition keys (default `user-{position % 97}`) go once each into the key table, in first-use order.
    """
    if not records:
        raise ValueError("a KPL aggregate holds at least one record")
    keys = partition_keys if partition_keys is not None else [f"user-{n % 97}" for n in range(len(records))]
    if len(keys) != len(records):
        raise ValueError(f"{len(keys)} partition keys for {len(records)} records")
    table: dict[str, int] = {}
    for key in keys:
        table.setdefault(key, len(table))
    protobuf = b"".join(_bytes_field(1, key.encode()) for key in table) + b"".join(
        _bytes_field(3, _varint_field(1, table[key]) + _bytes_field(3, data))
        for key, data in zip(keys, records, strict=True)
    )
    return KPL_MAGIC + protobuf + hashlib.md5(protobuf, usedforsecurity=False).digest()


def cloudwatch_logs_data(
    messages: list[str],
    *,
    control: bool = False,
    log_group: str = "/aws/lambda/checkout",
    first_id: int = 0,
    timestamp_ms: int = _T0_MS,
) -> bytes:
    """A gzip-compressed CloudWatch Logs subscription document, as a subscription filter puts it on a stream.

    `control=True` gives CloudWatch's health probe instead (and ignores `messages`).
    """
    if control:
        document: dict[str, Any] = {
            "messageType": "CONTROL_MESSAGE",
            "owner": "CloudwatchLogs",
            "logGroup": "",
            "logStream": "",
            "subscriptionFilters": [],
            "logEvents": [{"id": "", "timestamp": timestamp_ms, "message": _CONTROL_MESSAGE}],
        }
    else:
        stream_suffix = hashlib.md5(log_group.encode(), usedforsecurity=False).hexdigest()
        document = {
            "messageType": "DATA_MESSAGE",
            "owner": ACCOUNT_ID,
            "logGroup": log_group,
            "logStream": f"{_iso_s(timestamp_ms // 1000)[:10].replace('-', '/')}/[$LATEST]{stream_suffix}",
            "subscriptionFilters": ["mixpanel-forwarder"],
            "logEvents": [
                {
                    "id": str(_LOG_EVENT_ID_BASE + first_id + position),
                    "timestamp": timestamp_ms + position,
                    "message": m,
                }
                for position, m in enumerate(messages)
            ],
        }
    return _gzip(_compact(document).encode())


def sns_envelope(message: str, *, message_id: str | None = None, index: int = 0) -> str:
    """An SNS notification as SNS delivers it to an SQS queue without raw message delivery."""
    message_id = message_id if message_id is not None else _uuid("sns-message", index)
    signature = b"".join(hashlib.sha512(f"{message_id}:{n}".encode()).digest() for n in range(4))
    certificate = hashlib.md5(b"sns-signing-certificate", usedforsecurity=False).hexdigest()
    notification = {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": TOPIC_ARN,
        "Message": message,
        "Timestamp": _iso_ms(_T0_MS + index * 1000 + 250),
        "SignatureVersion": "1",
        "Signature": base64.b64encode(signature).decode(),
        "SigningCertURL": f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-{certificate}.pem",
        "UnsubscribeURL": (
            f"https://sns.{REGION}.amazonaws.com/?Action=Unsubscribe"
            f"&SubscriptionArn={TOPIC_ARN}:{_uuid('sns-subscription', 0)}"
        ),
    }
    # SNS pretty-prints its envelope this way (`"Type" : "Notification"`).
    return json.dumps(notification, indent=2, separators=(",", " : "))


def eventbridge_envelope(
    detail: dict[str, Any], *, event_id: str | None = None, index: int = 0, detail_type: str = "Product Event"
) -> str:
    """An EventBridge event as a rule delivers it to an SQS target."""
    return _compact(
        {
            "version": "0",
            "id": event_id if event_id is not None else _uuid("eventbridge-event", index),
            "detail-type": detail_type,
            "source": "com.example.product",
            "account": ACCOUNT_ID,
            "time": _iso_s(_T0_S + index),
            "region": REGION,
            "resources": [],
            "detail": detail,
        }
    )


class LambdaContext:
    """Stand-in for the runtime's context object: the attributes Powertools' Logger and the forwarder read."""

    def __init__(self, *, remaining_ms: int, function_name: str) -> None:
        self._deadline = time.monotonic() + remaining_ms / 1000
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 256
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"2025/11/24/[$LATEST]{uuid.UUID(self.aws_request_id).hex}"
        self.identity = None
        self.client_context = None
        self.tenant_id = None

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the deadline, counting down in real time; never negative."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def lambda_context(*, remaining_ms: int = 60_000, function_name: str = "mixpanel-forwarder") -> LambdaContext:
    """A context whose remaining time counts down from `remaining_ms`, starting now."""
    return LambdaContext(remaining_ms=remaining_ms, function_name=function_name)


# --- sample files ------------------------------------------------------------------------------------------
# Each sample uses its own range of event indices, so no two files share a message id or an $insert_id.


def _body(i: int, **overrides: Any) -> str:
    return _compact(sample_event(i, **overrides))


def _sent_ms(i: int) -> int:
    return _T0_MS + i * 1000 + 120


def _sqs_standard() -> dict[str, Any]:
    return sqs_event([sqs_record(_body(i), index=i, sent_timestamp_ms=_sent_ms(i)) for i in range(5)])


def _sqs_batch_array() -> dict[str, Any]:
    return sqs_event(
        [
            sqs_record(
                _compact([sample_event(i) for i in range(first, first + 3)]),
                index=first,
                sent_timestamp_ms=_sent_ms(first + 2),
            )
            for first in (100, 103)
        ]
    )


def _sqs_ndjson() -> dict[str, Any]:
    body = "".join(_body(i) + "\n" for i in range(200, 204))
    return sqs_event([sqs_record(body, index=200, sent_timestamp_ms=_sent_ms(203))])


def _sqs_fifo() -> dict[str, Any]:
    groups = ("user-41", "user-42", "user-41", "user-42")
    return sqs_event(
        [
            sqs_record(
                _body(i, distinct_id=group),
                index=i,
                queue_arn=FIFO_QUEUE_ARN,
                group_id=group,
                sent_timestamp_ms=_sent_ms(i),
            )
            for i, group in zip(range(300, 304), groups, strict=True)
        ]
    )


def _sqs_sns() -> dict[str, Any]:
    return sqs_event(
        [sqs_record(sns_envelope(_body(i), index=i), index=i, sent_timestamp_ms=_sent_ms(i)) for i in range(400, 403)]
    )


def _sqs_eventbridge() -> dict[str, Any]:
    return sqs_event(
        [
            sqs_record(eventbridge_envelope(sample_event(i), index=i), index=i, sent_timestamp_ms=_sent_ms(i))
            for i in range(500, 503)
        ]
    )


def _sqs_poison() -> dict[str, Any]:
    nameless = sample_event(603)
    del nameless["event"]
    bodies = [
        _body(600),
        _body(601),
        "purchase completed for user-17, amount=42.00 (not JSON)",
        _compact(nameless),
        _body(604, time_s=_EPOCH_1960_S - 604),
        _body(605, distinct_id="undefined"),
    ]
    return sqs_event(
        [sqs_record(body, index=i, sent_timestamp_ms=_sent_ms(i)) for i, body in enumerate(bodies, start=600)]
    )


def _arrival_s(i: int) -> float:
    return _T0_S + i + 0.25


def _kinesis_plain() -> dict[str, Any]:
    return kinesis_event([kinesis_record(_body(i).encode(), index=i, arrival_s=_arrival_s(i)) for i in range(700, 704)])


def _kinesis_gzip() -> dict[str, Any]:
    return kinesis_event(
        [
            kinesis_record(
                _gzip(_compact([sample_event(i) for i in range(first, first + 5)]).encode()),
                index=first,
                arrival_s=_arrival_s(first + 4),
            )
            for first in (800, 805)
        ]
    )


def _kinesis_kpl() -> dict[str, Any]:
    user_records = [_body(i).encode() for i in range(900, 905)]
    keys = [f"user-{i % 97}" for i in range(900, 905)]
    return kinesis_event(
        [
            # The KPL puts an aggregate on the stream under its first user record's partition key.
            kinesis_record(
                kpl_aggregate(user_records, partition_keys=keys),
                index=900,
                partition_key=keys[0],
                arrival_s=_arrival_s(904),
            ),
            kinesis_record(_body(905).encode(), index=905, arrival_s=_arrival_s(905)),
        ]
    )


def _kinesis_cloudwatch_logs() -> dict[str, Any]:
    data = cloudwatch_logs_data([_body(i) for i in range(1000, 1003)], first_id=1000, timestamp_ms=_sent_ms(1000))
    probe = cloudwatch_logs_data([], control=True, timestamp_ms=_sent_ms(1003))
    return kinesis_event(
        [
            kinesis_record(data, index=1000, arrival_s=_arrival_s(1002)),
            kinesis_record(probe, index=1003, arrival_s=_arrival_s(1003)),
        ]
    )


def _kinesis_poison() -> dict[str, Any]:
    garbage = random.Random(1104).randbytes(64)  # seeded: starts with neither the KPL nor the gzip magic
    null_insert_id = sample_event(1103)
    null_insert_id["properties"]["$insert_id"] = "null"
    data = [_body(1100).encode(), _body(1101).encode(), garbage, _compact(null_insert_id).encode()]
    return kinesis_event([kinesis_record(d, index=i, arrival_s=_arrival_s(i)) for i, d in enumerate(data, start=1100)])


_SAMPLES: tuple[tuple[str, str, Callable[[], dict[str, Any]]], ...] = (
    ("sqs-standard.json", "SQS standard queue, 5 records, each body one event object.", _sqs_standard),
    ("sqs-batch-array.json", "SQS, 2 records, each body a JSON array of 3 events (6 events).", _sqs_batch_array),
    ("sqs-ndjson.json", "SQS, 1 record whose body is 4 NDJSON lines (4 events).", _sqs_ndjson),
    (
        "sqs-fifo.json",
        "SQS FIFO queue (`.fifo` ARN), 4 records in 2 message groups (`MessageGroupId` user-41, user-42).",
        _sqs_fifo,
    ),
    (
        "sqs-sns.json",
        "SQS subscribed to an SNS topic without raw delivery: 3 notifications, the event in `Message`.",
        _sqs_sns,
    ),
    (
        "sqs-eventbridge.json",
        "SQS as an EventBridge rule target: 3 EventBridge events, the event object in `detail`.",
        _sqs_eventbridge,
    ),
    (
        "sqs-poison.json",
        "SQS, 6 records: 2 valid events, then one of each defect that cannot be imported: a body that is not JSON, "
        "an event without a name, a time in 1960, distinct_id `undefined`. Only the 2 valid ones can be imported.",
        _sqs_poison,
    ),
    ("kinesis-plain.json", "Kinesis, 4 records, each one JSON event.", _kinesis_plain),
    ("kinesis-gzip.json", "Kinesis, 2 records, each a gzip-compressed JSON array of 5 events.", _kinesis_gzip),
    (
        "kinesis-kpl.json",
        "Kinesis, 2 records: a KPL aggregate of 5 events (one sequence number for all 5), and a plain event.",
        _kinesis_kpl,
    ),
    (
        "kinesis-cloudwatch-logs.json",
        "Kinesis fed by a CloudWatch Logs subscription: a DATA_MESSAGE with 3 log events whose messages are JSON "
        "events, and a CONTROL_MESSAGE health probe (nothing to import, not a failure).",
        _kinesis_cloudwatch_logs,
    ),
    (
        "kinesis-poison.json",
        "Kinesis, 4 records: 2 valid events, 1 record of binary garbage, 1 event whose `$insert_id` is `null`. "
        "Only the 2 valid ones can be imported.",
        _kinesis_poison,
    ),
)


def write_samples(folder: Path) -> list[Path]:
    """Write every sample invocation event into `folder` as pretty-printed JSON; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for name, _, build in _SAMPLES:
        path = folder / name
        path.write_text(json.dumps(build(), indent=2) + "\n", encoding="utf-8", newline="\n")
        paths.append(path)
    return paths


def samples_readme() -> str:
    """The text of `events/README.md`: what each sample file shows."""
    rows = "".join(f"| `{name}` | {description} |\n" for name, description, _ in _SAMPLES)
    return (
        "# Sample Lambda invocation events\n"
        "\n"
        "Complete invocation events, as Lambda hands them to the SQS and Kinesis forwarders: use them with\n"
        "`sam local invoke <function> -e events/<file>`, in tests, or in the demo. Event times are fixed on\n"
        "2025-11-24 around 16:00 UTC, which Mixpanel's `/import` keeps accepting.\n"
        "\n"
        "Generated by `python -m localdev.eventgen` from `localdev/eventgen.py`: do not edit them by hand.\n"
        "Change the generator and regenerate; `tests/unit/test_eventgen.py` fails when these files drift from it.\n"
        "\n"
        "| File | What it shows |\n"
        "|---|---|\n" + rows
    )


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: regenerate the sample files and their README."""
    parser = argparse.ArgumentParser(prog="python -m localdev.eventgen", description=main.__doc__)
    parser.add_argument("--out", type=Path, default=Path("events"), help="folder to write into (default: events)")
    args = parser.parse_args(argv)
    out: Path = args.out
    paths = write_samples(out)
    readme = out / "README.md"
    readme.write_text(samples_readme(), encoding="utf-8", newline="\n")
    for path in [*paths, readme]:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
