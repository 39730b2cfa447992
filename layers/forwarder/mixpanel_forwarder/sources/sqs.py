"""SQS invocations: records, FIFO detection, and each body into items."""

from __future__ import annotations

from typing import Any

from .. import codec
from ..errors import DecodeError, InvocationError
from ..model import Item, SourceKind, SourceRecord
from .documents import Loads, decode_document, decode_value

NAME = "sqs"  # the metrics dimension


def source_records(event: Any) -> tuple[SourceKind, list[SourceRecord]]:
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        raise InvocationError("the event has no Records list: is this function subscribed to an SQS queue?")
    out = [SqsRecord(raw) if type(raw) is dict else SourceRecord(None, {"record": raw}, {}) for raw in records]
    # One invocation comes from one queue: its first record says whether it is FIFO.
    first = next((record.raw for record in out if type(record) is SqsRecord), {})
    source = first.get("eventSourceARN")
    kind = SourceKind.SQS_FIFO if isinstance(source, str) and source.endswith(".fifo") else SourceKind.SQS
    return kind, out


class SqsRecord(SourceRecord):
    """An SQS record; its identifier and origin are read from it only when a report or a parked message needs them."""

    __slots__ = ()

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    @property
    def identifier(self) -> str | None:  # type: ignore[override]  # read-only: computed on demand
        message_id = self.raw.get("messageId")
        return message_id if isinstance(message_id, str) and message_id else None

    @property
    def origin(self) -> dict[str, Any]:  # type: ignore[override]  # read-only: computed on demand
        return {"eventSourceARN": self.raw.get("eventSourceARN"), "messageId": self.identifier}

    def exact_items(self) -> list[Item]:
        decoded = decode(self, codec.loads_exact)
        return [item_for(self, decoded)] if isinstance(decoded, dict) else decoded


def decode(record: SourceRecord, loads: Loads = codec.loads) -> list[Item] | dict[str, Any]:
    """Items of the record's body; or, for the common case of one Mixpanel event, the event itself."""
    raw = record.raw
    body = raw.get("body")
    if type(body) is not str:
        raise DecodeError("SQS record has no body string")
    message_id = raw.get("messageId")
    if type(message_id) is not str or not message_id:
        raise DecodeError("SQS record has no messageId")
    try:
        value = loads(body)
    except codec.JSONDecodeError:  # NDJSON, or not JSON at all
        return decode_document(body, f"sqs:{message_id}", _sent_time_ms(raw), loads)
    if type(value) is dict and "properties" in value and "event" in value:
        return value  # the forwarder's fast path; item_for() gives the general path what it needs
    return decode_value(value, f"sqs:{message_id}", _sent_time_ms(raw), 0, loads)


def item_for(record: SourceRecord, payload: dict[str, Any]) -> Item:
    """The item for an event decode() returned bare: keyed like the general path keys a lone event."""
    return _SqsItem(payload, f"sqs:{record.raw['messageId']}:0", record.raw)


class _SqsItem(Item):
    """An item whose envelope time is read only if the event has none (most have: that lookup is a cache miss)."""

    __slots__ = ("_raw",)

    def __init__(self, payload: Any, key: str, raw: dict[str, Any]) -> None:
        self.payload = payload
        self.key = key
        self.error = None
        self._raw = raw

    @property
    def default_time_ms(self) -> int | None:  # type: ignore[override]  # read-only: computed on demand
        return _sent_time_ms(self._raw)


def _sent_time_ms(raw: dict[str, Any]) -> int | None:
    attributes = raw.get("attributes")
    sent = attributes.get("SentTimestamp") if isinstance(attributes, dict) else None
    try:
        return int(sent) if sent is not None else None
    except (TypeError, ValueError):
        return None
