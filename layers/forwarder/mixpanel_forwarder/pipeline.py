"""The hot loop: every record's items into events, checked and encoded, and into batches as they fill.

This runs once per event and is most of the forwarder's CPU: names are bound locally, and the common event
(`normalize_common`) takes one step; anything else takes the general path (`normalize`), which says why it
refuses an event. Checked events are encoded in runs of up to `RUN` (one encoder call for many events),
and batches go out as soon as they fill, so encoding the next overlaps sending the last.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from . import codec
from .batching import Batch, Batcher
from .errors import DecodeError, Inexact, Invalid
from .ledger import FailedEvent, Ledger
from .messages import MessageRules, Routed, TooLarge, kind_of_item, route
from .model import Failure, Item, Kind, SourceRecord, Stage
from .normalize import MAX_EVENT_BYTES, normalize_common
from .sources import Source

# Events encoded together: enough to make the encoder's per-call cost vanish, few enough that their dicts
# are still in the CPU's cache when encoded, and that a run over 1 MiB (each event is then checked alone) is rare.
RUN = 64


def encode_records(
    source: Source,
    records: list[SourceRecord],
    ledger: Ledger,
    batchers: Mapping[Kind, Batcher],
    submit: Callable[[Batch], None],
    rules: MessageRules,
) -> None:
    """Every message of `records` into its destination's batches (submitted as they fill), or failed in the ledger."""
    decode, enqueue, fragment, now_ms = source.decode, ledger.enqueue, codec.Fragment, rules.now_ms
    run = _Run(batchers[Kind.EVENT], submit, partial(_general_again, source, records, ledger, rules))
    add_event, add_index, events, limit = run.events.append, run.indices.append, run.events, run.limit
    for record_index, record in enumerate(records):
        try:
            items = decode(record)
        except DecodeError as exc:
            ledger.fail_record(record_index, Failure(str(exc), "record", Stage.DECODE))
            continue
        for item in items:
            index = enqueue(record_index)
            payload = item.payload
            # The common event in one step; None (untouched) for anything else, valid or not.
            event: Any = normalize_common(payload, item, now_ms) if type(payload) is dict else None
            if event is None:
                routed = _general(record, item, index, ledger, rules)
                if routed is None:
                    continue
                if routed.kind is not Kind.EVENT:  # a profile update: batched for its endpoint, in order
                    full = batchers[routed.kind].add(index, routed.body, routed.key)
                    if full is not None:
                        submit(full)
                    continue
                event = fragment(routed.body)  # checked and encoded already: the run copies it as it is
            add_event(event)
            add_index(index)
            if len(events) >= limit:
                run.encode()
                limit = run.limit
    run.encode()
    for batcher in batchers.values():
        last = batcher.flush()
        if last is not None:
            submit(last)


class _Run:
    """Checked events waiting to be encoded together, and what encoding them needs."""

    def __init__(self, batcher: Batcher, submit: Callable[[Batch], None], general: Callable[[int], bytes | None]):
        self._batcher, self._submit, self._general = batcher, submit, general
        self.events: list[Any] = []
        self.indices: list[int] = []
        self.limit = min(RUN, batcher.room())  # a run never spans two batches

    def encode(self) -> None:
        """Encodes the waiting events into the batcher (the lists are emptied in place), submitting full batches."""
        events, indices = self.events, self.indices
        if not events:
            return
        try:
            array: bytes | None = codec.dumps(events)
        except (TypeError, ValueError):  # e.g. NaN under the stdlib codec: each event alone says which
            array = None
        if array is not None and len(array) < MAX_EVENT_BYTES:  # then no event of the run is over 1 MiB
            added, full = self._batcher.add_run(indices, array)
            if added:
                if full is not None:
                    self._submit(full)
                events.clear()
                indices.clear()
                self.limit = min(RUN, self._batcher.room())
                return
        for index, event in zip(indices, events, strict=True):
            body = self._one(index, event)
            if body is not None:
                full = self._batcher.add(index, body)
                if full is not None:
                    self._submit(full)
        events.clear()
        indices.clear()
        self.limit = min(RUN, self._batcher.room())

    def _one(self, index: int, event: Any) -> bytes | None:
        """One event of a run that could not be taken whole: its JSON (a fragment's own), or None after failing it."""
        try:
            body: bytes | None = codec.dumps(event)
        except (TypeError, ValueError):
            body = None
        if body is not None and len(body) < MAX_EVENT_BYTES:
            return body
        return self._general(index)


def _general_again(
    source: Source, records: list[SourceRecord], ledger: Ledger, rules: MessageRules, index: int
) -> bytes | None:
    """`_general` for an event of a run, on its item as it arrived (normalizing changed the run's copy).

    The items of a record have consecutive event numbers, so the record decoded again finds it.
    """
    record_index = ledger.record_of[index]
    record = records[record_index]
    item = source.decode(record)[index - ledger.record_of.index(record_index)]
    routed = _general(record, item, index, ledger, rules)  # an event: only events are encoded in runs
    return routed.body if routed is not None else None


def _general(record: SourceRecord, item: Item, index: int, ledger: Ledger, rules: MessageRules) -> Routed | None:
    """The message for its destination, or None after failing it in the ledger with the field and reason
    Mixpanel would give."""
    try:
        kind = kind_of_item(item)
        if kind is not Kind.EVENT:
            ledger.classify(index, kind)
        try:
            routed = route(item, kind, rules)
        except Inexact:  # a float that may be an integer beyond 64 bits, rounded: read it exactly
            item = _exact_item(record, item)
            routed = route(item, kind, rules, exact=True)
    except TooLarge as exc:
        ledger.fail(index, _failed(_as_arrived(record, item), Failure(exc.message, exc.field, Stage.INVALID)))
        return None
    except Invalid as exc:
        stage = Stage.DECODE if item.error is not None else Stage.INVALID
        ledger.fail(index, _failed(item, Failure(exc.message, exc.field, stage)))
        return None
    except (TypeError, ValueError) as exc:  # e.g. an integer JSON allows but Mixpanel cannot store
        failure = Failure(f"cannot be encoded as JSON: {exc}", "properties", Stage.INVALID)
        ledger.fail(index, _failed(_as_arrived(record, item), failure))
        return None
    return routed


def _failed(item: Item, failure: Failure) -> FailedEvent:
    return FailedEvent(failure, item.payload, item.key, item.default_time_ms)


def _exact_item(record: SourceRecord, item: Item) -> Item:
    """`item` as its record reads with every integer exact; or Invalid saying it cannot be read so."""
    exact = record.exact_item(item.key)
    if exact is None:
        raise Invalid("event", "may hold an integer beyond 64 bits, and its record could not be read again exactly")
    return exact


def _as_arrived(record: SourceRecord, item: Item) -> Item:
    """`item` as it arrived, for one refused after normalizing edited it (time, ip): decoded afresh.

    Rare (an event over 1 MiB, or one the codec cannot write), so the record is simply read again.
    """
    try:
        fresh = next((each for each in record.exact_items() if each.key == item.key), None)
    except (DecodeError, ValueError, RecursionError):
        fresh = None
    return fresh if fresh is not None else item
