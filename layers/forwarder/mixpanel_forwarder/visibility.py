"""Reported SQS records come back later each time: each is hidden for its delay (sqs_schedule.py), unless its queue
would delete it first, in which case it is parked whole instead.

Lambda's pollers do not slow down for records a function reports (ReportBatchItemFailures): without this, a
reported record comes back after the queue's visibility timeout, and an outage of an hour or so uses up its
`maxReceiveCount`. With it, the receives of a 1000 maxReceiveCount span 14 days at the default schedule. The delay
is set with ChangeMessageVisibilityBatch on the record's receipt handle once the records to report are known; one
that fails leaves the record to come back after the queue's own timeout (logged and counted, never raised).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from .ledger import Ledger
from .model import Failure, SourceRecord, Stage
from .sqs_queue import KnownQueues, SourceQueue, TimeLeft
from .sqs_schedule import Schedule, integer, near_retention_end, queue_url


class Visibility:
    """Built once per container: it keeps each queue's retention, read once."""

    def __init__(
        self,
        schedule: Schedule,
        queue: SourceQueue,
        known: KnownQueues,
        clock: Callable[[], float],
        rng: random.Random,
    ) -> None:
        self._schedule = schedule
        self._queue = queue
        self._known = known
        self._clock = clock
        self._rng = rng

    def expiring(
        self, records: list[SourceRecord], reported: list[int], ledger: Ledger, time_left: TimeLeft
    ) -> dict[int, Failure]:
        """Of the records to report, those their queue could delete before they come back and are answered for again,
        each with the failure to park it with."""
        now_ms = self._clock() * 1000
        expiring: dict[int, Failure] = {}
        last: dict[int, str] | None = None
        for index in reported:
            raw = records[index].raw
            attributes = raw.get("attributes")
            sent = integer(attributes.get("SentTimestamp")) if type(attributes) is dict else None
            url = queue_url(raw.get("eventSourceARN"))
            if sent is None or url is None:
                continue
            if not near_retention_end(self._schedule, sent, self._known.of(url, time_left).retention, now_ms):
                continue
            last = _last_reasons(ledger) if last is None else last
            reason = f"transient failures outlasted the source queue's retention ({last.get(index, 'not imported')})"
            expiring[index] = Failure(reason, "record", Stage.RETENTION)
        return expiring

    def back_off(self, records: list[SourceRecord], reported: set[str], time_left: TimeLeft) -> tuple[int, int]:
        """Hides each reported record (`reported`: their identifiers) for its delay: how many were, how many not."""
        by_queue: dict[str, list[tuple[str, int]]] = {}
        unknown = 0
        for record in records:
            if record.identifier not in reported:
                continue
            raw = record.raw
            handle, url = raw.get("receiptHandle"), queue_url(raw.get("eventSourceARN"))
            attributes = raw.get("attributes")
            receives = integer(attributes.get("ApproximateReceiveCount")) if type(attributes) is dict else None
            if type(handle) is not str or not handle or url is None:
                unknown += 1  # not a record SQS could be told about: it comes back after the queue's timeout
                continue
            timeout = self._schedule.timeout(receives or 1, self._rng)
            by_queue.setdefault(url, []).append((handle, timeout))
        done = 0
        for url, entries in by_queue.items():
            done += sum(self._queue.change_visibility(url, entries, time_left))
        return done, sum(len(entries) for entries in by_queue.values()) - done + unknown


def _last_reasons(ledger: Ledger) -> dict[int, str]:
    """The reason of the last transient failure of each record that had one."""
    reasons = {record: failure.reason for record, failure in ledger.record_failures.items() if not failure.permanent}
    record_of = ledger.record_of
    for index, failed in ledger.failed.items():
        if not failed.failure.permanent:
            reasons[record_of[index]] = failed.failure.reason
    return reasons
