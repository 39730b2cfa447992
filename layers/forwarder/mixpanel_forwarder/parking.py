"""What is parked: every permanent failure of the invocation, as a document for the dead-letter queue, and
the ledger told which ones the queue took (the rest stay pending and are reported)."""

from __future__ import annotations

from .deadletter import Parker
from .deadline import Deadline
from .ledger import FailedEvent, Ledger
from .model import Kind, SourceRecord
from .parked import Parked


def park(parker: Parker, records: list[SourceRecord], ledger: Ledger, deadline: Deadline) -> None:
    record_indices = ledger.records_to_park()
    event_indices = sorted(ledger.events_to_park())  # in decode order: events of one record side by side
    if not record_indices and not event_indices:
        return
    parked = []
    for r in record_indices:
        failure = ledger.record_failures[r]
        assert failure is not None  # only failed records are parked
        parked.append(Parked(failure.as_dict(), records[r].origin, "record", records[r].raw))
    owners: list[list[int]] = []  # the messages each event document stands for
    for i in event_indices:
        failed = ledger.failed[i]
        record_index = ledger.record_of[i]
        if owners and failed.key is not None and _same_message(ledger.failed[owners[-1][0]], failed):
            owners[-1].append(i)  # two messages one call made (a Segment group call), both refused: parked once
            continue
        origin = dict(records[record_index].origin)
        # The item key and envelope time let a replay derive the same $insert_id and time again.
        if failed.key is not None:
            origin["item"] = failed.key
        if failed.default_time_ms is not None:
            origin["defaultTimeMs"] = failed.default_time_ms
        record = records[record_index].raw
        reason = failed.failure.as_dict()
        kind = ledger.kind(i)
        if kind is not Kind.EVENT:  # a profile update: replay sends it back to its own endpoint
            reason["kind"] = kind.value
        parked.append(Parked(reason, origin, "event", failed.payload, record, record_index))
        owners.append([i])
    stored = parker.park(parked, deadline.remaining)
    ledger.parked(
        [r for r, ok in zip(record_indices, stored, strict=False) if ok],
        [i for messages, ok in zip(owners, stored[len(record_indices) :], strict=True) if ok for i in messages],
    )


def _same_message(first: FailedEvent, second: FailedEvent) -> bool:
    """Both refusals park the same message as it arrived: replaying it once makes both messages again."""
    return first.key == second.key and first.payload is second.payload
