"""SQS invocations: records, FIFO detection, and each body into items."""

from __future__ import annotations

from functools import partial
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
        return decode(self, codec.loads_exact)


def decode(record: SourceRecord, loads: Loads = codec.loads) -> list[Item]:
    """The items of the record's body (most bodies are one Mixpanel event: that case is made cheap)."""
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
        return decode_document(body, f"sqs:{message_id}", partial(_sent_time_ms, raw), loads)
    if type(value) is dict and "properties" in value and "event" in value:
        return [_LoneEvent(value, raw)]
    if type(value) is dict and MOVED in value and type(record) is not _FirstSent:  # unwrapped once, never again
        # First: the body the envelope holds is decoded as if it had come as it first did, an S3 notification too.
        return decode(_FirstSent(value, raw), loads)
    if type(value) is dict and ("Records" in value or "Event" in value):
        # Perhaps S3's notification of a Kinesis batch Lambda gave up on: its module imported for such a body only.
        from .kinesis_failures import notification_items

        items = notification_items(value, loads)
        if items is not None:
            return items
    # The send time, read only if an event has none of its own.
    return decode_value(value, f"sqs:{message_id}", partial(_sent_time_ms, raw), 0, loads)


# A record the forwarder moved to the source queue's dead-letter queue (crash_loops.py) travels in this envelope:
#     {"mixpanelForwarderMoved": {"messageId", "sentTimestamp", "receiveCount", "reason"}, "body": "<its body>"}
# A redrive sends it again with a new message id and send time (SQS DG: "considered new messages with a new
# messageID and enqueueTime"); read through the envelope, its items keep the keys and times of the first delivery,
# so they get the same $insert_id and time. The body, not message attributes: a redrive is not said to keep those.
MOVED = "mixpanelForwarderMoved"


def moved_body(raw: dict[str, Any], receives: int, reason: str) -> str | None:
    """The record's body in the envelope, or None when it cannot be written. A record moved before keeps the
    coordinates of its first delivery."""
    body, message_id, sent = raw.get("body"), raw.get("messageId"), _sent_time_ms(raw)
    if type(body) is not str or type(message_id) is not str:
        return None
    try:
        value = codec.loads(body)
    except codec.JSONDecodeError:
        value = None
    if type(value) is dict and type(value.get(MOVED)) is dict and type(value.get("body")) is str:
        first = value[MOVED]
        body, message_id, sent = value["body"], first.get("messageId", message_id), first.get("sentTimestamp", sent)
    moved = {"messageId": message_id, "sentTimestamp": sent, "receiveCount": receives, "reason": reason}
    try:
        return codec.dumps({MOVED: moved, "body": body}).decode()
    except (TypeError, ValueError):
        return None


class _FirstSent(SourceRecord):
    """A moved record as first delivered, read from its envelope: its message id, send time and body."""

    __slots__ = ()

    def __init__(self, envelope: dict[str, Any], raw: dict[str, Any]) -> None:
        moved, body = envelope[MOVED], envelope.get("body")
        message_id = moved.get("messageId") if type(moved) is dict else None
        if type(message_id) is not str or not message_id or type(body) is not str:
            raise DecodeError(f"SQS record has a {MOVED} envelope without its messageId or body")
        attributes = raw.get("attributes")
        sent = {"SentTimestamp": moved.get("sentTimestamp")}
        attributes = {**attributes, **sent} if type(attributes) is dict else sent
        super().__init__(message_id, {**raw, "messageId": message_id, "body": body, "attributes": attributes}, {})


class _LoneEvent(Item):
    """The one event of a body, keyed like decode_value keys a lone event. Its key and envelope time are
    read only if needed: most events carry their own `$insert_id` and `time`, and the lookups cost."""

    __slots__ = ("_raw",)

    def __init__(self, payload: Any, raw: dict[str, Any]) -> None:
        self.payload = payload
        self.error = None
        self._raw = raw

    @property
    def key(self) -> str:  # type: ignore[override]  # read-only: computed on demand
        return f"sqs:{self._raw['messageId']}:0"

    @property
    def default_time_ms(self) -> int | None:  # computed on demand
        return _sent_time_ms(self._raw)


def _sent_time_ms(raw: dict[str, Any]) -> int | None:
    attributes = raw.get("attributes")
    sent = attributes.get("SentTimestamp") if isinstance(attributes, dict) else None
    try:
        return int(sent) if sent is not None else None
    except (TypeError, ValueError):
        return None
