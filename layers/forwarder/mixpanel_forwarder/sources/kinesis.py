"""Kinesis invocations: records, and each record's data (KPL aggregate, gzip, CloudWatch Logs, JSON) into items."""

from __future__ import annotations

import base64
import binascii
from functools import partial
from typing import Any

from .. import codec
from ..errors import DecodeError, InvocationError
from ..model import DefaultTime, Item, SourceKind, SourceRecord
from . import kpl
from .documents import Loads, decode_document

_GZIP_MAGIC = b"\x1f\x8b"

NAME = "kinesis"  # the metrics dimension


def source_records(event: Any) -> tuple[SourceKind, list[SourceRecord]]:
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        raise InvocationError("the event has no Records list: is this function subscribed to a Kinesis stream?")
    out = [
        KinesisRecord(raw)
        if type(raw) is dict and type(raw.get("kinesis")) is dict
        else SourceRecord(None, raw if isinstance(raw, dict) else {"record": raw}, {})
        for raw in records
    ]
    return SourceKind.KINESIS, out


class KinesisRecord(SourceRecord):
    """A Kinesis record; its identifier and origin are read from it only when needed."""

    __slots__ = ()

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    @property
    def identifier(self) -> str | None:  # type: ignore[override]  # read-only: computed on demand
        sequence = self.raw["kinesis"].get("sequenceNumber")
        return sequence if isinstance(sequence, str) and sequence else None

    @property
    def origin(self) -> dict[str, Any]:  # type: ignore[override]  # read-only: computed on demand
        return {
            "eventSourceARN": self.raw.get("eventSourceARN"),
            "shardId": _shard(self.raw),
            "sequenceNumber": self.identifier,
            "partitionKey": self.raw["kinesis"].get("partitionKey"),
        }

    def exact_items(self) -> list[Item]:
        return decode(self, codec.loads_exact)


def _shard(raw: dict[str, Any]) -> str | None:
    event_id = raw.get("eventID")
    return event_id.split(":", 1)[0] if isinstance(event_id, str) and ":" in event_id else None


def record_key(record: SourceRecord) -> str:
    """The record's coordinates, which its items' keys start with: its shard and sequence number."""
    return f"kin:{_shard(record.raw) or ''}:{record.identifier}"


def _arrival_ms(kinesis: dict[str, Any]) -> int | None:
    arrival = kinesis.get("approximateArrivalTimestamp")
    return round(arrival * 1000) if isinstance(arrival, int | float) and not isinstance(arrival, bool) else None


def decode(record: SourceRecord, loads: Loads = codec.loads) -> list[Item]:
    """The items of the record's data (most records are one plain JSON event: that case is made cheap)."""
    kinesis = record.raw.get("kinesis")
    if not isinstance(kinesis, dict) or record.identifier is None:
        raise DecodeError("Kinesis record has no kinesis.sequenceNumber")
    try:
        data = base64.b64decode(kinesis.get("data") or "", validate=True)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise DecodeError(f"Kinesis data is not base64: {exc}") from exc
    if data[:1] == b"{":  # not KPL (magic F3), not gzip (1F 8B): perhaps one Mixpanel event
        try:
            value = loads(data)
        except codec.JSONDecodeError:
            value = None  # NDJSON, or not JSON: the general path says which
        if type(value) is dict and "properties" in value and "event" in value:
            return [_LoneEvent(value, record)]
    key = record_key(record)
    default_time_ms = partial(_arrival_ms, kinesis)  # read only if an event has no time of its own
    if kpl.is_aggregated(data):
        try:
            sub_records = kpl.deaggregate(data)
        except ValueError as exc:  # truncated, corrupt, or not KPL's protobuf: it says which
            raise DecodeError(str(exc)) from exc
        items: list[Item] = []
        for sub_sequence, sub_data in enumerate(sub_records):
            sub_key = f"{key}:{sub_sequence}"
            try:
                items.extend(_decode_data(sub_data, sub_key, default_time_ms, loads))
            except DecodeError as exc:
                items.append(Item(sub_data, f"{sub_key}:0", default_time_ms, f"KPL sub-record {sub_sequence}: {exc}"))
        return items
    return _decode_data(data, key, default_time_ms, loads)


class _LoneEvent(Item):
    """The record's one event, keyed like decode_document keys a lone event; key and arrival time on demand."""

    __slots__ = ("_record",)

    def __init__(self, payload: Any, record: SourceRecord) -> None:
        self.payload = payload
        self.error = None
        self._record = record

    @property
    def key(self) -> str:  # type: ignore[override]  # read-only: computed on demand
        return f"{record_key(self._record)}:0"

    @property
    def default_time_ms(self) -> int | None:  # computed on demand
        return _arrival_ms(self._record.raw["kinesis"])


def _decode_data(data: bytes, key: str, default_time_ms: DefaultTime, loads: Loads) -> list[Item]:
    if data.startswith(_GZIP_MAGIC):
        try:
            data = codec.gunzip(data)
        except (OSError, EOFError, ValueError) as exc:  # isal and zlib raise different subclasses
            raise DecodeError(f"gzip data is corrupt: {exc}") from exc
    if not data or data.isspace():  # no copy, unlike strip()
        raise DecodeError("record data is empty")
    return decode_document(data, key, default_time_ms, loads)
