"""What a Kinesis batch Lambda gave up on becomes: the invocation record Lambda writes to an S3 on-failure destination,
the key it writes it under, and the S3 event notifications (and S3's test event) the bucket sends to a queue.

Shapes as AWS documents them: the invocation record and its key in "Retain discarded batch records for a Kinesis Data
Streams event source" (https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html: `payload`
is "the original invocation record as an escaped JSON string"), the notification in "Event message structure"
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html: the key URL-encoded).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote_plus

from .common import ACCOUNT_ID, REGION, T0_MS, fixed_uuid, iso_ms

FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:mixpanel-forwarder-kinesis"
MAPPING_UUID = fixed_uuid("event-source-mapping", 0)


def failed_batch_key(shard_id: str = "shardId-000000000000", index: int = 0) -> str:
    """Lambda's key for an invocation record: aws/lambda/<ESM-UUID>/<shardID>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<UUID>."""
    day, time = iso_ms(T0_MS + index * 1000)[:19].split("T")
    return f"aws/lambda/{MAPPING_UUID}/{shard_id}/{day.replace('-', '/')}/{day}T{time.replace(':', '.')}-" + fixed_uuid(
        "failed-batch", index
    )


def failed_batch_object(event: dict[str, Any], *, payload_as_string: bool = True) -> bytes:
    """The invocation record Lambda writes to S3 for a Kinesis `event` it gave up on (the payload as AWS documents
    it, a JSON string, or as some emulators write it, an object)."""
    records = event["Records"]
    first, last = records[0], records[-1]
    document = {
        "requestContext": {
            "requestId": fixed_uuid("failed-batch-request", 0),
            "functionArn": FUNCTION_ARN,
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 1,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": iso_ms(T0_MS + 60_000),
        "KinesisBatchInfo": {
            "shardId": first["eventID"].split(":", 1)[0],
            "startSequenceNumber": first["kinesis"]["sequenceNumber"],
            "endSequenceNumber": last["kinesis"]["sequenceNumber"],
            "approximateArrivalOfFirstRecord": iso_ms(round(first["kinesis"]["approximateArrivalTimestamp"] * 1000)),
            "approximateArrivalOfLastRecord": iso_ms(round(last["kinesis"]["approximateArrivalTimestamp"] * 1000)),
            "batchSize": len(records),
            "streamArn": first["eventSourceARN"],
        },
        "payload": json.dumps(event) if payload_as_string else event,
    }
    return json.dumps(document).encode()


def s3_notification(bucket: str, key: str, *, event_name: str = "ObjectCreated:Put", size: int = 1024) -> str:
    """The body S3 sends a queue when an object of `bucket` is created (version 2.1; the key URL-encoded)."""
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": REGION,
        "eventTime": iso_ms(T0_MS + 61_000),
        "eventName": event_name,
        "userIdentity": {"principalId": "AWS:AROAEXAMPLEROLEID:awslambda_000_20251124160100000"},
        "requestParameters": {"sourceIPAddress": "10.0.0.1"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "failed-kinesis-batches",
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": {
                "key": quote_plus(key, safe="/"),
                "size": size,
                "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                "sequencer": "0055AED6DCD90281E5",
            },
        },
    }
    return json.dumps({"Records": [record]})


def s3_test_event(bucket: str) -> str:
    """The message S3 sends a queue once, when the bucket's notification to it is set up."""
    return json.dumps(
        {
            "Service": "Amazon S3",
            "Event": "s3:TestEvent",
            "Time": iso_ms(T0_MS),
            "Bucket": bucket,
            "RequestId": "5582815E1AEA5ADF",
            "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
        }
    )
