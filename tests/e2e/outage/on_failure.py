"""Where Lambda puts a Kinesis batch it gives up on (retry attempts exhausted, or records past their maximum age), as
the mapping's DestinationConfig names it:

- an SQS queue (or SNS topic): the invocation record without the data, its shard and sequence range only;
- an S3 bucket: the invocation record with `payload`, "the original invocation record as an escaped JSON string",
  under `aws/lambda/<ESM-UUID>/<shardID>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<Random UUID>`
  (docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html). moto's S3 then sends the bucket's
  notifications itself (to an SQS queue, in this process), as S3 does.

`condition` is "RetryAttemptsExhausted" (documented) or, for the record age, "RecordAgeExceeded" (AWS does not
document that value; LocalStack's). Every batch handed on is kept here, its records' data with it, so the
accounting can tell what was handed on and never forwarded again (stranded).
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from localdev.eventgen import ACCOUNT_ID, REGION
from tests.e2e.outage.clock import ScaledClock


@dataclass(frozen=True)
class HandedOn:
    shard: str
    condition: str
    sequences: list[str]
    data: list[bytes]


class OnFailure:
    def __init__(self, sqs: Any, s3: Any, destination: str | None, function: str, clock: ScaledClock) -> None:
        self.destination = destination
        self.batches: list[HandedOn] = []
        self._sqs = sqs
        self._s3 = s3
        self._clock = clock
        self._function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function}"
        self._mapping_uuid = str(uuid.uuid4())
        self._lock = threading.Lock()

    def kind(self) -> str:
        """ "s3", "sqs", or "none"."""
        if self.destination is None:
            return "none"
        return "s3" if self.destination.startswith("arn:aws:s3:") else "sqs"

    def hand_on(self, shard: str, stream_arn: str, records: list[dict[str, Any]], condition: str, invoked: int) -> None:
        data = [base64.b64decode(record["kinesis"]["data"]) for record in records]
        with self._lock:
            self.batches.append(HandedOn(shard, condition, [r["kinesis"]["sequenceNumber"] for r in records], data))
        document = self._document(shard, stream_arn, records, condition, invoked)
        kind = self.kind()
        if kind == "sqs":
            assert self.destination is not None
            url = self._sqs.get_queue_url(QueueName=self.destination.rsplit(":", 1)[-1])["QueueUrl"]
            self._sqs.send_message(QueueUrl=url, MessageBody=json.dumps(document))
        elif kind == "s3":
            assert self.destination is not None
            document["payload"] = json.dumps({"Records": records})
            now = datetime.fromtimestamp(self._clock.now(), UTC)
            key = f"aws/lambda/{self._mapping_uuid}/{shard}/{now:%Y/%m/%d}/{now:%Y-%m-%dT%H.%M.%S}-{uuid.uuid4()}"
            bucket = self.destination.rsplit(":", 1)[-1]
            self._s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(document).encode())

    def _document(
        self, shard: str, stream_arn: str, records: list[dict[str, Any]], condition: str, invoked: int
    ) -> dict[str, Any]:
        first, last = records[0]["kinesis"], records[-1]["kinesis"]
        return {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self._function_arn,
                "condition": condition,
                "approximateInvokeCount": invoked,
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": ""},
            "version": "1.0",
            "timestamp": _iso(self._clock.now()),
            "KinesisBatchInfo": {
                "shardId": shard,
                "startSequenceNumber": first["sequenceNumber"],
                "endSequenceNumber": last["sequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(first["approximateArrivalTimestamp"]),
                "approximateArrivalOfLastRecord": _iso(last["approximateArrivalTimestamp"]),
                "batchSize": len(records),
                "streamArn": stream_arn,
            },
        }


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
