"""Kinesis invocations: records, and each record's data (KPL aggregate, gzip, CloudWatch Logs, JSON) into items."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from .. import codec
from ..errors import DecodeError, InvocationError
from ..model import Item, SourceKind, SourceRecord
from . import kpl
from .documents import decode_document

_GZIP_MAGIC = b"\x1f\x8b"

NAME = "kinesis"  # the metrics dimension


def source_records(event: Any) -> tuple[SourceKind, list[SourceRecord]]:
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        raise InvocationError("the event has no Records list: is this function subscribed to a Kinesis stream?")
    out: list[SourceRecord] = []
    for raw in records:
        kinesis = raw.get("kinesis") if isinstance(raw, dict) else None
        if not isinstance(kinesis, dict):
            out.append(SourceRecord(None, raw if isinstance(raw, dict) else {"record": raw}, {}))
            continue
        sequence = kinesis.get("sequenceNumber")
        identifier = sequence if isinstance(sequence, str) and sequence else None
        event_id = raw.get("eventID")
        shard = event_id.split(":", 1)[0] if isinstance(event_id, str) and ":" in event_id else None
        origin = {
            "eventSourceARN": raw.get("eventSourceARN"),
            "shardId": shard,
            "sequenceNumber": identifier,
            "partitionKey": kinesis.get("partitionKey"),
        }
        out.append(SourceRecord(identifier, raw, origin))
    return SourceKind.KINESIS, out


def decode(record: SourceRecord) -> list[Item]:
    kinesis = record.raw.get("kinesis")
    if record.identifier is None or not isinstance(kinesis, dict):
        raise DecodeError("Kinesis record has no kinesis.sequenceNumber")
    try:
        data = base64.b64decode(kinesis.get("data") or "", validate=True)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise DecodeError(f"Kinesis data is not base64: {exc}") from exc
    key = f"kin:{record.origin['shardId'] or ''}:{record.identifier}"
    arrival = kinesis.get("approximateArrivalTimestamp")
    default_time_ms = (
        round(arrival * 1000) if isinstance(arrival, int | float) and not isinstance(arrival, bool) else None
    )
    if kpl.is_aggregated(data):
        try:
            sub_records = kpl.deaggregate(data)
        except ValueError as exc:
            raise DecodeError(f"KPL aggregate is malformed: {exc}") from exc
        items: list[Item] = []
        for sub_sequence, sub_data in enumerate(sub_records):
            sub_key = f"{key}:{sub_sequence}"
            try:
                items.extend(_decode_data(sub_data, sub_key, default_time_ms))
            except DecodeError as exc:
                items.append(Item(sub_data, f"{sub_key}:0", default_time_ms, f"KPL sub-record {sub_sequence}: {exc}"))
        return items
    return _decode_data(data, key, default_time_ms)


def item_for(record: SourceRecord, payload: dict[str, Any]) -> Item:
    raise NotImplementedError("Kinesis decode() always returns items")


def _decode_data(data: bytes, key: str, default_time_ms: int | None) -> list[Item]:
    if data.startswith(_GZIP_MAGIC):
        try:
            data = codec.gunzip(data)
        except (OSError, EOFError, ValueError) as exc:  # isal and zlib raise different subclasses
            raise DecodeError(f"gzip data is corrupt: {exc}") from exc
    if not data.strip():
        raise DecodeError("record data is empty")
    return decode_document(data, key, default_time_ms)
