"""The hot loop: every record's items into events, checked and encoded, and into batches as they fill.

This runs once per event and is most of the forwarder's CPU: names are bound locally, and the common event
(`normalize_common`) takes one step; anything else takes the general path (`normalize`), which says why it
refuses an event. Checked events are encoded in runs of up to `RUN` (one encoder call for many events),
and batches go out as soon as they fill, so encoding the next overlaps sending the last.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from functools import partial
from typing import Any

from . import codec
from .batching import Batch, Batcher
from .errors import DecodeError, Inexact, Invalid, SourceUnavailable
from .formats import common_event
from .ledger import FailedEvent, Ledger
from .messages import FilteredOut, MessageRules, Refused, Routed, item_messages, route_item
from .model import FORMAT_AUTO, FORMAT_MIXPANEL, Failure, Item, Kind, SourceRecord, Stage
from .normalize import MAX_EVENT_BYTES, normalize_common
from .sources import Source
from .transforms import Filtered

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
    skip: Collection[int] = (),
) -> None:
    """Every message of `records` into its destination's batches (submitted as they fill), or failed in the ledger;
    but the records `skip` numbers (taken care of already: a crash-looping SQS record, redelivery.py)."""
    decode, enqueue, fragment, now_ms = source.decode, ledger.enqueue, codec.Fragment, rules.now_ms
    run = _Run(batchers[Kind.EVENT], submit, partial(_general_again, source, records, ledger, rules))
    add_event, add_index, events, limit = run.events.append, run.indices.append, run.events, run.limit
    # Plain: Mixpanel's own shapes and no TRANSFORMS, the common case, whose first step is normalize_common alone.
    plain = rules.transforms is None and rules.payload_format in (FORMAT_AUTO, FORMAT_MIXPANEL)
    payload_format = rules.payload_format
    vendors = payload_format == FORMAT_AUTO  # under auto, a vendor's common events take one step too
    first = partial(_first_step, ledger, rules)
    numbered = enumerate(records) if not skip else [(i, record) for i, record in enumerate(records) if i not in skip]
    for record_index, record in numbered:
        try:
            items = decode(record)
        except DecodeError as exc:
            ledger.fail_record(record_index, Failure(str(exc), "record", Stage.DECODE))
            continue
        except SourceUnavailable as exc:  # what the record names cannot be read now: reported, read again later
            ledger.fail_record(record_index, Failure(str(exc), "record"))
            continue
        for item in items:
            index = enqueue(record_index)
            payload = item.payload
            # The common event in one step; None (untouched) for anything else, valid or not.
            if plain:
                event: Any = normalize_common(payload, item, now_ms) if type(payload) is dict else None
                if event is None and vendors:  # not Mixpanel's common event: perhaps a vendor's, in one step
                    event = common_event(item, payload_format, now_ms)
            else:
                event = first(item, index)
                if event is _FILTERED:
                    continue
            if event is not None:
                add_event(event)
                add_index(index)
                if len(events) >= limit:
                    run.encode()
                    limit = run.limit
                continue
            for message_index, routed in _general(record_index, record, item, index, ledger, rules):
                if routed.kind is not Kind.EVENT:  # a profile update: batched for its endpoint, in order
                    full = batchers[routed.kind].add(message_index, routed.body, routed.key)
                    if full is not None:
                        submit(full)
                    continue
                # Checked and encoded already (the run copies it as it is), or common in shape and encoded in the run.
                add_event(fragment(routed.body) if routed.event is None else routed.event)
                add_index(message_index)
                if len(events) >= limit:
                    run.encode()
                    limit = run.limit
    run.encode()
    for batcher in batchers.values():
        last = batcher.flush()
        if last is not None:
            submit(last)


_FILTERED: Any = object()


def _first_step(ledger: Ledger, rules: MessageRules, item: Item, index: int) -> Any:
    """The common event in one step where there are transforms or another format: the event as normalize_common
    returns it, _FILTERED after filtering it out, or None for the general path (which starts again from the item)."""
    payload = item.payload
    transforms = rules.transforms
    if rules.payload_format not in (FORMAT_AUTO, FORMAT_MIXPANEL):
        return common_event(item, rules.payload_format, rules.now_ms) if transforms is None else None
    if type(payload) is not dict:
        return None
    if transforms is None or item.sent:
        return normalize_common(payload, item, rules.now_ms)
    name, properties = payload.get("event"), payload.get("properties")
    if len(payload) != 2 or type(name) is not str or not name or type(properties) is not dict:
        return None
    try:
        transformed = transforms.event(name, properties)
    except Inexact:
        return None  # a value to hash may be a rounded integer: the general path reads the record again exactly
    if isinstance(transformed, Filtered):
        ledger.filter(index, transformed.rule)
        return _FILTERED
    return normalize_common(transformed, item, rules.now_ms)


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
    """The JSON of event `index` of a run, routed again from its item as it arrived (normalizing changed the run's
    copy); None after failing it in the ledger. Rare: an event the run could not encode, or of 1 MiB or more.

    The record decoded again finds the item; the item routed again (no number is given twice) finds the message.
    """
    record_index = ledger.record_of[index]
    record = records[record_index]
    item = source.decode(record)[ledger.item_position(index)]
    first = index
    while first in ledger.extra:
        first -= 1
    # The message's key, for a parked item to name it: the others of its item may have been imported.
    message = item_messages(item, rules)[index - first].item.key
    try:
        try:
            outcome = route_item(item, rules)[index - first]
        except Inexact:
            item = _exact_item(record, item)
            outcome = route_item(item, rules, exact=True)[index - first]
    except Invalid as exc:
        ledger.fail(index, _failed(item, Failure(exc.message, exc.field, Stage.INVALID), message))
        return None
    if type(outcome) is Routed:
        body = outcome.body
        if len(body) < MAX_EVENT_BYTES:
            return body
        reason = f"{len(body)} bytes, over Mixpanel's 1 MiB per event"
        outcome = Refused(Kind.EVENT, Failure(reason, "event", Stage.INVALID), changed=True, message=message)
    if type(outcome) is Refused:
        arrived = _as_arrived(record, item) if outcome.changed else item
        ledger.fail(index, _failed(arrived, outcome.failure, message))
    return None


def _general(
    record_index: int, record: SourceRecord, item: Item, index: int, ledger: Ledger, rules: MessageRules
) -> list[tuple[int, Routed]]:
    """The messages of `item` for their destinations, numbered (`index` the first; a format making more numbers the
    others after it); each that is not is failed in the ledger with the field and reason Mixpanel would give, or
    filtered."""
    try:
        try:
            outcomes = route_item(item, rules)
        except Inexact:  # a float that may be an integer beyond 64 bits, rounded: read it exactly
            item = _exact_item(record, item)
            outcomes = route_item(item, rules, exact=True)
    except Invalid as exc:  # the item as a whole: not a message of its format
        stage = Stage.DECODE if item.error is not None else Stage.INVALID
        ledger.fail(index, _failed(item, Failure(exc.message, exc.field, stage)))
        return []
    routed = []
    several = len(outcomes) > 1
    for n, outcome in enumerate(outcomes):
        message_index = index if n == 0 else ledger.enqueue_extra(record_index)
        ledger.classify(message_index, outcome.kind)
        if several and outcome.message is not None:
            ledger.message_keys[message_index] = outcome.message
        if type(outcome) is Routed:
            routed.append((message_index, outcome))
        elif type(outcome) is FilteredOut:
            ledger.filter(message_index, outcome.rule)
        else:
            assert type(outcome) is Refused
            arrived = _as_arrived(record, item) if outcome.changed else item
            ledger.fail(message_index, _failed(arrived, outcome.failure, outcome.message))
    return routed


def _failed(item: Item, failure: Failure, message: str | None = None) -> FailedEvent:
    return FailedEvent(failure, item.payload, item.key, item.default_time_ms, message)


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
