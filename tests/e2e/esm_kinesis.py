"""The Kinesis event source mapping of the simulator (esm.py): ReportBatchItemFailures, retries from the lowest
reported record, and an on-failure destination."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from localdev.eventgen import ACCOUNT_ID, REGION
from tests.e2e.esm import MAX_INVOKE_PAYLOAD_BYTES, BeforeInvoke, Handler, MappingStats, invoke, reported_identifiers

_INVOKE_ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/mixpanel-forwarder-e2e"


@dataclass
class _Shard:
    """Where the next batch starts, and how often the batch starting there has failed."""

    iterator_type: str = "TRIM_HORIZON"
    sequence: str | None = None
    failed_invocations: int = 0
    caught_up: bool = False

    def advance_after(self, sequence: str) -> None:
        self.iterator_type, self.sequence, self.failed_invocations = "AFTER_SEQUENCE_NUMBER", sequence, 0


class KinesisMapping:
    """A Lambda Kinesis event source mapping with ReportBatchItemFailures and an on-failure destination.

    A reported batch is retried from its lowest reported sequence number (compared as integers: moto's
    are short ones); once the batch starting there has failed 1 + `max_retry_attempts` times, its
    metadata (never its data, as with an SQS or SNS destination) goes to `on_failure` and the shard
    moves past it. `max_retry_attempts=None` is Lambda's -1: retry until the records expire.
    """

    def __init__(
        self,
        kinesis: Any,
        stream_name: str,
        handler: Handler,
        *,
        batch_size: int = 100,
        max_retry_attempts: int | None = 2,
        function_timeout_ms: int = 30_000,
        before_invoke: BeforeInvoke | None = None,
        max_payload_bytes: int = MAX_INVOKE_PAYLOAD_BYTES,
    ) -> None:
        if not 1 <= batch_size <= 10_000:
            raise ValueError(f"batch size {batch_size} is out of Lambda's range (1-10000)")
        summary = kinesis.describe_stream_summary(StreamName=stream_name)["StreamDescriptionSummary"]
        self.arn: str = summary["StreamARN"]
        self.name = stream_name
        self.stats = MappingStats()
        self.on_failure: list[dict[str, Any]] = []
        self._kinesis = kinesis
        self._handler = handler
        self._batch_size = batch_size
        self._max_retry_attempts = max_retry_attempts
        self._timeout_ms = function_timeout_ms
        self._before_invoke = before_invoke
        self._max_payload = max_payload_bytes
        shards = kinesis.list_shards(StreamName=stream_name)["Shards"]
        self._shards = {shard["ShardId"]: _Shard() for shard in shards}

    def poll(self) -> bool:
        progressed = False
        for shard_id, shard in self._shards.items():
            progressed |= self._poll_shard(shard_id, shard)
        return progressed

    def drained(self) -> bool:
        return all(shard.caught_up for shard in self._shards.values())

    def _poll_shard(self, shard_id: str, shard: _Shard) -> bool:
        request: dict[str, Any] = {
            "StreamName": self.name,
            "ShardId": shard_id,
            "ShardIteratorType": shard.iterator_type,
        }
        if shard.sequence is not None:
            request["StartingSequenceNumber"] = shard.sequence
        iterator = self._kinesis.get_shard_iterator(**request)["ShardIterator"]
        fetched = self._kinesis.get_records(ShardIterator=iterator, Limit=self._batch_size)["Records"]
        shard.caught_up = not fetched
        if not fetched:
            return False
        records = self._fit([self._record(shard_id, record) for record in fetched])
        sequences = [record["kinesis"]["sequenceNumber"] for record in records]
        answered, response = invoke(
            self._handler,
            {"Records": records},
            self.stats,
            name=f"kinesis-{self.name}",
            timeout_ms=self._timeout_ms,
            before_invoke=self._before_invoke,
        )
        if not answered:
            self._retry_from(shard_id, shard, sequences[0], records)
            return True
        reported = reported_identifiers(response, sequences)
        if not reported:
            shard.advance_after(sequences[-1])
            return True
        self.stats.reported += len(set(reported))
        self._retry_from(shard_id, shard, min(reported, key=int), records)
        return True

    def _retry_from(self, shard_id: str, shard: _Shard, lowest: str, records: list[dict[str, Any]]) -> None:
        """Checkpoint at the lowest failed record; after the last retry, hand the batch to on-failure."""
        if shard.iterator_type == "AT_SEQUENCE_NUMBER" and shard.sequence == lowest:
            shard.failed_invocations += 1
        else:
            shard.iterator_type, shard.sequence, shard.failed_invocations = "AT_SEQUENCE_NUMBER", lowest, 1
        retries = shard.failed_invocations - 1
        if self._max_retry_attempts is None or retries < self._max_retry_attempts:
            return
        failed = [record for record in records if int(record["kinesis"]["sequenceNumber"]) >= int(lowest)]
        self.on_failure.append(self._on_failure_record(shard_id, failed, shard.failed_invocations))
        self.stats.on_failure_batches += 1
        shard.advance_after(records[-1]["kinesis"]["sequenceNumber"])

    def _on_failure_record(self, shard_id: str, records: list[dict[str, Any]], invocations: int) -> dict[str, Any]:
        """What an SQS/SNS on-failure destination receives: where the batch was, not what it held."""
        first, last = records[0]["kinesis"], records[-1]["kinesis"]
        return {
            "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": invocations},
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            "KinesisBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": first["sequenceNumber"],
                "endSequenceNumber": last["sequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(first["approximateArrivalTimestamp"]),
                "approximateArrivalOfLastRecord": _iso(last["approximateArrivalTimestamp"]),
                "batchSize": len(records),
                "streamArn": self.arn,
            },
        }

    def _record(self, shard_id: str, record: dict[str, Any]) -> dict[str, Any]:
        sequence: str = record["SequenceNumber"]
        return {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": record["PartitionKey"],
                "sequenceNumber": sequence,
                "data": base64.b64encode(record["Data"]).decode(),
                "approximateArrivalTimestamp": record["ApproximateArrivalTimestamp"].timestamp(),
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": f"{shard_id}:{sequence}",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": _INVOKE_ROLE_ARN,
            "awsRegion": REGION,
            "eventSourceARN": self.arn,
        }

    def _fit(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The longest prefix within the payload limit (at least one record): the rest waits for the next batch."""
        size = len(b'{"Records":[]}')
        for count, record in enumerate(records):
            size += len(json.dumps(record)) + 1
            if count and size > self._max_payload:
                return records[:count]
        return records


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat()
