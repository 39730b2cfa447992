"""SQS records the function never answered for, taken out of the loop before they are decoded.

A record that crashes the function (an exception escaping, memory or time running out) is never reported, so never
given its delay: it comes back after the queue's visibility timeout, again and again. Its receive count then grows
faster than the backoff schedule explains since its first receive (sqs_schedule.py); `SQS_CRASH_RETURNS` receives
beyond that, it is not processed but moved on:

- to the source queue's dead-letter queue (`SOURCE_DEAD_LETTER_QUEUE_URL`, standard queues), in the envelope the SQS
  decoder reads through (sources/sqs.py), so a redrive derives the same `$insert_id`s and times: nothing twice. Only
  a record of the queue whose RedrivePolicy names that queue (read with its retention, once per container): the SQS
  function also reads the Kinesis retry queue, whose records a redrive of the source's dead-letter queue would send
  to the wrong queue;
- else (a FIFO queue, whose dead-letter queue would need a group and a deduplication id; another queue, or no such
  queue) to the parked-events queue, whole, like an undecodable record: replay reads it as it came.

Nothing is lost: a record the dead-letter queue does not take is reported (SQS delivers it again), and with neither
queue it is processed as usual. Only records received more than once are looked at (redelivery.returned_records).

The schedule tells a crash loop only while it comes back faster than backoff would: when the queue's visibility
timeout is at least the longest delay (a long function timeout), it never does. So a record received again near the
end of its queue's retention (closer than a visibility timeout, the longest run and two longest delays) is parked
whole instead of processed, with a parker: whatever happens to it next, its queue cannot delete it unseen.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable

from .deadline import Deadline
from .ledger import Ledger
from .log import logger
from .model import Failure, SourceKind, SourceRecord, Stage
from .sources.sqs import moved_body
from .sqs_queue import KnownQueues, SourceQueue
from .sqs_schedule import Schedule, crash_returns, integer, is_queue, near_retention_end_on_return, queue_url

_LOGGED_IDS = 10


class CrashLoops:
    def __init__(
        self,
        schedule: Schedule,
        returns: int,
        queue: SourceQueue,
        known: KnownQueues,
        dead_letter_url: str | None,
        clock: Callable[[], float],
    ) -> None:
        self._schedule = schedule
        self._returns = returns  # SQS_CRASH_RETURNS
        self._queue = queue
        self._known = known
        self._dead_letter_url = dead_letter_url
        self._clock = clock

    def take(
        self,
        kind: SourceKind,
        records: list[SourceRecord],
        returned: list[int],
        ledger: Ledger,
        deadline: Deadline,
        can_park: bool,
    ) -> tuple[set[int], int]:
        """The numbers of the records the pipeline skips, and how many were moved to the dead-letter queue. The others
        are failed in the ledger: to be parked whole (crash-looping, or near their retention end), or reported when
        their move failed. `returned`: the records received more than once (redelivery.returned_records)."""
        looping = self._looping(records, returned)
        expiring = self._expiring(records, returned, looping, ledger, deadline) if can_park else set()
        if expiring:
            logger.warning(
                "records received again near the end of their queue's retention: parked whole",
                extra={"records": len(expiring), "message_ids": _ids(records, expiring)},
            )
        if not looping:
            return expiring, 0
        movable = self._movable(records, looping, deadline) if kind is SourceKind.SQS else {}
        staying = {index: loop for index, loop in looping.items() if index not in movable}
        if staying and not can_park:
            logger.warning(
                "crash-looping records, and nowhere to move them: processed as usual",
                extra={"records": len(staying), "message_ids": _ids(records, staying)},
            )
            staying = {}
        for index, (_, reason) in staying.items():
            ledger.fail_record(index, Failure(reason, "record", Stage.CRASH_LOOP))
        if staying:
            logger.warning(
                "crash-looping records taken out of the loop: parked whole",
                extra={"records": len(staying), "message_ids": _ids(records, staying), "reason": _first(staying)},
            )
        moved = self._move(records, movable, ledger, deadline) if movable else 0
        return set(movable) | set(staying) | expiring, moved

    def _movable(
        self, records: list[SourceRecord], looping: dict[int, tuple[int, str]], deadline: Deadline
    ) -> dict[int, tuple[int, str]]:
        """The crash-looping records of a queue whose own dead-letter queue (its RedrivePolicy) is the source DLQ: only
        those go there. Another queue's (the Kinesis retry queue, which the SQS function reads too), or a queue whose
        policy cannot be read, would be sent where a redrive would not bring them back."""
        dead_letter_url = self._dead_letter_url
        if dead_letter_url is None:
            return {}
        movable = {}
        for index, loop in looping.items():
            url = queue_url(records[index].raw.get("eventSourceARN"))
            if url is not None and is_queue(self._known.of(url, deadline.remaining).dead_letter, dead_letter_url):
                movable[index] = loop
        if len(movable) < len(looping):
            logger.warning(
                "crash-looping records of a queue whose own dead-letter queue is not SOURCE_DEAD_LETTER_QUEUE_URL",
                extra={"records": len(looping) - len(movable), "queues": _queues(records, looping.keys() - movable)},
            )
        return movable

    def _expiring(
        self,
        records: list[SourceRecord],
        returned: list[int],
        looping: Collection[int],
        ledger: Ledger,
        deadline: Deadline,
    ) -> set[int]:
        """Of the records received again, those their queue would delete before they came back from a crash (the
        schedule cannot tell a crash loop from backoff when the queue's visibility timeout is longer than the longest
        delay): failed in the ledger, to be parked whole rather than processed, so none expires unseen."""
        now_ms = self._clock() * 1000
        expiring = set()
        for index in returned:
            raw = records[index].raw
            sent = integer(raw["attributes"].get("SentTimestamp"))
            url = queue_url(raw.get("eventSourceARN"))
            if index in looping or sent is None or url is None:
                continue
            if near_retention_end_on_return(self._schedule, sent, self._known.of(url, deadline.remaining), now_ms):
                receives = raw["attributes"].get("ApproximateReceiveCount")
                reason = f"received again ({receives} times) near the end of the source queue's retention"
                ledger.fail_record(index, Failure(reason, "record", Stage.RETENTION))
                expiring.add(index)
        return expiring

    def _looping(self, records: list[SourceRecord], returned: list[int]) -> dict[int, tuple[int, str]]:
        """Of the records received more than once, those that came back too often: their receive count and why."""
        now_ms = self._clock() * 1000
        looping = {}
        for index in returned:
            attributes = records[index].raw["attributes"]
            receives = integer(attributes.get("ApproximateReceiveCount"))
            first = integer(attributes.get("ApproximateFirstReceiveTimestamp"))
            if receives is None or first is None:
                continue
            beyond = crash_returns(self._schedule, receives, first, now_ms)
            if beyond >= self._returns:
                elapsed = max(now_ms - first, 0) / 1000
                looping[index] = (
                    receives,
                    f"crash loop: received {receives} times in {elapsed:.0f} s, {beyond} more than its backoff "
                    "explains (the function ended without answering for it)",
                )
        return looping

    def _move(
        self, records: list[SourceRecord], looping: dict[int, tuple[int, str]], ledger: Ledger, deadline: Deadline
    ) -> int:
        """Sends the records to the dead-letter queue; those it does not take are reported. How many it took."""
        assert self._dead_letter_url is not None
        bodies = {
            index: moved_body(records[index].raw, receives, reason) for index, (receives, reason) in looping.items()
        }
        writable = [index for index, body in bodies.items() if body is not None]
        sent = self._queue.send(self._dead_letter_url, [bodies[i] or "" for i in writable], deadline.remaining)
        taken = {index for index, ok in zip(writable, sent, strict=True) if ok}
        for index, (_, reason) in looping.items():
            if index not in taken:
                ledger.fail_record(index, Failure(f"{reason}; the source dead-letter queue did not take it", "record"))
        if taken:
            logger.warning(
                "crash-looping records moved to the source dead-letter queue",
                extra={"records": len(taken), "message_ids": _ids(records, taken), "reason": _first(looping)},
            )
        if len(taken) < len(looping):
            logger.warning(
                "crash-looping records the source dead-letter queue did not take: reported",
                extra={"records": len(looping) - len(taken)},
            )
        return len(taken)


def _ids(records: list[SourceRecord], indices: Iterable[int]) -> list[str | None]:
    return [records[index].identifier for index in sorted(indices)][:_LOGGED_IDS]


def _queues(records: list[SourceRecord], indices: Iterable[int]) -> list[str]:
    return sorted({str(records[index].raw.get("eventSourceARN")) for index in indices})[:_LOGGED_IDS]


def _first(looping: dict[int, tuple[int, str]]) -> str:
    return next(iter(looping.values()))[1]
