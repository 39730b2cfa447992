"""SQS invocations: records, FIFO detection, and each body into items."""

from __future__ import annotations

from typing import Any

from .. import codec
from ..errors import DecodeError, InvocationError
from ..model import Item, SourceKind, SourceRecord
from .documents import decode_document, decode_value

NAME = "sqs"  # the metrics dimension


def source_records(event: Any) -> tuple[SourceKind, list[SourceRecord]]:
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        raise InvocationError("the event has no Records list: is this function subscribed to an SQS queue?")
    kind = SourceKind.SQS
    out: list[SourceRecord] = []
    for raw in records:
        if not isinstance(raw, dict):
            out.append(SourceRecord(None, {"record": raw}, {}))
            continue
        source = raw.get("eventSourceARN")
        if isinstance(source, str) and source.endswith(".fifo"):
            kind = SourceKind.SQS_FIFO
        message_id = raw.get("messageId")
        identifier = message_id if isinstance(message_id, str) and message_id else None
        out.append(SourceRecord(identifier, raw, {"eventSourceARN": source, "messageId": identifier}))
    return kind, out


def decode(record: SourceRecord) -> list[Item]:
    body = record.raw.get("body")
    if type(body) is not str:
        raise DecodeError("SQS record has no body string")
    if record.identifier is None:
        raise DecodeError("SQS record has no messageId")
    key = f"sqs:{record.identifier}"
    try:
        value = codec.loads(body)
    except codec.JSONDecodeError:
        return decode_document(body, key, _sent_time_ms(record.raw))  # NDJSON, or not JSON at all
    if type(value) is dict and "properties" in value and "event" in value:
        return [_SqsItem(value, f"{key}:0", record.raw)]  # the common case, without the general path's calls
    return decode_value(value, key, _sent_time_ms(record.raw))


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
