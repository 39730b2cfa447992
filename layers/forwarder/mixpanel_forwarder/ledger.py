"""The invocation's bookkeeping: every event and record, and the state each one ended in.

Events are numbered in the order they are decoded. Only failed events keep anything beyond their
record number and state: a successful event's dict is freed as soon as it is encoded (while it is
still in cache), instead of all of them together at the end of the invocation.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from .model import Failure, Kind, Stage, State

_PENDING, _IMPORTED, _PARKED, _RETRY, _FILTERED = (bytes([state]) for state in State)
_PENDING_STATE = int(State.PENDING)
PROFILE_KINDS = (Kind.USER, Kind.GROUP)


class FailedEvent:
    """A failed event: why, and what a parked message needs (the payload as it arrived, its coordinates).

    `key` is its item's (None for a message parked as it was sent); `message` the refused message's own key, which
    tells it apart from the other messages its item makes.
    """

    __slots__ = ("default_time_ms", "failure", "key", "message", "payload")

    def __init__(
        self,
        failure: Failure,
        payload: Any = None,
        key: str | None = None,
        default_time_ms: int | None = None,
        message: str | None = None,
    ):
        self.failure = failure
        self.payload = payload
        self.key = key
        self.default_time_ms = default_time_ms
        self.message = message


class Ledger:
    """Events: `record_of` and `states` (one byte each) by event number; `failed` only for those that failed.

    Sender threads write disjoint event numbers, so no lock is needed (they write through Outcomes, which
    shuts them out once the invocation answers). Records have a state of their own
    only when the record as a whole failed (it could not be decoded); otherwise a record's outcome is
    that of its events.

    What is read at the end (settle, the records to report, the counts) costs C-speed scans of `states`
    and Python steps per failure only: in the common invocation nothing failed, and a Python step per
    event or record there would be paid on every invocation for nothing.
    """

    def __init__(self, record_count: int) -> None:
        self.record_count = record_count  # records are numbered 0 .. record_count - 1
        # Only the records that failed as a whole, by record number (in ascending order: the pipeline fails
        # them in order): a list of one None per record would cost a Python step per record to read.
        self.record_states: dict[int, State] = {}
        self.record_failures: dict[int, Failure] = {}
        self.record_of: list[int] = []
        self.states = bytearray()
        self.failed: dict[int, FailedEvent] = {}
        # Messages that are not events (profile updates), by number: every other message is an event.
        self.kinds: dict[int, Kind] = {}
        self.parking_attempted = False  # a dead-letter queue was asked to take the permanent failures
        self.filtered_by: Counter[str] = Counter()  # filtered messages by the rule that filtered them
        # Messages made from the same item as the message before them (a Segment `group` call is a group update and
        # a user update): numbers a record's items do not account for one to one.
        self.extra: set[int] = set()
        # The keys of the messages of an item that made several (`messages.Refused.message`), by number: what a
        # replay names of a document it imported part of (`replay_remainder`). Made on the general path only.
        self.message_keys: dict[int, str] = {}
        # Records to park whole, by number: the messages of each that were not final, which go with it (`fail_whole`).
        self.whole: dict[int, list[int]] = {}

    def enqueue(self, record: int) -> int:
        """A new event of `record`, pending; its number."""
        index = len(self.states)
        self.record_of.append(record)
        self.states.append(_PENDING_STATE)
        return index

    def enqueue_extra(self, record: int) -> int:
        """Another message of the same item as the last one enqueued, pending; its number."""
        index = self.enqueue(record)
        self.extra.add(index)
        return index

    def item_position(self, index: int) -> int:
        """Which of its record's items message `index` came from (0 for the first)."""
        first = self.record_of.index(self.record_of[index])
        return index - first - sum(1 for extra in self.extra if first <= extra <= index)

    def filter(self, index: int, rule: str) -> None:
        """A user's rule filtered message `index` out: final, counted by rule."""
        self.states[index] = State.FILTERED
        self.filtered_by[rule] += 1

    def classify(self, index: int, kind: Kind) -> None:
        """Message `index` is of `kind` (an event unless said otherwise: events are not written down)."""
        if kind is not Kind.EVENT:
            self.kinds[index] = kind

    def kind(self, index: int) -> Kind:
        return self.kinds.get(index, Kind.EVENT)

    def fail_record(self, record: int, failure: Failure) -> None:
        """The whole record failed before any event came out of it: it is not decodable (permanent), or what it names
        cannot be read now (transient)."""
        self.record_failures[record] = failure
        self.record_states[record] = State.PENDING if failure.permanent else State.RETRY

    def imported(self, indices: list[int]) -> None:
        states = self.states
        for index in indices:
            states[index] = State.IMPORTED

    def fail(self, index: int, failed: FailedEvent) -> None:
        """A permanent failure waits to be parked (PENDING); a transient one is final (RETRY)."""
        self.failed[index] = failed
        self.states[index] = State.PENDING if failed.failure.permanent else State.RETRY

    def fail_all(self, indices: list[int], failure: Failure) -> None:
        for index in indices:
            self.fail(index, FailedEvent(failure))

    def fail_unsettled(self, indices: list[int], failure: Failure) -> None:
        """Events of a request that never ended; those a part of it settled (a half of a split) keep their state."""
        states, failed = self.states, self.failed
        for index in indices:
            if states[index] == State.PENDING and index not in failed:
                self.fail(index, FailedEvent(failure))

    def events_to_park(self) -> list[int]:
        return [i for i, failed in self.failed.items() if failed.failure.permanent and self.states[i] == State.PENDING]

    def parked(self, records: list[int], events: list[int]) -> None:
        """The dead-letter queue took these records and events (it was asked to take every permanent failure)."""
        self.parking_attempted = True
        for record in records:
            self.record_states[record] = State.PARKED
            for index in self.whole.pop(record, ()):
                self.states[index] = State.PARKED
        for index in events:
            self.states[index] = State.PARKED

    def records_failing_transiently(self) -> list[int]:
        """The records that will be reported whatever parking does (ascending): a message of theirs, or the record,
        failed for a transient reason, or was never answered for."""
        failed = {record for record, state in self.record_states.items() if state is State.RETRY}
        record_of, failures = self.record_of, self.failed
        failed.update(record_of[index] for index in _found(self.states, _RETRY))
        for index in _found(self.states, _PENDING):
            if index not in failures or not failures[index].failure.permanent:
                failed.add(record_of[index])
        return sorted(failed)

    def fail_whole(self, failures: dict[int, Failure]) -> None:
        """Each of these records is to be parked whole, for `failures`' reason (permanent): its messages that are not
        final are in its document, so they are parked with it (`parked`), never apart; else reported with it."""
        states, record_of, whole = self.states, self.record_of, self.whole
        unfinished = [i for state in (_PENDING, _RETRY) for i in _found(states, state) if record_of[i] in failures]
        for index in unfinished:
            whole.setdefault(record_of[index], []).append(index)
            states[index] = State.RETRY  # not parked apart: in the record's document
        for record, failure in failures.items():
            self.record_failures[record] = failure
            self.record_states[record] = State.PENDING

    def records_to_park(self) -> list[int]:
        return sorted(r for r, state in self.record_states.items() if state is State.PENDING)

    def settle(self) -> None:
        """Whatever is still pending after delivery and parking is reported for retry."""
        self.states = self.states.replace(_PENDING, _RETRY)
        record_states = self.record_states
        for record, state in record_states.items():  # a value replaced, never a key added: safe while iterating
            if state is State.PENDING:
                record_states[record] = State.RETRY

    def records_to_retry(self) -> list[int]:
        """The numbers of the records to report, ascending: a record is reported iff it, or one of its events,
        was neither imported nor parked."""
        failed = {record for record, state in self.record_states.items() if state is not State.PARKED}
        states, record_of = self.states, self.record_of
        for unfinished in (_PENDING, _RETRY):  # found by bytes.find: no Python step per imported event
            index = states.find(unfinished)
            while index != -1:
                failed.add(record_of[index])
                index = states.find(unfinished, index + 1)
        return sorted(failed)

    def counts(self) -> dict[str, int]:
        """Events (`events`, `imported`, `parked`, `retry`, `filtered`), profile updates by kind (`user_updates`,
        `user_updates_imported`, …), records, and parked messages by stage."""
        count = self.states.count  # C-speed, one scan per state: no Python step per event
        by_kind = self._profile_counts()  # a Python step per profile update only
        counts = {
            "events": len(self.states) - sum(tally["updates"] for tally in by_kind.values()),
            "imported": count(_IMPORTED) - sum(tally["imported"] for tally in by_kind.values()),
            "parked": count(_PARKED) - sum(tally["parked"] for tally in by_kind.values()),
            "retry": count(_RETRY) + count(_PENDING) - sum(tally["retry"] for tally in by_kind.values()),
            "filtered": count(_FILTERED) - sum(tally["filtered"] for tally in by_kind.values()),
            "records_parked": sum(1 for state in self.record_states.values() if state is State.PARKED),
            "records_undecodable": sum(1 for failure in self.record_failures.values() if failure.stage is Stage.DECODE),
            "park_failures": 0,
            **{"parked_" + stage: 0 for stage in Stage},
        }
        # Parked by stage, and permanent failures that could not be parked (the dead-letter queue refused).
        outcomes: list[tuple[int, Failure]] = [(self.states[i], failed.failure) for i, failed in self.failed.items()]
        outcomes += [(self.record_states[r], failure) for r, failure in self.record_failures.items()]
        for state, failure in outcomes:
            if failure.stage is None:
                continue
            if state == State.PARKED:
                counts["parked_" + failure.stage] += 1
            elif self.parking_attempted:
                counts["park_failures"] += 1
        for kind, tally in by_kind.items():
            counts[f"{kind}_updates"] = tally["updates"]
            for outcome in ("imported", "parked", "retry", "filtered"):
                counts[f"{kind}_updates_{outcome}"] = tally[outcome]
        return counts

    def _profile_counts(self) -> dict[Kind, dict[str, int]]:
        tallies = {
            kind: dict.fromkeys(("updates", "imported", "parked", "retry", "filtered"), 0) for kind in PROFILE_KINDS
        }
        outcome = {
            State.IMPORTED: "imported",
            State.PARKED: "parked",
            State.RETRY: "retry",
            State.PENDING: "retry",
            State.FILTERED: "filtered",
        }
        for index, kind in self.kinds.items():
            tally = tallies[kind]
            tally["updates"] += 1
            tally[outcome[State(self.states[index])]] += 1
        return tallies

    def reasons(self) -> Counter[str]:
        """How many events and records failed, by reason (no payloads: safe to log)."""
        reasons: Counter[str] = Counter()
        for failure in (*(failed.failure for failed in self.failed.values()), *self.record_failures.values()):
            reasons[failure.field + ": " + failure.reason if failure.field else failure.reason] += 1
        return reasons


def _found(states: bytearray, state: bytes) -> list[int]:
    """The numbers of the messages in `state`, found by bytes.find: no Python step per other message."""
    found = []
    index = states.find(state)
    while index != -1:
        found.append(index)
        index = states.find(state, index + 1)
    return found


class Outcomes:
    """The ledger as sender threads write it: once the invocation closes it to answer, a sender thread that is
    still running (its request outlived the deadline) changes nothing any more."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._lock = threading.Lock()
        self._closed = False

    def close(self) -> None:
        with self._lock:
            self._closed = True

    def imported(self, indices: list[int]) -> None:
        with self._lock:
            if not self._closed:
                self._ledger.imported(indices)

    def fail(self, index: int, failed: FailedEvent) -> None:
        with self._lock:
            if not self._closed:
                self._ledger.fail(index, failed)

    def fail_all(self, indices: list[int], failure: Failure) -> None:
        with self._lock:
            if not self._closed:
                self._ledger.fail_all(indices, failure)
