"""The ledger's end of invocation (settle, the records to report, the counts) and the partial batch response it
gives: exact when only a few of many records failed, and the same as reading every record one by one."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mixpanel_forwarder.errors import InvocationError
from mixpanel_forwarder.ledger import FailedEvent, Ledger
from mixpanel_forwarder.model import Failure, Kind, SourceKind, SourceRecord, Stage, State
from mixpanel_forwarder.report import batch_item_failures

TRANSIENT = Failure("503 from Mixpanel")
INVALID = Failure("missing", "properties.distinct_id", Stage.INVALID)
REFUSED = Failure("too old", "properties.time", Stage.REFUSED)
UNDECODABLE = Failure("not JSON", "record", Stage.DECODE)
FAILURES = {"transient": TRANSIENT, "invalid": INVALID, "refused": REFUSED}

OUTCOMES = ("", "_imported", "_parked", "_retry", "_filtered")
NO_PROFILE_UPDATES = {f"{kind}_updates{outcome}": 0 for kind in ("user", "group") for outcome in OUTCOMES}


def records(count: int) -> list[SourceRecord]:
    return [SourceRecord(f"m{r}", {}, {}) for r in range(count)]


def ledger_of(events_per_record: list[int]) -> Ledger:
    """Every record's events enqueued and imported; a record with 0 events is left for fail_record."""
    ledger = Ledger(len(events_per_record))
    for record, events in enumerate(events_per_record):
        ledger.imported([ledger.enqueue(record) for _ in range(events)])
    return ledger


def reported(ledger: Ledger, kind: SourceKind = SourceKind.SQS) -> list[str]:
    ledger.settle()
    failures = batch_item_failures(kind, records(ledger.record_count), ledger.records_to_retry())
    return [failure["itemIdentifier"] for failure in failures]


def test_all_imported_reports_nothing_and_counts_every_event_imported() -> None:
    ledger = ledger_of([1] * 2000)

    assert reported(ledger) == []
    assert ledger.records_to_retry() == []
    assert ledger.counts() == {
        "events": 2000,
        "imported": 2000,
        "parked": 0,
        "retry": 0,
        "filtered": 0,
        "records_parked": 0,
        "records_undecodable": 0,
        "park_failures": 0,
        "parked_decode": 0,
        "parked_invalid": 0,
        "parked_refused": 0,
        "parked_crash_loop": 0,
        "parked_retention": 0,
        **NO_PROFILE_UPDATES,
    }
    assert ledger.reasons() == Counter()


def test_sparse_failures_report_only_their_records() -> None:
    ledger = ledger_of([1] * 1000 + [0] + [2] * 999)
    ledger.fail(17, FailedEvent(TRANSIENT))  # record 17
    ledger.fail_record(1000, UNDECODABLE)  # no parker: pending, then reported
    ledger.fail(ledger.record_of.index(1501) + 1, FailedEvent(INVALID))  # the second event of record 1501

    assert reported(ledger) == ["m17", "m1000", "m1501"]
    assert ledger.records_to_retry() == [17, 1000, 1501]


def test_fifo_reports_the_first_failed_record_and_every_one_after_it() -> None:
    ledger = ledger_of([1] * 10)
    ledger.fail(7, FailedEvent(TRANSIENT))
    ledger.fail(3, FailedEvent(TRANSIENT))

    assert reported(ledger, SourceKind.SQS_FIFO) == ["m3", "m4", "m5", "m6", "m7", "m8", "m9"]


def test_fifo_reports_from_an_undecodable_record_even_when_every_event_was_imported() -> None:
    ledger = ledger_of([1, 1, 0, 1])
    ledger.fail_record(2, UNDECODABLE)

    assert reported(ledger, SourceKind.SQS_FIFO) == ["m2", "m3"]


def test_fifo_with_everything_imported_or_parked_reports_nothing() -> None:
    ledger = ledger_of([1, 0, 1])
    ledger.fail_record(1, UNDECODABLE)
    ledger.parked([1], [])

    assert reported(ledger, SourceKind.SQS_FIFO) == []


def test_a_record_without_an_identifier_that_must_be_retried_fails_the_invocation() -> None:
    with pytest.raises(InvocationError):
        batch_item_failures(SourceKind.SQS, [SourceRecord(None, {}, {})], [0])


def test_settle_reports_what_is_still_pending_for_retry() -> None:
    ledger = ledger_of([0, 0])
    ledger.enqueue(0)  # never settled by any request
    ledger.fail_record(1, UNDECODABLE)  # permanent, but nothing parked it

    ledger.settle()

    assert bytes(ledger.states) == bytes([State.RETRY])
    assert ledger.record_states == {1: State.RETRY}
    assert ledger.records_to_retry() == [0, 1]


def test_counts_parked_by_stage_undecodable_records_and_park_failures() -> None:
    ledger = ledger_of([1, 0, 0, 2, 1])
    ledger.fail_record(1, UNDECODABLE)
    ledger.fail_record(2, UNDECODABLE)
    ledger.fail(1, FailedEvent(INVALID))
    ledger.fail(2, FailedEvent(REFUSED))
    ledger.fail(3, FailedEvent(TRANSIENT))
    ledger.parked([1], [1])  # the queue took record 1 and event 1, not record 2 nor event 2

    ledger.settle()

    assert ledger.counts() == {
        "events": 4,
        "imported": 1,
        "parked": 1,
        "retry": 2,
        "filtered": 0,
        "records_parked": 1,
        "records_undecodable": 2,
        "park_failures": 2,  # record 2 and event 2; event 3 was transient, never meant to be parked
        "parked_decode": 1,
        "parked_invalid": 1,
        "parked_refused": 0,
        "parked_crash_loop": 0,
        "parked_retention": 0,
        **NO_PROFILE_UPDATES,
    }
    assert ledger.records_to_retry() == [2, 3, 4]
    assert ledger.reasons() == Counter(
        {
            "record: not JSON": 2,
            "properties.distinct_id: missing": 1,
            "properties.time: too old": 1,
            "503 from Mixpanel": 1,
        }
    )


# What each record or event may end as, for the comparison below.
OUTCOMES = st.sampled_from(["imported", "transient", "invalid", "refused", "pending"])


@st.composite
def invocations(draw: Any) -> tuple[list[int], dict[int, str], list[str], set[int], set[int]]:
    """Events per record (0: undecodable), each event's outcome, which records and events the queue took."""
    events_per_record = draw(st.lists(st.integers(0, 3), min_size=1, max_size=12))
    events = sum(events_per_record)
    outcomes = draw(st.lists(OUTCOMES, min_size=events, max_size=events))
    kinds = st.sampled_from(["permanent", "transient"])
    undecodable = {r: draw(kinds) for r, n in enumerate(events_per_record) if n == 0}
    parked_records = draw(st.sets(st.sampled_from(sorted(undecodable)))) if undecodable else set()
    parked_events = draw(st.sets(st.integers(0, max(events - 1, 0)))) if events else set()
    return events_per_record, undecodable, outcomes, parked_records, parked_events


def reference(ledger: Ledger, events_per_record: list[int]) -> list[bool]:
    """The rule read one record and one event at a time: reported iff neither imported nor parked."""
    failed = [ledger.record_states.get(r) in (State.RETRY, State.PENDING) for r in range(len(events_per_record))]
    for index, state in enumerate(ledger.states):
        if state in (State.RETRY, State.PENDING):
            failed[ledger.record_of[index]] = True
    return failed


@settings(max_examples=300, deadline=None)
@given(invocations(), st.sampled_from(list(SourceKind)))
def test_the_report_and_counts_are_those_of_reading_every_record_and_event(
    invocation: tuple[list[int], dict[int, str], list[str], set[int], set[int]], kind: SourceKind
) -> None:
    events_per_record, undecodable, outcomes, parked_records, parked_events = invocation
    ledger = Ledger(len(events_per_record))
    for record, events in enumerate(events_per_record):
        if events == 0:
            ledger.fail_record(record, UNDECODABLE if undecodable[record] == "permanent" else TRANSIENT)
        for _ in range(events):
            index = ledger.enqueue(record)
            outcome = outcomes[index]
            if outcome == "imported":
                ledger.imported([index])
            elif outcome != "pending":
                ledger.fail(index, FailedEvent(FAILURES[outcome]))
    to_park = set(ledger.events_to_park())
    parked_records &= set(ledger.records_to_park())
    ledger.parked(sorted(parked_records), sorted(parked_events & to_park))

    ledger.settle()

    failed = reference(ledger, events_per_record)
    assert ledger.records_to_retry() == [r for r, flag in enumerate(failed) if flag]
    first = next((r for r, flag in enumerate(failed) if flag), len(failed))
    expected = range(first, len(failed)) if kind is SourceKind.SQS_FIFO else ledger.records_to_retry()
    assert reported(ledger, kind) == [f"m{r}" for r in expected]
    states = Counter(ledger.states)
    counts = ledger.counts()
    assert (counts["events"], counts["imported"], counts["parked"], counts["retry"]) == (
        len(ledger.states),
        states[State.IMPORTED],
        states[State.PARKED],
        states[State.RETRY],
    )
    assert counts["records_parked"] == len(parked_records)
    # Undecodable: failed whole when decoded; a record failed whole for a transient reason (a crash-looping one the
    # source dead-letter queue did not take) is not.
    assert counts["records_undecodable"] == sum(1 for kind in undecodable.values() if kind == "permanent")
    assert counts["parked_decode"] == len(parked_records)
    assert counts["parked_invalid"] + counts["parked_refused"] == counts["parked"]


def test_profile_updates_are_counted_by_kind_and_outcome_apart_from_events() -> None:
    ledger = Ledger(1)
    messages = [ledger.enqueue(0) for _ in range(6)]
    ledger.classify(messages[1], Kind.USER)
    ledger.classify(messages[2], Kind.USER)
    ledger.classify(messages[3], Kind.GROUP)
    ledger.classify(messages[4], Kind.EVENT)  # said outright: still an event
    ledger.imported([messages[0], messages[1], messages[3]])
    ledger.fail(messages[2], FailedEvent(Failure("bad", "$set", Stage.INVALID)))
    ledger.parked([], [messages[2]])
    ledger.settle()

    counts = ledger.counts()
    assert (counts["events"], counts["imported"], counts["parked"], counts["retry"]) == (3, 1, 0, 2)
    assert (counts["user_updates"], counts["user_updates_imported"], counts["user_updates_parked"]) == (2, 1, 1)
    assert (counts["group_updates"], counts["group_updates_imported"], counts["group_updates_retry"]) == (1, 1, 0)
    assert counts["parked_invalid"] == 1
    assert [ledger.kind(index) for index in messages] == [
        Kind.EVENT,
        Kind.USER,
        Kind.USER,
        Kind.GROUP,
        Kind.EVENT,
        Kind.EVENT,
    ]
