"""What a record carries beyond a plain event: KPL aggregates and CloudWatch Logs documents on a Kinesis stream,
SNS notifications and EventBridge events in an SQS body."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from .common import ACCOUNT_ID, REGION, T0_MS, T0_S, TOPIC_ARN, compact, fixed_uuid, gzip_stable, iso_ms, iso_s

KPL_MAGIC = b"\xf3\x89\x9a\xc2"

# Shaped like AWS's own: CloudWatch Logs event ids are 56-digit decimals.
_LOG_EVENT_ID_BASE = 38_937_481_207_418_529_033_101_462_884_190_556_271_904_318_000_000_000_000
_CONTROL_MESSAGE = "CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."


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
    timestamp_ms: int = T0_MS,
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
            "logStream": f"{iso_s(timestamp_ms // 1000)[:10].replace('-', '/')}/[$LATEST]{stream_suffix}",
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
    return gzip_stable(compact(document).encode())


def sns_envelope(message: str, *, message_id: str | None = None, index: int = 0) -> str:
    """An SNS notification as SNS delivers it to an SQS queue without raw message delivery."""
    message_id = message_id if message_id is not None else fixed_uuid("sns-message", index)
    signature = b"".join(hashlib.sha512(f"{message_id}:{n}".encode()).digest() for n in range(4))
    certificate = hashlib.md5(b"sns-signing-certificate", usedforsecurity=False).hexdigest()
    notification = {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": TOPIC_ARN,
        "Message": message,
        "Timestamp": iso_ms(T0_MS + index * 1000 + 250),
        "SignatureVersion": "1",
        "Signature": base64.b64encode(signature).decode(),
        "SigningCertURL": f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-{certificate}.pem",
        "UnsubscribeURL": (
            f"https://sns.{REGION}.amazonaws.com/?Action=Unsubscribe"
            f"&SubscriptionArn={TOPIC_ARN}:{fixed_uuid('sns-subscription', 0)}"
        ),
    }
    # SNS pretty-prints its envelope this way (`"Type" : "Notification"`).
    return json.dumps(notification, indent=2, separators=(",", " : "))


def eventbridge_envelope(
    detail: dict[str, Any],
    *,
    event_id: str | None = None,
    index: int = 0,
    detail_type: str = "Product Event",
    source: str = "com.example.product",
) -> str:
    """An EventBridge event as a rule delivers it to an SQS target; `source` names who put it on the bus (a partner
    event source such as Segment's is `aws.partner/segment.com/<sourceId>`)."""
    return compact(
        {
            "version": "0",
            "id": event_id if event_id is not None else fixed_uuid("eventbridge-event", index),
            "detail-type": detail_type,
            "source": source,
            "account": ACCOUNT_ID,
            "time": iso_s(T0_S + index),
            "region": REGION,
            "resources": [],
            "detail": detail,
        }
    )
