"""What is parked: every permanent failure of the invocation, as a document for the dead-letter queue, and
the ledger told which ones the queue took (the rest stay pending and are reported)."""

from __future__ import annotations

from .deadletter import Parker
from .deadline import Deadline
from .ledger import FailedEvent, Ledger
from .model import Kind, SourceRecord
from .parked import Parked


def park(
    parker: Parker, records: list[SourceRecord], ledger: Ledger, deadline: Deadline, rules: tuple[str, ...] = ()
) -> None:
    """`rules`: the settings that mapped the messages (`Settings.mapping_rules`), which a replay needs again."""
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
        if owners and failed.key is not None and _same_message(ledger.failed[owners[-1][0]], failed):
            owners[-1].append(i)  # two messages one call made (a Segment group call), both refused: parked once
        else:
            owners.append([i])
    parked += [_event_document(records, ledger, messages, rules) for messages in owners]
    stored = parker.park(parked, deadline.remaining)
    ledger.parked(
        [r for r, ok in zip(record_indices, stored, strict=False) if ok],
        [i for messages, ok in zip(owners, stored[len(record_indices) :], strict=True) if ok for i in messages],
    )


def _event_document(records: list[SourceRecord], ledger: Ledger, messages: list[int], rules: tuple[str, ...]) -> Parked:
    """The document of one refused message (or of several refusals of one item, `messages`)."""
    first = messages[0]
    failed = ledger.failed[first]
    record_index = ledger.record_of[first]
    origin = dict(records[record_index].origin)
    if failed.key is not None:  # refused before sending: parked as it arrived, mapped again on replay
        # The item key and envelope time let a replay derive the same $insert_id and time again.
        origin["item"] = failed.key
        if failed.default_time_ms is not None:
            origin["defaultTimeMs"] = failed.default_time_ms
        named = _refused_messages(ledger, messages)
        if named is not None:
            origin["messages"] = named
        if rules:
            origin["rules"] = list(rules)
    reason = failed.failure.as_dict()
    kind = ledger.kind(first)
    if kind is not Kind.EVENT:  # a profile update: replay sends it back to its own endpoint
        reason["kind"] = kind.value
    return Parked(reason, origin, "event", failed.payload, records[record_index].raw, record_index)


def _refused_messages(ledger: Ledger, messages: list[int]) -> list[str] | None:
    """The keys of `messages` when their item made others too (imported, filtered, or parked apart), so that a
    replay makes these alone: what Mixpanel took must not be sent again (an `$add` would count twice). None when
    they are all of its messages."""
    first = messages[0]
    while first in ledger.extra:  # the item's messages are numbered side by side, its first not an extra
        first -= 1
    end = first + 1
    while end in ledger.extra:
        end += 1
    if end - first == len(messages):
        return None
    keys = [ledger.failed[i].message for i in messages]
    named = [key for key in keys if key is not None]
    return named if len(named) == len(keys) else None  # a message without a key cannot be named: made whole again


def _same_message(first: FailedEvent, second: FailedEvent) -> bool:
    """Both refusals park the same message as it arrived: replaying it once makes both messages again."""
    return first.key == second.key and first.payload is second.payload
