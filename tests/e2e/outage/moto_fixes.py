"""Patches to moto 5.2.5 for the ride-through runs (moto_scaled.py applies them, and undoes them on stop).

SQS, where moto departs from what AWS documents in ways an outage of hours meets:
- FIFO order: moto frees a message group only when it meets the group's last in-flight message again, so it hands a
  group back last-first after a visibility timeout; SQS keeps the group's order. Before each receive, every visible
  message of a FIFO queue leaves the in-flight set, so the group is free (or still held) as a whole.
- Retention: moto keeps an expired message in the queue, counted, invisible after each receive that meets it (and
  stops that receive there); SQS deletes it. Expired messages are deleted (checked at most once a scaled minute per
  queue) and listed, as (queue name, message id), in the list given: a lost message, unless it landed elsewhere.
- ChangeMessageVisibility: moto counts the 12-hour limit from when the message was sent, SQS from the receive
  ("The maximum visibility timeout is 12 hours from the time that Amazon SQS receives the ReceiveMessage request",
  SQS Developer Guide): a message older than 12 h could never be backed off. And a batch entry past the limit fails
  the whole ChangeMessageVisibilityBatch call in moto, that entry alone in SQS.

Speed, same semantics, for backlogs of tens of thousands of messages or records (a backfill three times a rate
limit): moto's ReceiveMessage listed every visible message of the queue before taking ten; a FIFO send computed
every attribute of the queue (three scans) to read one; a delete or visibility change found its message by
rebuilding every message's list of receipt handles; Kinesis listed a shard's sequence numbers on every put and
scanned the shard from its start on every read.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

import moto.kinesis.models
import moto.sqs.models
from moto.sqs.exceptions import InvalidParameterValue, ReceiptHandleIsInvalid

MAX_VISIBILITY_S = 43_200
_EXPIRY_CHECK_S = 60.0


class Patches:
    """Attributes set on objects, put back in reverse order."""

    def __init__(self) -> None:
        self._saved: list[tuple[Any, str, Any]] = []

    def set(self, owner: Any, name: str, value: Any) -> None:
        self._saved.append((owner, name, getattr(owner, name)))
        setattr(owner, name, value)

    def undo(self) -> None:
        for owner, name, value in reversed(self._saved):
            setattr(owner, name, value)
        self._saved.clear()


def patch_sqs(patches: Patches, expired: list[tuple[str, str]]) -> None:
    models = moto.sqs.models
    receive = models.SQSBackend.receive_message
    mark_received = models.Message.mark_received
    unix_time = models.unix_time  # the scaled one: moto_scaled.py patched the time first
    by_handle: dict[str, Any] = {}  # every receipt handle handed out -> its message
    checked: dict[str, float] = {}  # queue name -> when its messages' retention was last checked

    def held(queue: Any, receipt_handle: str) -> Any:
        message = by_handle.get(receipt_handle)
        if message is None or message not in queue._messages:
            raise ReceiptHandleIsInvalid
        return message

    def expire(queue: Any, now: float) -> None:
        if now - checked.get(queue.name, float("-inf")) < _EXPIRY_CHECK_S:
            return
        checked[queue.name] = now
        retention = int(queue.message_retention_period)
        gone = [m for m in queue._messages if m.sent_timestamp / 1000 + retention <= now]
        if not gone:
            return
        dropped = set(gone)
        queue._messages = [m for m in queue._messages if m not in dropped]
        for message in gone:
            queue.pending_messages.discard(message)
            queue.deleted_messages.update(message.all_receipt_handles)
            expired.append((queue.name, message.id))

    def receive_message(
        self: Any,
        queue_name: str,
        count: int,
        wait_seconds_timeout: int,
        visibility_timeout: int,
        message_attribute_names: list[str] | None = None,
    ) -> list[Any]:
        queue = self.get_queue(queue_name)
        expire(queue, unix_time())
        if queue.fifo_queue:
            for message in [m for m in queue.pending_messages if m.visible]:
                queue.pending_messages.discard(message)
        if wait_seconds_timeout:  # a long poll: moto's own (the simulator never asks for one)
            return list(
                receive(self, queue_name, count, wait_seconds_timeout, visibility_timeout, message_attribute_names)
            )
        held_groups = queue.pending_message_groups if queue.fifo_queue else set()
        redrive = queue.dead_letter_queue is not None and queue.redrive_policy
        now_ms = unix_time() * 1000  # Message.visible and .delayed, read once: a backlog is scanned past
        result, to_dlq = [], []
        for message in queue._messages:  # in order, stopping at `count`, as moto's loop over the visible ones does
            if not now_ms > message.visible_at or now_ms < message.delayed_until:
                continue
            queue.pending_messages.discard(message)  # in flight before, its visibility timeout has passed
            if message.group_id and queue.fifo_queue and message.group_id in held_groups:
                continue
            if redrive and message.approximate_receive_count >= queue.redrive_policy["maxReceiveCount"]:
                to_dlq.append(message)
                continue
            queue.pending_messages.add(message)
            message.mark_received(visibility_timeout=visibility_timeout)
            copied = deepcopy(message)
            models._filter_message_attributes(copied, message_attribute_names or [])
            result.append(copied)
            if len(result) >= count:
                break
        for message in to_dlq:
            queue._messages.remove(message)
            queue.dead_letter_queue.add_message(message)
        return result

    def received(self: Any, visibility_timeout: int | None = None) -> None:
        """moto's, and when, and the new receipt handle indexed."""
        mark_received(self, visibility_timeout)
        self.last_received_s = unix_time()
        by_handle[self.receipt_handle] = self

    def change_message_visibility(self: Any, queue_name: str, receipt_handle: str, visibility_timeout: int) -> None:
        queue = self.get_queue(queue_name)
        message = held(queue, receipt_handle)
        if unix_time() + int(visibility_timeout) - message.last_received_s > MAX_VISIBILITY_S:
            raise InvalidParameterValue(
                f"Value {visibility_timeout} for parameter VisibilityTimeout is invalid. Reason: Total "
                "VisibilityTimeout for the message is beyond the limit [43200 seconds]"
            )
        message.change_visibility(visibility_timeout)
        if message.visible:
            queue.pending_messages.discard(message)

    def change_message_visibility_batch(self: Any, queue_name: str, entries: list[dict[str, Any]]) -> Any:
        done, failed = [], []
        for entry in entries:
            try:
                timeout = int(entry["VisibilityTimeout"])
                if not 0 <= timeout <= MAX_VISIBILITY_S:
                    raise InvalidParameterValue(f"Value {timeout} for parameter VisibilityTimeout is invalid.")
                change_message_visibility(self, queue_name, entry["ReceiptHandle"], timeout)
                done.append(entry["Id"])
            except (InvalidParameterValue, ReceiptHandleIsInvalid) as error:
                failed.append({"Id": entry["Id"], "SenderFault": True, "Code": error.code, "Message": str(error)})
        return done, failed

    def delete_message(self: Any, receipt_handle: str) -> None:
        if receipt_handle in self.deleted_messages:
            return  # deleted already: SQS answers success again
        message = held(self, receipt_handle)
        self._messages.remove(message)
        self.pending_messages.discard(message)
        self.deleted_messages.update(message.all_receipt_handles)

    def add_message(self: Any, message: Any) -> None:
        if self.fifo_queue and (self.content_based_deduplication or message.deduplication_id):
            seen = self.__dict__.setdefault("_sent_by_dedup_id", {})
            sent = seen.get(message.deduplication_id)
            if sent is not None and (message.sent_timestamp - sent) / 1000 < models.DEDUPLICATION_TIME_IN_SECONDS:
                return  # a duplicate within SQS's five minutes: not added
            seen[message.deduplication_id] = message.sent_timestamp
        with self._messages_lock:
            self._messages.append(message)
            self._messages_lock.notify_all()

    patches.set(models.SQSBackend, "receive_message", receive_message)
    patches.set(models.SQSBackend, "change_message_visibility", change_message_visibility)
    patches.set(models.SQSBackend, "change_message_visibility_batch", change_message_visibility_batch)
    patches.set(models.Message, "mark_received", received)
    patches.set(models.Queue, "delete_message", delete_message)
    patches.set(models.Queue, "add_message", add_message)


def patch_kinesis(patches: Patches) -> None:
    shard_class = moto.kinesis.models.Shard

    def get_max_sequence_number(self: Any) -> int:
        return next(reversed(self.records)) if self.records else 0

    def get_min_sequence_number(self: Any) -> int:
        return next(iter(self.records)) if self.records else 0

    def get_records(self: Any, last_sequence_id: str, limit: int | None) -> tuple[list[Any], int, int]:
        """Sequence numbers are consecutive (each put takes the last one's + 1): read from the one after."""
        last = int(last_sequence_id)
        if not self.records:
            return [], last, 0
        newest = next(reversed(self.records))
        results = []
        sequence = max(last + 1, next(iter(self.records)))
        while sequence <= newest and (limit is None or len(results) < limit):
            record = self.records.get(sequence)
            if record is not None:
                results.append(record)
                last = sequence
            sequence += 1
        behind = self.records[newest].created_at - results[-1].created_at if results else 0.0
        return results, last, int(behind * 1000)

    patches.set(shard_class, "get_max_sequence_number", get_max_sequence_number)
    patches.set(shard_class, "get_min_sequence_number", get_min_sequence_number)
    patches.set(shard_class, "get_records", get_records)
