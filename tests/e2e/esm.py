"""An event-source-mapping simulator: polls real SQS queues and Kinesis shards (moto's server) the way
Lambda's pollers do and calls the real handlers, so "nothing lost" is judged by what the platform does
with the answers (deleted, visible again, dead-lettered, checkpointed, handed to on-failure), not by the
handler's own account of itself.

Deliberate simplifications, none of which changes what a record's fate is:
- one poller per mapping and one invocation at a time (the handlers share this process, like one
  container); an empty ReceiveMessage ends the batching window early instead of waiting it out;
- Kinesis: no bisection on function error, no MaximumRecordAgeInSeconds, a fresh shard iterator per poll.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from localdev.eventgen import ACCOUNT_ID, REGION, lambda_context

Handler = Callable[[dict[str, Any], Any], Any]
BeforeInvoke = Callable[[], None]

MAX_INVOKE_PAYLOAD_BYTES = 6 * 1024 * 1024  # Lambda's synchronous invocation payload limit
SQS_RECEIVE_MAX = 10  # ReceiveMessage returns at most 10 messages per call
SQS_FIFO_BATCH_MAX = 10  # Lambda's batch size limit for FIFO queues
_SQS_SYSTEM_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "AWSTraceHeader",
)
_INVOKE_ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/mixpanel-forwarder-e2e"


class PartialBatchResponseError(AssertionError):
    """The handler's answer would make Lambda fail the whole batch: the test must fail, not retry quietly."""


class FifoOrderError(AssertionError):
    """A FIFO answer that reports a record but not every record after it: message groups would reorder."""


@dataclass
class MappingStats:
    """What one mapping did: the evidence behind the accounting table, and what the tests assert on."""

    invocations: int = 0
    records: int = 0  # records delivered, redeliveries included
    reported: int = 0  # records named in batchItemFailures
    handler_errors: list[str] = field(default_factory=list)
    timeouts: int = 0  # invocations that ran past the function timeout (Lambda discards their answer)
    released: int = 0  # SQS messages received beyond the payload limit and made visible again
    on_failure_batches: int = 0  # Kinesis batches handed to the on-failure destination

    def merge(self, other: MappingStats) -> MappingStats:
        return MappingStats(
            self.invocations + other.invocations,
            self.records + other.records,
            self.reported + other.reported,
            [*self.handler_errors, *other.handler_errors],
            self.timeouts + other.timeouts,
            self.released + other.released,
            self.on_failure_batches + other.on_failure_batches,
        )


class EventSourceMapping(Protocol):
    name: str
    stats: MappingStats

    def poll(self) -> bool:
        """Runs at most one invocation per partition; True if anything was invoked."""
        ...

    def drained(self) -> bool:
        """Nothing visible, nothing in flight, nothing left to read."""
        ...


def reported_identifiers(response: Any, batch: Sequence[str]) -> list[str]:
    """The identifiers a partial batch response names, checked as strictly as Lambda checks them.

    Lambda fails the whole batch on an empty identifier, a non-string one, a wrong key or an identifier
    not in the batch, and then retries everything: harmless-looking, but it hides a handler bug, so
    here it raises instead.
    """
    if response is None:
        return []
    if not isinstance(response, dict):
        raise PartialBatchResponseError(f"the response is not an object: {response!r}")
    failures = response.get("batchItemFailures")
    if failures is None:
        return []
    if not isinstance(failures, list):
        raise PartialBatchResponseError(f"batchItemFailures is not a list: {failures!r}")
    known = set(batch)
    identifiers: list[str] = []
    for failure in failures:
        if not isinstance(failure, dict) or "itemIdentifier" not in failure:
            raise PartialBatchResponseError(f"a batch item failure without itemIdentifier: {failure!r}")
        identifier = failure["itemIdentifier"]
        if not isinstance(identifier, str) or not identifier:
            raise PartialBatchResponseError(f"an empty or non-string itemIdentifier: {identifier!r}")
        if identifier not in known:
            raise PartialBatchResponseError(f"itemIdentifier {identifier!r} is not a record of this batch")
        identifiers.append(identifier)
    return identifiers


def check_fifo_rule(reported: Sequence[str], batch: Sequence[str]) -> None:
    """The forwarder's FIFO rule: the first failed record and every record after it, nothing else."""
    if not reported:
        return
    first = min(batch.index(identifier) for identifier in reported)
    if set(reported) != set(batch[first:]):
        skipped = [identifier for identifier in batch[first:] if identifier not in set(reported)]
        raise FifoOrderError(f"FIFO answer reports {batch[first]!r} but not the later records {skipped!r}")


def _invoke(
    handler: Handler,
    event: dict[str, Any],
    stats: MappingStats,
    *,
    name: str,
    timeout_ms: int,
    before_invoke: BeforeInvoke | None,
) -> tuple[bool, Any]:
    """(True, response), or (False, None) for a function error or a timeout: Lambda retries the batch."""
    if before_invoke is not None:
        before_invoke()
    stats.invocations += 1
    stats.records += len(event["Records"])
    context = lambda_context(remaining_ms=timeout_ms, function_name=name)
    started = time.monotonic()
    try:
        response = handler(event, context)
    except Exception as exc:  # a function error: Lambda retries the whole batch
        stats.handler_errors.append(f"{type(exc).__name__}: {exc}")
        return False, None
    if (time.monotonic() - started) * 1000 > timeout_ms:
        stats.timeouts += 1  # Lambda would have killed it: whatever it answered is lost
        return False, None
    return True, response


class SqsMapping:
    """A Lambda SQS event source mapping with ReportBatchItemFailures, standard or FIFO.

    Redrive to the queue's own dead-letter queue after maxReceiveCount is left to moto (it implements
    the queue's RedrivePolicy on receive), exactly where SQS does it.
    """

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        handler: Handler,
        *,
        batch_size: int = 10,
        batching_window_s: float = 0.5,
        function_timeout_ms: int = 30_000,
        before_invoke: BeforeInvoke | None = None,
        max_payload_bytes: int = MAX_INVOKE_PAYLOAD_BYTES,
    ) -> None:
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
        self.arn: str = attributes["QueueArn"]
        self.fifo = self.arn.endswith(".fifo")
        self.name = self.arn.rsplit(":", 1)[-1]
        if not 1 <= batch_size <= (SQS_FIFO_BATCH_MAX if self.fifo else 10_000):
            raise ValueError(f"batch size {batch_size} is out of Lambda's range for {self.name}")
        self.stats = MappingStats()
        self._sqs = sqs
        self._queue_url = queue_url
        self._handler = handler
        self._batch_size = batch_size
        self._window_s = batching_window_s
        self._timeout_ms = function_timeout_ms
        self._before_invoke = before_invoke
        self._max_payload = max_payload_bytes

    def poll(self) -> bool:
        messages, records = self._receive_batch()
        if not records:
            return False
        identifiers = [record["messageId"] for record in records]
        answered, response = _invoke(
            self._handler,
            {"Records": records},
            self.stats,
            name=f"sqs-{self.name}",
            timeout_ms=self._timeout_ms,
            before_invoke=self._before_invoke,
        )
        if not answered:
            return True  # nothing deleted: every message comes back after the visibility timeout
        reported = reported_identifiers(response, identifiers)
        if self.fifo:
            check_fifo_rule(reported, identifiers)
        kept = set(reported)
        self.stats.reported += len(kept)
        self._delete([message for message in messages if message["MessageId"] not in kept])
        return True

    def drained(self) -> bool:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        names.append("ApproximateNumberOfMessagesDelayed")
        attributes = self._sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=names)["Attributes"]
        return all(int(attributes.get(name, "0")) == 0 for name in names)

    def _receive_batch(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Several ReceiveMessage calls aggregated into one batch, like the batching window, within 6 MB."""
        messages: list[dict[str, Any]] = []
        records: list[dict[str, Any]] = []
        size = len(b'{"Records":[]}')
        window_ends = time.monotonic() + self._window_s
        while len(records) < self._batch_size:
            answer = self._sqs.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=min(SQS_RECEIVE_MAX, self._batch_size - len(records)),
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            )
            received: list[dict[str, Any]] = answer.get("Messages", [])
            if not received:
                break
            for position, message in enumerate(received):
                record = self._record(message)
                grown = size + len(json.dumps(record)) + 1
                if records and grown > self._max_payload:
                    # Over Lambda's payload limit: back to the queue, this one and (for FIFO order) all after it.
                    self._release(received[position:])
                    return messages, records
                messages.append(message)
                records.append(record)
                size = grown
            if time.monotonic() >= window_ends:
                break
        return messages, records

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        body: str = message["Body"]
        if hashlib.md5(body.encode(), usedforsecurity=False).hexdigest() != message["MD5OfBody"]:
            raise AssertionError(f"SQS message {message['MessageId']} arrived with a body that fails its MD5")
        received = message.get("Attributes", {})
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": body,
            "attributes": {name: received[name] for name in _SQS_SYSTEM_ATTRIBUTES if name in received},
            "messageAttributes": {
                name: {
                    "stringValue": value.get("StringValue"),
                    "stringListValues": [],
                    "binaryListValues": [],
                    "dataType": value["DataType"],
                }
                for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self.arn,
            "awsRegion": REGION,
        }

    def _release(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), SQS_RECEIVE_MAX):
            chunk = messages[start : start + SQS_RECEIVE_MAX]
            entries = [
                {"Id": str(i), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, message in enumerate(chunk)
            ]
            answer = self._sqs.change_message_visibility_batch(QueueUrl=self._queue_url, Entries=entries)
            if answer.get("Failed"):
                raise RuntimeError(f"could not release messages over the payload limit: {answer['Failed']}")
            self.stats.released += len(chunk)

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), SQS_RECEIVE_MAX):
            chunk = messages[start : start + SQS_RECEIVE_MAX]
            entries = [{"Id": str(i), "ReceiptHandle": message["ReceiptHandle"]} for i, message in enumerate(chunk)]
            answer = self._sqs.delete_message_batch(QueueUrl=self._queue_url, Entries=entries)
            if answer.get("Failed"):
                raise RuntimeError(f"DeleteMessageBatch failed for {answer['Failed']}")


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
        answered, response = _invoke(
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


class Chore(Protocol):
    """Work beside the mappings on every tick: a producer feeding a queue, a consumer emptying a DLQ."""

    def step(self) -> bool:
        """Does a bounded amount of work; True if it did any."""
        ...

    def done(self) -> bool:
        """Nothing left for it to do (the run is not drained before every chore is done)."""
        ...


@dataclass(frozen=True)
class RunOutcome:
    drained: bool
    seconds: float
    ticks: int
    stats: MappingStats
    busy_s: dict[str, float]  # per mapping and chore: time spent polling (moto calls and invocations)
    idle_s: float  # time asleep, waiting for visibility timeouts


def run_until_drained(
    mappings: Sequence[EventSourceMapping],
    *,
    time_limit_s: float,
    chores: Sequence[Chore] = (),
    idle_sleep_s: float = 0.1,
) -> RunOutcome:
    """Polls every mapping in turn, with the chores between ticks, until all are drained or the time limit
    passes; never loops forever.

    When nothing had anything to do, the sources are either drained or waiting (messages in flight until
    their visibility timeout): sleep briefly rather than spin against moto.
    """
    started = time.monotonic()
    ticks = 0
    drained = False
    busy: dict[str, float] = {}
    idle = 0.0

    def timed(name: str, step: Callable[[], bool]) -> bool:
        began = time.monotonic()
        did = step()
        busy[name] = busy.get(name, 0.0) + time.monotonic() - began
        return did

    while time.monotonic() - started < time_limit_s:
        ticks += 1
        progressed = False
        for chore in chores:
            progressed |= timed(type(chore).__name__, chore.step)
        for mapping in mappings:
            progressed |= timed(f"{type(mapping).__name__}:{mapping.name}", mapping.poll)
        if progressed:
            continue
        if all(chore.done() for chore in chores) and all(mapping.drained() for mapping in mappings):
            drained = True
            break
        time.sleep(idle_sleep_s)
        idle += idle_sleep_s
    total = MappingStats()
    for mapping in mappings:
        total = total.merge(mapping.stats)
    return RunOutcome(drained, time.monotonic() - started, ticks, total, busy, idle)
