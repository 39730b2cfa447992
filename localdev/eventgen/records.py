"""SQS and Kinesis records, and the invocation events that carry them, as Lambda delivers them."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from .common import QUEUE_ARN, REGION, STREAM_ARN, T0_MS, T0_S, fixed_uuid

_SENDER_ID = "AIDAIENQZJOLO23YVJ4VO"
_INVOKE_ROLE_ARN = "arn:aws:iam::123456789012:role/mixpanel-forwarder-role"
# Shaped like AWS's own: Kinesis sequence numbers are 56-digit decimals.
_SEQUENCE_BASE = 49_667_004_192_835_417_200_330_891_847_526_731_045_562_370_000_000_000_000
_SEQUENCE_STEP = 2**64
_FIFO_SEQUENCE_BASE = 18_890_000_000_000_000_000


def sqs_record(
    body: str,
    *,
    message_id: str | None = None,
    index: int = 0,
    queue_arn: str = QUEUE_ARN,
    group_id: str | None = None,
    sent_timestamp_ms: int = T0_MS,
) -> dict[str, Any]:
    """One SQS record as Lambda delivers it; FIFO attributes when `queue_arn` ends with `.fifo`."""
    message_id = message_id if message_id is not None else fixed_uuid("sqs-message", index)
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
    arrival_s: float = T0_S + 0.5,
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
