"""The pipeline: decode → normalize → batch → send → park → report, for one invocation."""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from . import codec
from .batching import Batcher
from .credentials import CredentialsSource, Endpoint, credentials_source
from .deadletter import Parker, SqsParker
from .deadline import Deadline
from .delivery import Delivery
from .errors import DecodeError
from .ledger import FailedEvent, Ledger
from .model import DECODE, INVALID, Failure, Inexact, Invalid, Item, SourceKind, SourceRecord, State
from .normalize import MAX_EVENT_BYTES, normalize, normalize_common
from .parked import Parked
from .report import batch_item_failures
from .retry import Backoff
from .settings import Settings
from .transport import Sender, Urllib3Sender

_REASONS_IN_SUMMARY = 10
_REASON_CHARACTERS = 200  # the summary line stays far below CloudWatch's 256 KB per log event
_PENDING = int(State.PENDING)


class Source(Protocol):
    """What the sqs and kinesis modules provide."""

    def source_records(self, event: Any) -> tuple[SourceKind, list[SourceRecord]]: ...

    def decode(self, record: SourceRecord) -> list[Item] | dict[str, Any]:
        """The record's items; or, for one plain Mixpanel event, the event itself (the fast path)."""
        ...

    def item_for(self, record: SourceRecord, payload: dict[str, Any]) -> Item:
        """The item for an event decode() returned bare, when it needs the general path after all."""
        ...


class Result:
    """One invocation's outcome: the partial batch response, and what happened to every event."""

    __slots__ = ("_counts", "batch_item_failures", "delivery", "kind", "ledger", "records")

    def __init__(
        self,
        kind: SourceKind,
        records: int,
        ledger: Ledger,
        delivery: dict[str, Any],
        batch_item_failures: list[dict[str, str]],
    ) -> None:
        self.kind = kind
        self.records = records
        self.ledger = ledger
        self.delivery = delivery
        self.batch_item_failures = batch_item_failures
        self._counts: dict[str, int] | None = None

    def counts(self) -> dict[str, int]:
        """The ledger's counts, computed once (the summary line and the metrics both need them)."""
        if self._counts is None:
            self._counts = self.ledger.counts()
        return self._counts

    @property
    def response(self) -> dict[str, Any]:
        return {"batchItemFailures": self.batch_item_failures}

    def summary(self) -> dict[str, Any]:
        """Counts and reasons only, never payloads: safe to log."""
        return {
            "source": self.kind.value,
            "records": self.records,
            **self.counts(),
            "records_reported": len(self.batch_item_failures),
            **{name: value for name, value in self.delivery.items() if name != "latencies_ms"},
            "reasons": {
                _clip(reason): count for reason, count in self.ledger.reasons().most_common(_REASONS_IN_SUMMARY)
            },
        }


class Forwarder:
    """Built once per container: the HTTP pool, the worker threads and the parker live across invocations."""

    def __init__(
        self,
        settings: Settings,
        sender: Sender | None = None,
        parker: Parker | None = None,
        credentials: CredentialsSource | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self._sender = sender or Urllib3Sender(settings.max_concurrent_requests, settings.connect_timeout)
        self._credentials = credentials or credentials_source(settings)
        if parker is None and settings.dead_letter_queue_url:
            parker = SqsParker(settings.dead_letter_queue_url, bucket=settings.dead_letter_bucket)
        self._parker = parker
        self._executor = ThreadPoolExecutor(settings.max_concurrent_requests, thread_name_prefix="mixpanel-send")
        self._backoff = Backoff(settings, rng)
        self._clock = clock
        self._deadline = Deadline(None, 0)  # the current invocation's, once one runs

    def forward(self, source: Source, event: Any, context: Any) -> Result:
        # The cyclic GC would walk every event dict of the invocation again and again as they pile up
        # (~10% of the CPU per event); nothing here makes reference cycles, so it rests until the end.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            return self._forward(source, event, context)
        finally:
            if gc_was_enabled:
                gc.enable()

    def _forward(self, source: Source, event: Any, context: Any) -> Result:
        deadline = Deadline(context, self.settings.deadline_margin_ms)
        self._deadline = deadline  # for a refresh after a 401, which Delivery asks for with no arguments
        kind, records = source.source_records(event)
        # Credentials first: when they cannot be had, nothing can work and the whole batch is retried.
        endpoint = Endpoint.for_credentials(self.settings.api_url, self._credentials.get(within=deadline.remaining()))
        ledger = Ledger(len(records))
        delivery = Delivery(
            self.settings, self._sender, self._executor, self._backoff, ledger, deadline, endpoint, self._refreshed
        )
        self._decode_and_send(source, records, ledger, delivery)
        delivery.wait()
        self._park(records, ledger, deadline)
        ledger.settle()
        failures = batch_item_failures(kind, records, ledger.records_to_retry())
        return Result(kind, len(records), ledger, delivery.stats(), failures)

    def _refreshed(self) -> Endpoint:
        credentials = self._credentials.get(refresh=True, within=self._deadline.remaining())
        return Endpoint.for_credentials(self.settings.api_url, credentials)

    def _decode_and_send(self, source: Source, records: list[SourceRecord], ledger: Ledger, delivery: Delivery) -> None:
        """Batches go out as soon as they fill, so encoding the next overlaps sending the last.

        This loop runs once per event: names are bound locally and the ledger is written directly.
        """
        batcher = Batcher(self.settings.batch_max_events, self.settings.batch_max_bytes)
        add_to_batch, submit, decode, dumps = batcher.add, delivery.submit, source.decode, codec.dumps
        record_of, states = ledger.record_of, ledger.states
        now_ms = int(self._clock() * 1000)
        for record_index, record in enumerate(records):
            try:
                decoded = decode(record)
            except DecodeError as exc:
                ledger.fail_record(record_index, Failure(str(exc), "record", DECODE))
                continue
            if isinstance(decoded, list):
                items = decoded
            else:
                # One plain Mixpanel event: most records are, and most need nothing but the common checks.
                event = normalize_common(decoded, now_ms)
                if event is not None:
                    try:
                        encoded: bytes | None = dumps(event)
                    except (TypeError, ValueError):  # e.g. NaN under the stdlib codec: the general path says why
                        encoded = None
                    if encoded is not None and len(encoded) < MAX_EVENT_BYTES:
                        index = len(record_of)
                        record_of.append(record_index)
                        states.append(_PENDING)
                        full = add_to_batch(index, encoded)
                        if full is not None:
                            submit(full)
                        continue
                items = [source.item_for(record, decoded)]  # the general path decides, and says why
            for item in items:
                index = len(record_of)
                record_of.append(record_index)
                states.append(_PENDING)
                try:
                    try:
                        event = normalize(item, now_ms)
                    except Inexact:  # a float that may be an integer beyond 64 bits, rounded: read it exactly
                        item = _exact_item(record, item)
                        event = normalize(item, now_ms, exact=True)
                    body = dumps(event)
                except Invalid as exc:
                    stage = DECODE if item.error is not None else INVALID
                    ledger.fail(index, _failed(item, Failure(exc.message, exc.field, stage)))
                    continue
                except (TypeError, ValueError) as exc:  # e.g. an integer JSON allows but Mixpanel cannot store
                    failure = Failure(f"cannot be encoded as JSON: {exc}", "properties", INVALID)
                    ledger.fail(index, _failed(_as_arrived(record, item), failure))
                    continue
                if len(body) >= MAX_EVENT_BYTES:
                    failure = Failure(f"{len(body)} bytes, over Mixpanel's 1 MiB per event", "event", INVALID)
                    ledger.fail(index, _failed(_as_arrived(record, item), failure))
                    continue
                full = add_to_batch(index, body)
                if full is not None:
                    submit(full)
        last = batcher.flush()
        if last is not None:
            submit(last)

    def _park(self, records: list[SourceRecord], ledger: Ledger, deadline: Deadline) -> None:
        """Permanent failures go to the dead-letter queue; without one they stay pending and are reported."""
        if self._parker is None:
            return
        record_indices = ledger.records_to_park()
        event_indices = sorted(ledger.events_to_park())  # in decode order: events of one record side by side
        if not record_indices and not event_indices:
            return
        parked = [
            Parked(_why(ledger.record_failures[r]), records[r].origin, "record", records[r].raw) for r in record_indices
        ]
        for i in event_indices:
            failed = ledger.failed[i]
            record_index = ledger.record_of[i]
            origin = dict(records[record_index].origin)
            # The item key and envelope time let a replay derive the same $insert_id and time again.
            if failed.key is not None:
                origin["item"] = failed.key
            if failed.default_time_ms is not None:
                origin["defaultTimeMs"] = failed.default_time_ms
            record = records[record_index].raw
            parked.append(Parked(failed.failure.as_dict(), origin, "event", failed.payload, record, record_index))
        ledger.parking_attempted = True
        stored = self._parker.park(parked, deadline.remaining)
        for r, ok in zip(record_indices, stored, strict=False):
            if ok:
                ledger.record_states[r] = State.PARKED
        for i, ok in zip(event_indices, stored[len(record_indices) :], strict=True):
            if ok:
                ledger.states[i] = State.PARKED


def _failed(item: Item, failure: Failure) -> FailedEvent:
    return FailedEvent(failure, item.payload, item.key, item.default_time_ms)


def _why(failure: Failure | None) -> dict[str, Any]:
    assert failure is not None  # only failed records and events are parked
    return failure.as_dict()


def _clip(text: str) -> str:
    return text if len(text) <= _REASON_CHARACTERS else text[: _REASON_CHARACTERS - 1] + "…"


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
