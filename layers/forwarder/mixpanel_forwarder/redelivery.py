"""What an SQS invocation does beside the pipeline to ride through failures: before decoding, crash-looping records
are moved on (crash_loops.py); once the records to report are known, those their queue would delete first are parked
whole, and the others hidden for their delay (visibility.py). Kinesis and replays do none of it.

The common invocation (no record received before, none reported) reads one attribute per record and imports none of
those modules: cold start and the plain path stay as they were. Every "now" compared with SQS's timestamps is the
forwarder's clock, so a time-scaled harness can give it SQS's.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .deadletter import Parker
from .deadline import Deadline
from .ledger import Ledger
from .model import SourceKind, SourceRecord
from .settings import Settings

SQS_SOURCE = "sqs"  # sources/sqs.py's NAME (not imported: the Kinesis function has no need of that module)

if TYPE_CHECKING:
    from .crash_loops import CrashLoops
    from .sqs_queue import SourceQueue
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
    """Built once per container; what it works with (the queue's client, each queue's retention) is made on first
    need and lives across invocations. `queue`: the source queue's calls (None: SQS through boto3)."""

    def __init__(
        self, settings: Settings, queue: SourceQueue | None, clock: Callable[[], float], rng: random.Random
    ) -> None:
        self._settings = settings
        self._queue = queue
        self._clock = clock
        self._rng = rng
        self._parts: tuple[CrashLoops, Visibility] | None = None

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
        returned = returned_records(records)
        if not returned:
            return set()
        crash_loops, _ = self._made()
        skip, stats.moved_crash_loop = crash_loops.take(kind, records, returned, ledger, deadline, parker is not None)
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
        _, visibility = self._made()
        expiring = visibility.expiring(records, reported, ledger, closing.remaining)
        if expiring:
            ledger.fail_whole(expiring)
        return bool(expiring)

    def back_off(
        self, records: list[SourceRecord], failures: list[dict[str, str]], closing: Deadline, stats: RedeliveryStats
    ) -> None:
        """Hides each record of the partial batch response for its delay."""
        reported = {failure["itemIdentifier"] for failure in failures}
        _, visibility = self._made()
        stats.backed_off, stats.backoff_failures = visibility.back_off(records, reported, closing.remaining)

    def _made(self) -> tuple[CrashLoops, Visibility]:
        if self._parts is None:
            # Lazily: only an invocation with a record received before, or one to report, needs these.
            from .crash_loops import CrashLoops
            from .sqs_queue import KnownQueues, SqsSourceQueue
            from .sqs_schedule import Schedule
            from .visibility import Visibility

            settings = self._settings
            schedule = Schedule(settings.sqs_retry_base, settings.sqs_retry_max)
            queue = self._queue or SqsSourceQueue()
            known = KnownQueues(queue)  # each queue's retention and visibility timeout, read once per container
            dead_letter_url = settings.source_dead_letter_queue_url
            self._parts = (
                CrashLoops(schedule, settings.sqs_crash_returns, queue, known, dead_letter_url, self._clock),
                Visibility(schedule, queue, known, self._clock, self._rng),
            )
        return self._parts


def returned_records(records: list[SourceRecord]) -> list[int]:
    """The records received more than once: one attribute read per record (~50 ns), nothing more when none was."""
    try:  # the common invocation, in one comprehension: every record as Lambda gives it, received once
        if all([record.raw["attributes"]["ApproximateReceiveCount"] == "1" for record in records]):
            return []
    except (KeyError, TypeError):  # a record without the attribute, or not a dict: looked at one by one
        pass
    returned = []
    for index, record in enumerate(records):
        attributes = record.raw.get("attributes")
        if type(attributes) is dict and attributes.get("ApproximateReceiveCount", "1") != "1":
            returned.append(index)
    return returned
