"""The hot loop: every record's items into events, checked and encoded, and into batches as they fill.

This runs once per event and is most of the forwarder's CPU: names are bound locally, and the common event
(`normalize_common`) takes one step; anything else takes the general path (`normalize`), which says why it
refuses an event. Batches go out as soon as they fill, so encoding the next overlaps sending the last.
"""

from __future__ import annotations

from collections.abc import Callable

from . import codec
from .batching import Batch, Batcher
from .errors import DecodeError, Inexact, Invalid
from .ledger import FailedEvent, Ledger
from .model import Failure, Item, SourceRecord, Stage
from .normalize import MAX_EVENT_BYTES, normalize, normalize_common
from .sources import Source


def encode_records(
    source: Source,
    records: list[SourceRecord],
    ledger: Ledger,
    batcher: Batcher,
    submit: Callable[[Batch], None],
    now_ms: int,
) -> None:
    add_to_batch, decode, dumps, enqueue = batcher.add, source.decode, codec.dumps, ledger.enqueue
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
            event = normalize_common(payload, now_ms) if type(payload) is dict else None
            if event is not None:
                try:
                    body: bytes | None = dumps(event)
                except (TypeError, ValueError):  # e.g. NaN under the stdlib codec: the general path says why
                    body = None
                if body is not None and len(body) < MAX_EVENT_BYTES:
                    full = add_to_batch(index, body)
                    if full is not None:
                        submit(full)
                    continue
            body = _general(record, item, index, ledger, now_ms)
            if body is not None:
                full = add_to_batch(index, body)
                if full is not None:
                    submit(full)
    last = batcher.flush()
    if last is not None:
        submit(last)


def _general(record: SourceRecord, item: Item, index: int, ledger: Ledger, now_ms: int) -> bytes | None:
    """The event's JSON, or None after failing it in the ledger with the field and reason Mixpanel would give."""
    try:
        try:
            event = normalize(item, now_ms)
        except Inexact:  # a float that may be an integer beyond 64 bits, rounded: read it exactly
            item = _exact_item(record, item)
            event = normalize(item, now_ms, exact=True)
        body = codec.dumps(event)
    except Invalid as exc:
        stage = Stage.DECODE if item.error is not None else Stage.INVALID
        ledger.fail(index, _failed(item, Failure(exc.message, exc.field, stage)))
        return None
    except (TypeError, ValueError) as exc:  # e.g. an integer JSON allows but Mixpanel cannot store
        failure = Failure(f"cannot be encoded as JSON: {exc}", "properties", Stage.INVALID)
        ledger.fail(index, _failed(_as_arrived(record, item), failure))
        return None
    if len(body) >= MAX_EVENT_BYTES:
        failure = Failure(f"{len(body)} bytes, over Mixpanel's 1 MiB per event", "event", Stage.INVALID)
        ledger.fail(index, _failed(_as_arrived(record, item), failure))
        return None
    return body


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
