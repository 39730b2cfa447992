"""The invocation's bookkeeping: every event and record, and the state each one ended in."""

from __future__ import annotations

from collections import Counter

from .model import DECODE, INVALID, REFUSED, Failure, Item, State


class Ledger:
    """Parallel lists indexed by event number; workers write disjoint indices, so no lock is needed.

    Records have a state of their own only when the record as a whole failed (it could not be
    decoded); otherwise a record's outcome is that of its events.
    """

    def __init__(self, record_count: int) -> None:
        self.record_states: list[State | None] = [None] * record_count
        self.record_failures: list[Failure | None] = [None] * record_count
        self.record_of: list[int] = []
        self.items: list[Item] = []
        self.states: list[State] = []
        self.failures: list[Failure | None] = []
        self.parking_attempted = False  # a dead-letter queue was asked to take the permanent failures

    def add(self, record: int, item: Item) -> int:
        self.record_of.append(record)
        self.items.append(item)
        self.states.append(State.PENDING)
        self.failures.append(None)
        return len(self.items) - 1

    def fail_record(self, record: int, failure: Failure) -> None:
        """The whole record failed before any event came out of it (it is not decodable)."""
        self.record_failures[record] = failure
        self.record_states[record] = State.PENDING if failure.permanent else State.RETRY

    def imported(self, indices: list[int]) -> None:
        states = self.states
        for index in indices:
            states[index] = State.IMPORTED

    def fail(self, index: int, failure: Failure) -> None:
        """A permanent failure waits to be parked (PENDING); a transient one is final (RETRY)."""
        self.failures[index] = failure
        self.states[index] = State.PENDING if failure.permanent else State.RETRY

    def fail_all(self, indices: list[int], failure: Failure) -> None:
        for index in indices:
            self.fail(index, failure)

    def events_to_park(self) -> list[int]:
        return [i for i, state in enumerate(self.states) if state is State.PENDING and self.failures[i] is not None]

    def records_to_park(self) -> list[int]:
        return [r for r, state in enumerate(self.record_states) if state is State.PENDING]

    def settle(self) -> None:
        """Whatever is still pending after delivery and parking is reported for retry."""
        self.states = [State.RETRY if state is State.PENDING else state for state in self.states]
        self.record_states = [State.RETRY if state is State.PENDING else state for state in self.record_states]

    def records_to_retry(self) -> list[bool]:
        """A record is reported iff it, or one of its events, was neither imported nor parked."""
        failed = [state is State.RETRY or state is State.PENDING for state in self.record_states]
        for index, state in enumerate(self.states):
            if state is not State.IMPORTED and state is not State.PARKED:
                failed[self.record_of[index]] = True
        return failed

    def counts(self) -> dict[str, int]:
        events = Counter(self.states)
        records = Counter(self.record_states)
        counts = {
            "events": len(self.states),
            "imported": events[State.IMPORTED],
            "parked": events[State.PARKED],
            "retry": events[State.RETRY] + events[State.PENDING],
            "records_parked": records[State.PARKED],
            "records_undecodable": sum(1 for failure in self.record_failures if failure is not None),
            "park_failures": 0,
            **{"parked_" + stage: 0 for stage in (DECODE, INVALID, REFUSED)},
        }
        # Parked by stage, and permanent failures that could not be parked (the dead-letter queue refused).
        for states, failures in ((self.states, self.failures), (self.record_states, self.record_failures)):
            for state, failure in zip(states, failures, strict=True):
                if failure is None or failure.stage is None:
                    continue
                if state is State.PARKED:
                    counts["parked_" + failure.stage] += 1
                elif self.parking_attempted:
                    counts["park_failures"] += 1
        return counts

    def reasons(self) -> Counter[str]:
        """How many events and records failed, by reason (no payloads: safe to log)."""
        reasons: Counter[str] = Counter()
        for failure in (*self.failures, *self.record_failures):
            if failure is not None:
                reasons[failure.field + ": " + failure.reason if failure.field else failure.reason] += 1
        return reasons
