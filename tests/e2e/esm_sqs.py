"""The SQS event source mapping of the simulator (esm.py): standard and FIFO queues, with ReportBatchItemFailures."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from localdev.eventgen import REGION
from tests.e2e.esm import (
    MAX_INVOKE_PAYLOAD_BYTES,
    BeforeInvoke,
    Handler,
    MappingStats,
    check_fifo_rule,
    invoke,
    reported_identifiers,
)

SQS_RECEIVE_MAX = 10  # ReceiveMessage returns at most 10 messages per call
_EARLY_S = 0.1  # FIFO messages are made visible this much before their visibility timeout ends (see SqsMapping)
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


class SqsMapping:
    """A Lambda SQS event source mapping with ReportBatchItemFailures, standard or FIFO.

    Redrive to the queue's own dead-letter queue after maxReceiveCount is left to moto (it implements
    the queue's RedrivePolicy on receive), exactly where SQS does it.

    FIFO order, around a moto bug: moto 5.2.5 hands a group's messages back last-first once their visibility
    timeout has passed (its receive frees a group only when it meets the group's last in-flight message, and so
    delivers that one first), where SQS hands them back in order. Profile updates depend on that order, so when
    a FIFO batch's undeleted messages are due to be visible again, the mapping makes them visible itself
    (ChangeMessageVisibility to 0, which moto handles in order), before any receive can meet them visible.
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
        names = ["QueueArn", "VisibilityTimeout"]
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
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
        self._visibility_s = int(attributes["VisibilityTimeout"])
        self._returning: list[tuple[float, list[str]]] = []  # FIFO: (when visible again, receipt handles)

    def poll(self) -> bool:
        received_at = time.monotonic()
        messages, records = self._receive_batch()
        if not records:
            return False
        identifiers = [record["messageId"] for record in records]
        answered, response = invoke(
            self._handler,
            {"Records": records},
            self.stats,
            name=f"sqs-{self.name}",
            timeout_ms=self._timeout_ms,
            before_invoke=self._before_invoke,
        )
        if not answered:
            kept = set(identifiers)  # nothing deleted: every message comes back after the visibility timeout
        else:
            reported = reported_identifiers(response, identifiers)
            if self.fifo:
                check_fifo_rule(reported, identifiers)
            kept = set(reported)
            self.stats.reported += len(kept)
            self._delete([message for message in messages if message["MessageId"] not in kept])
        if self.fifo and kept:
            handles = [message["ReceiptHandle"] for message in messages if message["MessageId"] in kept]
            self._returning.append((received_at + self._visibility_s, handles))
        return True

    def _return_due(self) -> None:
        """FIFO messages whose visibility timeout has passed, made visible in order (see the class docstring):
        before every ReceiveMessage, and a little early (moto's own timeout must not pass first)."""
        soon = time.monotonic() + _EARLY_S
        due = [handle for when, handles in self._returning if when <= soon for handle in handles]
        if not due:
            return
        self._returning = [(when, handles) for when, handles in self._returning if when > soon]
        self._change_visibility(due, gone_ok=True)

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
            if self.fifo:
                self._return_due()
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
        self._change_visibility([message["ReceiptHandle"] for message in messages])
        self.stats.released += len(messages)

    def _change_visibility(self, handles: list[str], *, gone_ok: bool = False) -> None:
        """Visible again now, in the order given; with `gone_ok`, a message no longer there (moved to the
        dead-letter queue in the meantime) is passed over."""
        for start in range(0, len(handles), SQS_RECEIVE_MAX):
            chunk = handles[start : start + SQS_RECEIVE_MAX]
            entries = [
                {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0} for i, handle in enumerate(chunk)
            ]
            answer = self._sqs.change_message_visibility_batch(QueueUrl=self._queue_url, Entries=entries)
            failed = [f for f in answer.get("Failed", []) if not (gone_ok and f["Code"] == "ReceiptHandleIsInvalid")]
            if failed:
                raise RuntimeError(f"could not make messages visible again: {failed}")

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), SQS_RECEIVE_MAX):
            chunk = messages[start : start + SQS_RECEIVE_MAX]
            entries = [{"Id": str(i), "ReceiptHandle": message["ReceiptHandle"]} for i, message in enumerate(chunk)]
            answer = self._sqs.delete_message_batch(QueueUrl=self._queue_url, Entries=entries)
            if answer.get("Failed"):
                raise RuntimeError(f"DeleteMessageBatch failed for {answer['Failed']}")
