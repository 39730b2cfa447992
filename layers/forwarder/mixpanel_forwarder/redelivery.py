"""What an SQS invocation does beside the pipeline to ride through failures: before decoding, crash-looping records
are moved on (crash_loops.py); once the records to report are known, those their queue would delete first are parked
whole, and the others hidden for their delay (visibility.py). Kinesis and replays do none of it.

Every "now" compared with SQS's timestamps is the forwarder's clock, so a time-scaled harness can give it SQS's.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from .crash_loops import CrashLoops
from .deadletter import Parker
from .deadline import Deadline
from .ledger import Ledger
from .model import SourceKind, SourceRecord
from .settings import Settings
from .sqs_queue import KnownQueues, SourceQueue
from .sqs_schedule import Schedule
from .visibility import Visibility


class RedeliveryStats:
    """One invocation's numbers: records hidden for their delay, those SQS was not told about, records moved on."""

    __slots__ = ("backed_off", "backoff_failures", "moved_crash_loop")

    def __init__(self) -> None:
        self.backed_off = 0
        self.backoff_failures = 0
        self.moved_crash_loop = 0  # to the source dead-letter queue (parked ones are the ledger's: parked_crash_loop)

    def summary(self) -> dict[str, Any]:
        return {
            "records_backed_off": self.backed_off,
            "backoff_failures": self.backoff_failures,
            "records_moved_crash_loop": self.moved_crash_loop,
        }


class SqsRedelivery:
    """Built once per container (the queue's client and retention live across invocations)."""

    def __init__(self, settings: Settings, queue: SourceQueue, clock: Callable[[], float], rng: random.Random) -> None:
        schedule = Schedule(settings.sqs_retry_base, settings.sqs_retry_max)
        known = KnownQueues(queue)  # each queue's retention and visibility timeout, read once per container
        self._crash_loops = CrashLoops(
            schedule, settings.sqs_crash_returns, queue, known, settings.source_dead_letter_queue_url, clock
        )
        self._visibility = Visibility(schedule, queue, known, clock, rng)

    def take_crash_loops(
        self,
        kind: SourceKind,
        records: list[SourceRecord],
        ledger: Ledger,
        deadline: Deadline,
        parker: Parker | None,
        stats: RedeliveryStats,
    ) -> set[int]:
        """The records the pipeline must skip: crash-looping ones, moved on or failed in the ledger; and, with a parker,
        records received again that their queue would delete before a crash on them showed, to be parked whole."""
        skip, stats.moved_crash_loop = self._crash_loops.take(kind, records, ledger, deadline, parker is not None)
        return skip

    def take_expiring(
        self, records: list[SourceRecord], ledger: Ledger, closing: Deadline, parker: Parker | None
    ) -> bool:
        """Whether records that will be reported could be deleted by their queue before they come back and are
        answered for again: those are failed in the ledger to be parked whole (the parked record holds all of it)."""
        if parker is None:  # nowhere to park them: reported, they come back until SQS deletes or redrives them
            return False
        reported = ledger.records_failing_transiently()
        if not reported:
            return False
        expiring = self._visibility.expiring(records, reported, ledger, closing.remaining)
        if expiring:
            ledger.fail_whole(expiring)
        return bool(expiring)

    def back_off(
        self, records: list[SourceRecord], failures: list[dict[str, str]], closing: Deadline, stats: RedeliveryStats
    ) -> None:
        """Hides each record of the partial batch response for its delay."""
        reported = {failure["itemIdentifier"] for failure in failures}
        stats.backed_off, stats.backoff_failures = self._visibility.back_off(records, reported, closing.remaining)
